import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { addBytes, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { MiB, pngBytes, seededBytes } from '../helpers/bytes.ts'

const IMMUTABLE = 'public, max-age=29030400, immutable'

function assertSafetyHeaders (response: Response): void {
  assert.equal(response.headers.get('x-content-type-options'), 'nosniff')
  assert.equal(response.headers.get('content-security-policy'), "default-src 'none'; form-action 'none'; sandbox")
  assert.equal(response.headers.get('access-control-allow-origin'), '*')
  assert.equal(response.headers.get('set-cookie'), null)
}

describe('path gateway: GET|HEAD /ipfs/{cid}', () => {
  let daemon: RunningDaemon
  const png = pngBytes(100 * 1024)
  const big = seededBytes(2 * MiB + 777, 'gateway-big')
  const html = Buffer.from('<!doctype html><html><body><script>alert(1)</script></body></html>')
  const svg = Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>')
  const cids: Record<string, string> = {}

  before(async () => {
    daemon = await startDaemon()
    for (const [name, bytes] of Object.entries({ png, big, html, svg })) cids[name] = (await addBytes(daemon, bytes)).cid
  })
  after(async () => { await daemon.stop() })

  it('serves an image inline with its detected type and the immutable caching headers', async () => {
    const response = await fetch(`${daemon.http}/ipfs/${cids.png}`)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-type'), 'image/png')
    assert.equal(response.headers.get('content-disposition'), null)
    assert.equal(response.headers.get('cache-control'), IMMUTABLE)
    assert.equal(response.headers.get('etag'), `"${cids.png}"`)
    assert.equal(response.headers.get('x-ipfs-path'), `/ipfs/${cids.png}`)
    assert.equal(response.headers.get('x-ipfs-roots'), cids.png)
    assert.equal(response.headers.get('content-length'), String(png.length))
    assertSafetyHeaders(response)
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(png))
  })

  it('serves a multi-block file byte-identical', async () => {
    const response = await fetch(`${daemon.http}/ipfs/${cids.big}`)
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(big))
  })

  it('never serves HTML or SVG inline', async () => {
    for (const name of ['html', 'svg']) {
      const response = await fetch(`${daemon.http}/ipfs/${cids[name]}`)
      assert.equal(response.headers.get('content-type'), 'application/octet-stream', name)
      assert.match(response.headers.get('content-disposition') ?? '', /^attachment/, name)
      assertSafetyHeaders(response)
      await response.arrayBuffer()
    }
  })

  it('HEAD gives the headers of GET and no body', async () => {
    const response = await fetch(`${daemon.http}/ipfs/${cids.big}`, { method: 'HEAD' })
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('content-length'), String(big.length))
    assert.equal(response.headers.get('etag'), `"${cids.big}"`)
    assert.equal((await response.arrayBuffer()).byteLength, 0)
  })

  it('answers a single Range with 206 across block boundaries', async () => {
    const start = MiB - 10
    const end = 2 * MiB + 5
    const response = await fetch(`${daemon.http}/ipfs/${cids.big}`, { headers: { range: `bytes=${start}-${end}` } })
    assert.equal(response.status, 206)
    assert.equal(response.headers.get('content-range'), `bytes ${start}-${end}/${big.length}`)
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(big.subarray(start, end + 1)))
    const suffix = await fetch(`${daemon.http}/ipfs/${cids.big}`, { headers: { range: 'bytes=-100' } })
    assert.equal(suffix.status, 206)
    assert.ok(Buffer.from(await suffix.arrayBuffer()).equals(big.subarray(big.length - 100)))
  })

  it('answers a Range past the end with 416 and Content-Range: bytes */size', async () => {
    const response = await fetch(`${daemon.http}/ipfs/${cids.png}`, { headers: { range: `bytes=${png.length + 10}-` } })
    assert.equal(response.status, 416)
    assert.equal(response.headers.get('content-range'), `bytes */${png.length}`)
    assert.notEqual(response.headers.get('cache-control'), IMMUTABLE)
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'invalid_range')
  })

  it('answers If-None-Match with 304 per format', async () => {
    const file = await fetch(`${daemon.http}/ipfs/${cids.png}`, { headers: { 'if-none-match': `"${cids.png}"` } })
    assert.equal(file.status, 304)
    assert.equal(file.headers.get('etag'), `"${cids.png}"`)
    const weak = await fetch(`${daemon.http}/ipfs/${cids.png}`, { headers: { 'if-none-match': `"other", W/"${cids.png}"` } })
    assert.equal(weak.status, 304)
    const rawEtagOnFile = await fetch(`${daemon.http}/ipfs/${cids.png}`, { headers: { 'if-none-match': `"${cids.png}.raw"` } })
    assert.equal(rawEtagOnFile.status, 200)
    await rawEtagOnFile.arrayBuffer()
    const raw = await fetch(`${daemon.http}/ipfs/${cids.png}?format=raw`, { headers: { 'if-none-match': `"${cids.png}.raw"` } })
    assert.equal(raw.status, 304)
  })

  it('?filename= names the download; ?download=true forces an attachment', async () => {
    const named = await fetch(`${daemon.http}/ipfs/${cids.png}?filename=cat%20photo.png`)
    assert.equal(named.headers.get('content-disposition'), 'inline; filename="cat photo.png"; filename*=UTF-8\'\'cat%20photo.png')
    await named.arrayBuffer()
    const download = await fetch(`${daemon.http}/ipfs/${cids.png}?download=true`)
    assert.match(download.headers.get('content-disposition') ?? '', /^attachment/)
    await download.arrayBuffer()
  })

  it('serves the inline empty CID bafkqaaa with 200', async () => {
    const response = await fetch(`${daemon.http}/ipfs/bafkqaaa`)
    assert.equal(response.status, 200)
    assert.equal((await response.arrayBuffer()).byteLength, 0)
  })

  it('rejects an unknown ?format= with 400', async () => {
    const response = await fetch(`${daemon.http}/ipfs/${cids.png}?format=tar`)
    assert.equal(response.status, 400)
    assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'invalid_request')
  })

  it('a path below a file is a 404; a CID not held is a 404 with a JSON error', async () => {
    const below = await fetch(`${daemon.http}/ipfs/${cids.png}/thumb.png`)
    assert.equal(below.status, 404)
    await below.arrayBuffer()
    const missing = await fetch(`${daemon.http}/ipfs/bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy`)
    assert.equal(missing.status, 404)
    assert.equal(missing.headers.get('cache-control'), 'no-store')
    assertSafetyHeaders(missing)
    assert.equal(((await missing.json()) as { error: { code: string } }).error.code, 'not_found')
  })

  it('accepts a CIDv0 and other multibases for the same content', async () => {
    const { CID } = await import('multiformats/cid')
    const { base58btc } = await import('multiformats/bases/base58')
    const other = CID.parse(cids.png as string).toString(base58btc)
    const response = await fetch(`${daemon.http}/ipfs/${other}`)
    assert.equal(response.status, 200)
    assert.ok(Buffer.from(await response.arrayBuffer()).equals(png))
  })
})
