// What a browser may render from the public listener: every path that serves bytes (the alias read,
// a presigned GetObject, /ipfs/{cid}) sends only allow-listed media inline, and anything else, however
// its Content-Type is dressed up, as an application/octet-stream attachment.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { addBytes, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { pngBytes } from '../helpers/bytes.ts'
import { createTenant, s3Client } from '../helpers/s3.ts'

const Bucket = 'pixelfed'
const CSP = "default-src 'none'; form-action 'none'; sandbox"
const html = Buffer.from('<!doctype html><script>alert(document.domain)</script>')
const png = pngBytes(2000)

/** Stored Content-Type → what a browser must get: a type served inline, or undefined for a download. */
const STORED: Array<[string, string | undefined]> = [
  ['image/x-foo;,text/html', undefined],
  ['image/png;,text/html', undefined],
  ['image/svg+xml', undefined],
  ['text/html', undefined],
  ['text/html; charset=utf-8', undefined],
  ['application/xhtml+xml', undefined],
  ['image/x-foo', undefined],
  ['image/png; x="<script>"', undefined],
  ['image/png;<html>', undefined],
  ['image/png', 'image/png'],
  ['IMAGE/PNG; charset=binary', 'image/png']
]

const PNG_INDEX = STORED.findIndex(([type]) => type === 'image/png')

async function assertServedAs (response: Response, inline: string | undefined, what: string): Promise<void> {
  assert.equal(response.status, 200, what)
  if (inline === undefined) {
    assert.equal(response.headers.get('content-type'), 'application/octet-stream', what)
    assert.match(response.headers.get('content-disposition') ?? '', /^attachment(;|$)/, what)
  } else {
    assert.equal(response.headers.get('content-type'), inline, what)
    assert.doesNotMatch(response.headers.get('content-disposition') ?? '', /^attachment/, what)
  }
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff', what)
  assert.equal(response.headers.get('content-security-policy'), CSP, what)
  await response.arrayBuffer()
}

describe('serving safety: what goes out inline', () => {
  let daemon: RunningDaemon
  let s3: S3Client

  before(async () => {
    daemon = await startDaemon()
    s3 = s3Client(daemon, await createTenant(daemon, Bucket))
    for (const [index, [ContentType]] of STORED.entries()) {
      await s3.send(new PutObjectCommand({ Bucket, Key: `stored/${index}`, Body: ContentType.includes('png') ? png : html, ContentType, ACL: 'public-read' }))
    }
  })
  after(async () => {
    s3?.destroy()
    await daemon?.stop()
  })

  it('alias reads (/{bucket}/{key}) serve only allow-listed media inline, whatever Content-Type was stored', async () => {
    for (const [index, [stored, inline]] of STORED.entries()) {
      await assertServedAs(await fetch(`${daemon.http}/${Bucket}/stored/${index}`), inline, `alias GET of ${JSON.stringify(stored)}`)
    }
  })

  it('presigned GETs do the same, for stored types and response-content-type overrides', async () => {
    for (const [index, [stored, inline]] of STORED.entries()) {
      const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: `stored/${index}` }), { expiresIn: 60 })
      await assertServedAs(await fetch(url), inline, `presigned GET of ${JSON.stringify(stored)}`)
    }
    // a list whose first member is no media type is refused at upload, but can be asked for in an override
    for (const [override, inline] of [...STORED, ['image/png, text/html', undefined], ['image/png,image/svg+xml', undefined]] as const) {
      const url = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: `stored/${PNG_INDEX}`, ResponseContentType: override }), { expiresIn: 60 })
      await assertServedAs(await fetch(url), inline, `presigned GET overriding the type with ${JSON.stringify(override)}`)
    }
    const disposition = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key: `stored/${STORED.findIndex(([type]) => type === 'text/html')}`, ResponseContentDisposition: 'inline, attachment' }), { expiresIn: 60 })
    const answer = await fetch(disposition)
    assert.equal(answer.headers.get('content-disposition'), 'attachment', 'a listed disposition is replaced for a download')
    await answer.arrayBuffer()
  })

  it('a header-signed GetObject (an SDK, never a browser) still gets the type as stored', async () => {
    const answer = await s3.send(new GetObjectCommand({ Bucket, Key: 'stored/0' }))
    assert.equal(answer.ContentType, 'image/x-foo;,text/html')
    await answer.Body?.transformToByteArray()
  })

  it('/ipfs/{cid} serves a detected image type no browser renders (a Photoshop file) as a download', async () => {
    const psd = Buffer.alloc(4096)
    psd.write('8BPS')
    psd[5] = 1
    const { cid, mediaType } = await addBytes(daemon, psd)
    assert.equal(mediaType, 'image/vnd.adobe.photoshop')
    await assertServedAs(await fetch(`${daemon.http}/ipfs/${cid}`), undefined, 'a PSD by hash')
    await assertServedAs(await fetch(`${daemon.http}/ipfs/${(await addBytes(daemon, png)).cid}`), 'image/png', 'a PNG by hash')
  })
})
