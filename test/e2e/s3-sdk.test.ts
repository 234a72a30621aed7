// The S3 API driven by @aws-sdk/client-s3 v3 (current release, default checksum behaviour) as Mastodon,
// Pixelfed and Misskey drive their S3 buckets, against a real `fdn start`.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CopyObjectCommand, CreateMultipartUploadCommand, DeleteObjectCommand,
  DeleteObjectsCommand, GetBucketLocationCommand, GetObjectAclCommand, GetObjectCommand, HeadBucketCommand, HeadObjectCommand,
  ListBucketsCommand, ListMultipartUploadsCommand, ListObjectsCommand, ListObjectsV2Command, ListPartsCommand, PutObjectAclCommand,
  PutObjectCommand, S3Client, UploadPartCommand, UploadPartCopyCommand
} from '@aws-sdk/client-s3'
import type { ListObjectsV2CommandOutput } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { MiB, pngBytes, seededBytes } from '../helpers/bytes.ts'
import { createTenant, errorOf, nodeStatus, s3Client, xmlField } from '../helpers/s3.ts'
import { quiet } from '../helpers/swarm.ts'
import type { Tenant } from '../helpers/s3.ts'
import { importStream } from '../../node/ingest/import-stream.ts'

const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('hex')
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')
const MASTODON_CACHE = 'public, max-age=315576000, immutable'

async function bodyBytes (output: { Body?: unknown }): Promise<Buffer> {
  return Buffer.from(await (output.Body as { transformToByteArray: () => Promise<Uint8Array> }).transformToByteArray())
}

/** Runs `fn` over `items`, `limit` at a time. */
async function pool<T> (items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: limit }, async () => {
    while (next < items.length) await fn(items[next++]!)
  }))
}

describe('S3 API with @aws-sdk/client-s3: a Mastodon-shaped run', () => {
  let daemon: RunningDaemon
  let tenant: Tenant
  let s3: S3Client
  const Bucket = 'mastodon'
  const id = '109/876/543/210/987/654'
  const original = `media_attachments/files/${id}/original/0f1e2d3c4b5a6978.png`
  const small = `media_attachments/files/${id}/small/0f1e2d3c4b5a6978.png`
  const cached = 'cache/media_attachments/files/110/000/111/222/333/444/original/a1b2c3d4e5f60718.jpg'
  const originalBytes = pngBytes(300 * 1024)
  const smallBytes = pngBytes(20 * 1024).fill(7, 100)
  const cachedBytes = seededBytes(150 * 1024, 'remote-jpeg')

  before(async () => {
    daemon = await startDaemon({ env: { FDN_MAX_OBJECT_SIZE: '64MB' } })
    tenant = await createTenant(daemon, 'mastodon')
    s3 = s3Client(daemon, tenant)
  })
  after(async () => {
    s3?.destroy()
    await daemon?.stop()
  })

  it('knows its bucket: HeadBucket, GetBucketLocation, ListBuckets', async () => {
    const head = await s3.send(new HeadBucketCommand({ Bucket }))
    assert.equal(head.$metadata.httpStatusCode, 200)
    const location = await s3.send(new GetBucketLocationCommand({ Bucket }))
    assert.equal(location.LocationConstraint ?? '', '')
    const buckets = await s3.send(new ListBucketsCommand({}))
    assert.deepEqual(buckets.Buckets?.map((b) => b.Name), ['mastodon'])
  })

  it('stores originals, small variants and cached remote media as Mastodon uploads them', async () => {
    for (const [Key, Body, ContentType] of [[original, originalBytes, 'image/png'], [small, smallBytes, 'image/png'], [cached, cachedBytes, 'image/jpeg']] as const) {
      const put = await s3.send(new PutObjectCommand({ Bucket, Key, Body, ContentType, ACL: 'public-read', CacheControl: MASTODON_CACHE, ContentDisposition: 'inline' }))
      assert.equal(put.ETag, `"${md5(Body)}"`, Key)
      // the SDK sends a CRC32 by default (aws-chunked with a trailer, or a header): S3 echoes it
      assert.ok(put.ChecksumCRC32 != null, 'the CRC32 the SDK sent is echoed')
    }
  })

  it('answers HEAD with the stored headers', async () => {
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: original }))
    assert.equal(head.ContentLength, originalBytes.length)
    assert.equal(head.ContentType, 'image/png')
    assert.equal(head.CacheControl, MASTODON_CACHE)
    assert.equal(head.ContentDisposition, 'inline')
    assert.equal(head.ETag, `"${md5(originalBytes)}"`)
    assert.equal(head.AcceptRanges, 'bytes')
    assert.ok(head.LastModified instanceof Date && Math.abs(head.LastModified.getTime() - Date.now()) < 60_000)
    const missing = await errorOf(s3.send(new HeadObjectCommand({ Bucket, Key: `${original}.missing` })))
    assert.deepEqual(missing, { name: 'NotFound', status: 404 })
  })

  it('serves whole and ranged GETs byte-exact', async () => {
    const whole = await s3.send(new GetObjectCommand({ Bucket, Key: cached }))
    assert.ok((await bodyBytes(whole)).equals(cachedBytes))
    const ranged = await s3.send(new GetObjectCommand({ Bucket, Key: cached, Range: 'bytes=1000-70999' }))
    assert.equal(ranged.$metadata.httpStatusCode, 206)
    assert.equal(ranged.ContentRange, `bytes 1000-70999/${cachedBytes.length}`)
    assert.ok((await bodyBytes(ranged)).equals(cachedBytes.subarray(1000, 71000)))
    const beyond = await errorOf(s3.send(new GetObjectCommand({ Bucket, Key: cached, Range: `bytes=${cachedBytes.length}-` })))
    assert.deepEqual(beyond, { name: 'InvalidRange', status: 416 })
    const missing = await errorOf(s3.send(new GetObjectCommand({ Bucket, Key: 'media_attachments/none.png' })))
    assert.deepEqual(missing, { name: 'NoSuchKey', status: 404 })
  })

  it('evaluates conditional GETs', async () => {
    const etag = `"${md5(originalBytes)}"`
    // a 304 has no body: the SDK names it by its status alone, as with S3
    assert.equal((await errorOf(s3.send(new GetObjectCommand({ Bucket, Key: original, IfNoneMatch: etag })))).status, 304)
    assert.deepEqual(await errorOf(s3.send(new GetObjectCommand({ Bucket, Key: original, IfMatch: '"0000"' }))), { name: 'PreconditionFailed', status: 412 })
    const future = new Date(Date.now() + 3_600_000)
    assert.equal((await errorOf(s3.send(new GetObjectCommand({ Bucket, Key: original, IfModifiedSince: future })))).status, 304)
    const past = new Date(Date.now() - 3_600_000)
    assert.deepEqual(await errorOf(s3.send(new GetObjectCommand({ Bucket, Key: original, IfUnmodifiedSince: past }))), { name: 'PreconditionFailed', status: 412 })
    // If-Match true wins over If-Unmodified-Since false (RFC 9110, S3's documentation)
    const both = await s3.send(new GetObjectCommand({ Bucket, Key: original, IfMatch: etag, IfUnmodifiedSince: past }))
    assert.equal(both.$metadata.httpStatusCode, 200)
    await bodyBytes(both)
  })

  it('serves public-read objects on the alias path and by hash, refuses both once private, and serves them again', async () => {
    const url = `${daemon.http}/${Bucket}/${original}`
    const cid = (await importStream((async function * () { yield originalBytes })(), { put: async () => {} }, { maxSize: Infinity })).cid.toString()
    const byHash = `${daemon.http}/ipfs/${cid}`
    assert.equal((await fetch(byHash, { method: 'HEAD' })).status, 200)
    const first = await fetch(url)
    assert.equal(first.status, 200)
    assert.equal(first.headers.get('content-type'), 'image/png')
    assert.equal(first.headers.get('cache-control'), MASTODON_CACHE)
    assert.equal(first.headers.get('etag'), `"${md5(originalBytes)}"`)
    assert.equal(first.headers.get('x-content-type-options'), 'nosniff')
    assert.ok(Buffer.from(await first.arrayBuffer()).equals(originalBytes))
    const ranged = await fetch(url, { headers: { range: 'bytes=0-99' } })
    assert.equal(ranged.status, 206)
    assert.equal((await ranged.arrayBuffer()).byteLength, 100)
    const revalidated = await fetch(url, { headers: { 'if-none-match': `"${md5(originalBytes)}"` } })
    assert.equal(revalidated.status, 304)

    // a suspension: Mastodon makes the account's media private
    await s3.send(new PutObjectAclCommand({ Bucket, Key: original, ACL: 'private' }))
    const acl = await s3.send(new GetObjectAclCommand({ Bucket, Key: original }))
    assert.deepEqual(acl.Grants?.map((g) => g.Permission), ['FULL_CONTROL'])
    const refused = await fetch(url)
    assert.equal(refused.status, 403)
    assert.equal(xmlField(await refused.text(), 'Code'), 'AccessDenied')
    // no public reference remains: by hash the gateway answers as for a blob it does not hold (a hash confirms nothing)
    const refusedByHash = await fetch(byHash)
    assert.equal(refusedByHash.status, 404)
    assert.equal(((await refusedByHash.json()) as { error: { code: string } }).error.code, 'not_found')
    const missing = await fetch(`${daemon.http}/${Bucket}/${original}.nope`)
    assert.equal(missing.status, 403, 'a missing key looks like a private one')
    await missing.arrayBuffer()
    // the owner still reads it
    assert.ok((await bodyBytes(await s3.send(new GetObjectCommand({ Bucket, Key: original })))).equals(originalBytes))

    // unsuspension
    await s3.send(new PutObjectAclCommand({ Bucket, Key: original, ACL: 'public-read' }))
    const publicAgain = await s3.send(new GetObjectAclCommand({ Bucket, Key: original }))
    assert.ok(publicAgain.Grants?.some((g) => g.Grantee?.URI === 'http://acs.amazonaws.com/groups/global/AllUsers' && g.Permission === 'READ'))
    const again = await fetch(url)
    assert.equal(again.status, 200)
    assert.ok(Buffer.from(await again.arrayBuffer()).equals(originalBytes))
    const againByHash = await fetch(byHash)
    assert.equal(againByHash.status, 200)
    assert.ok(Buffer.from(await againByHash.arrayBuffer()).equals(originalBytes))
  })

  it('never lists publicly', async () => {
    for (const path of [`/${Bucket}`, `/${Bucket}?list-type=2`, '/', `/${Bucket}/${original}?acl`]) {
      const response = await fetch(`${daemon.http}${path}`)
      assert.equal(response.status, 403, path)
      assert.equal(xmlField(await response.text(), 'Code'), 'AccessDenied', path)
    }
  })

  it('copies without moving bytes: COPY and REPLACE metadata directives', async () => {
    const copied = await s3.send(new CopyObjectCommand({ Bucket, Key: 'copies/a.png', CopySource: `${Bucket}/${encodeURIComponent(original)}` }))
    assert.equal(copied.CopyObjectResult?.ETag, `"${md5(originalBytes)}"`)
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'copies/a.png' }))
    assert.equal(head.CacheControl, MASTODON_CACHE)
    const replaced = await s3.send(new CopyObjectCommand({
      Bucket, Key: 'copies/b.png', CopySource: `${Bucket}/${original}`, MetadataDirective: 'REPLACE', ContentType: 'image/x-test', Metadata: { origin: 'copy' }
    }))
    assert.ok(replaced.CopyObjectResult?.LastModified instanceof Date)
    const headB = await s3.send(new HeadObjectCommand({ Bucket, Key: 'copies/b.png' }))
    assert.equal(headB.ContentType, 'image/x-test')
    assert.deepEqual(headB.Metadata, { origin: 'copy' })
    const failed = await errorOf(s3.send(new CopyObjectCommand({ Bucket, Key: 'copies/c.png', CopySource: `${Bucket}/${original}`, CopySourceIfMatch: '"nope"' })))
    assert.deepEqual(failed, { name: 'PreconditionFailed', status: 412 })
    await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: 'copies/a.png' }, { Key: 'copies/b.png' }] } }))
  })

  it('walks a prefix as `tootctl media remove-orphans` does: delimiter and continuation tokens', async () => {
    const keys: string[] = []
    for (let a = 0; a < 3; a++) {
      for (let b = 0; b < 4; b++) keys.push(`media_attachments/files/200/00${a}/00${b}/original/f${a}${b}.png`, `media_attachments/files/200/00${a}/00${b}/small/f${a}${b}.png`)
    }
    await pool(keys, 8, async (Key) => { await s3.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.from(Key), ACL: 'public-read' })) })

    // every key under the prefix, 5 at a time
    const seen: string[] = []
    let token: string | undefined
    let pages = 0
    do {
      const page: ListObjectsV2CommandOutput = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'media_attachments/files/200/', MaxKeys: 5, ContinuationToken: token }))
      pages++
      assert.ok((page.KeyCount ?? 0) <= 5)
      seen.push(...(page.Contents ?? []).map((c) => c.Key!))
      for (const c of page.Contents ?? []) assert.equal(c.Size, c.Key!.length)
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
    assert.deepEqual(seen, [...keys].sort())
    assert.equal(pages, Math.ceil(keys.length / 5))

    // one level at a time with a delimiter
    const level = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'media_attachments/files/200/', Delimiter: '/' }))
    assert.deepEqual(level.CommonPrefixes?.map((p) => p.Prefix), ['media_attachments/files/200/000/', 'media_attachments/files/200/001/', 'media_attachments/files/200/002/'])
    assert.equal(level.Contents, undefined)
    const prefixes: string[] = []
    token = undefined
    do {
      const page: ListObjectsV2CommandOutput = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'media_attachments/files/200/001/', Delimiter: '/', MaxKeys: 3, ContinuationToken: token }))
      prefixes.push(...(page.CommonPrefixes ?? []).map((p) => p.Prefix!))
      token = page.IsTruncated === true ? page.NextContinuationToken : undefined
    } while (token !== undefined)
    assert.deepEqual(prefixes, [0, 1, 2, 3].map((b) => `media_attachments/files/200/001/00${b}/`))

    // ListObjects v1 with markers, as older clients do
    const v1 = await s3.send(new ListObjectsCommand({ Bucket, Prefix: 'media_attachments/files/200/', MaxKeys: 10 }))
    assert.equal(v1.IsTruncated, true)
    const rest = await s3.send(new ListObjectsCommand({ Bucket, Prefix: 'media_attachments/files/200/', Marker: v1.Contents!.at(-1)!.Key }))
    assert.deepEqual([...v1.Contents!, ...rest.Contents!].map((c) => c.Key), [...keys].sort())
    const startAfter = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'media_attachments/files/200/', StartAfter: [...keys].sort()[20] }))
    assert.equal(startAfter.KeyCount, keys.length - 21)
  })

  it('deletes 1000 keys in one DeleteObjects, quietly', async () => {
    const keys = Array.from({ length: 1000 }, (_, i) => `cache/media_attachments/files/300/${String(i).padStart(4, '0')}/original/x.png`)
    await pool(keys, 32, async (Key) => { await s3.send(new PutObjectCommand({ Bucket, Key, Body: Buffer.from(`bulk ${Key}`) })) })
    const before = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'cache/media_attachments/files/300/' }))
    assert.equal(before.KeyCount, 1000)
    const result = await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Quiet: true, Objects: keys.map((Key) => ({ Key })) } }))
    assert.equal(result.Deleted, undefined, 'quiet mode lists no successes')
    assert.equal(result.Errors, undefined)
    const after = await s3.send(new ListObjectsV2Command({ Bucket, Prefix: 'cache/media_attachments/files/300/' }))
    assert.equal(after.KeyCount, 0)
    // not quiet: every key reported, deleted or not
    const loud = await s3.send(new DeleteObjectsCommand({ Bucket, Delete: { Objects: [{ Key: keys[0]! }, { Key: cached }] } }))
    assert.deepEqual(loud.Deleted?.map((d) => d.Key), [keys[0], cached])
    assert.deepEqual(await errorOf(s3.send(new HeadObjectCommand({ Bucket, Key: cached }))), { name: 'NotFound', status: 404 })
    // DeleteObject is idempotent
    await s3.send(new DeleteObjectCommand({ Bucket, Key: cached }))
  })

  it('takes a 40 MB video through multipart (lib-storage Upload) and serves it back', async () => {
    const video = seededBytes(40 * MiB, 'video')
    const Key = `media_attachments/files/${id}/original/video.mp4`
    const upload = new Upload({ client: s3, params: { Bucket, Key, Body: video, ContentType: 'video/mp4', ACL: 'public-read' }, partSize: 8 * MiB, queueSize: 4 })
    const done = await upload.done()
    assert.match(done.ETag ?? '', /^"[0-9a-f]{32}-5"$/)
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key }))
    assert.equal(head.ContentLength, video.length)
    assert.equal(head.ContentType, 'video/mp4')
    const got = await bodyBytes(await s3.send(new GetObjectCommand({ Bucket, Key })))
    assert.equal(sha256(got), sha256(video))
    const tail = await fetch(`${daemon.http}/${Bucket}/${Key}`, { headers: { range: `bytes=${video.length - 1000}-` } })
    assert.equal(tail.status, 206)
    assert.ok(Buffer.from(await tail.arrayBuffer()).equals(video.subarray(video.length - 1000)))
  })

  it('runs explicit multipart uploads: parts, UploadPartCopy, ListParts, ListMultipartUploads, Abort, bad Complete', async () => {
    const Key = 'multipart/explicit.bin'
    const partA = seededBytes(5 * MiB, 'part-a')
    const partB = seededBytes(1234, 'part-b')
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key, ContentType: 'application/x-test' }))
    assert.ok(UploadId)
    const a = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: 1, Body: partA }))
    assert.equal(a.ETag, `"${md5(partA)}"`)
    await s3.send(new PutObjectCommand({ Bucket, Key: 'multipart/source.bin', Body: Buffer.concat([Buffer.alloc(10), partB]) }))
    const b = await s3.send(new UploadPartCopyCommand({ Bucket, Key, UploadId, PartNumber: 2, CopySource: `${Bucket}/multipart/source.bin`, CopySourceRange: `bytes=10-${10 + partB.length - 1}` }))
    assert.equal(b.CopyPartResult?.ETag, `"${md5(partB)}"`)
    const parts = await s3.send(new ListPartsCommand({ Bucket, Key, UploadId }))
    assert.deepEqual(parts.Parts?.map((p) => [p.PartNumber, p.Size]), [[1, partA.length], [2, partB.length]])
    const uploads = await s3.send(new ListMultipartUploadsCommand({ Bucket, Prefix: 'multipart/' }))
    assert.deepEqual(uploads.Uploads?.map((u) => [u.Key, u.UploadId]), [[Key, UploadId]])

    // Complete: parts out of order, a missing part, a wrong ETag
    const complete = async (Parts: Array<{ PartNumber: number, ETag: string }>): Promise<unknown> =>
      await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts } }))
    assert.equal((await errorOf(complete([{ PartNumber: 2, ETag: b.CopyPartResult!.ETag! }, { PartNumber: 1, ETag: a.ETag! }]))).name, 'InvalidPartOrder')
    assert.equal((await errorOf(complete([{ PartNumber: 1, ETag: a.ETag! }, { PartNumber: 3, ETag: a.ETag! }]))).name, 'InvalidPart')
    assert.equal((await errorOf(complete([{ PartNumber: 1, ETag: '"00000000000000000000000000000000"' }]))).name, 'InvalidPart')
    assert.deepEqual(await errorOf(s3.send(new GetObjectCommand({ Bucket, Key }))), { name: 'NoSuchKey', status: 404 }, 'nothing visible before Complete')

    const done = await s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: [{ PartNumber: 1, ETag: a.ETag! }, { PartNumber: 2, ETag: b.CopyPartResult!.ETag! }] } }))
    const expected = createHash('md5').update(Buffer.concat([Buffer.from(md5(partA), 'hex'), Buffer.from(md5(partB), 'hex')])).digest('hex')
    assert.equal(done.ETag, `"${expected}-2"`)
    const got = await bodyBytes(await s3.send(new GetObjectCommand({ Bucket, Key })))
    assert.ok(got.equals(Buffer.concat([partA, partB])))

    const aborted = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key: 'multipart/aborted.bin' }))
    await s3.send(new UploadPartCommand({ Bucket, Key: 'multipart/aborted.bin', UploadId: aborted.UploadId, PartNumber: 1, Body: partB }))
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key: 'multipart/aborted.bin', UploadId: aborted.UploadId }))
    assert.equal((await errorOf(s3.send(new ListPartsCommand({ Bucket, Key: 'multipart/aborted.bin', UploadId: aborted.UploadId! })))).name, 'NoSuchUpload')
    const none = await s3.send(new ListMultipartUploadsCommand({ Bucket }))
    assert.equal(none.Uploads, undefined)
  })

  it('presigned GET and PUT work until they expire', async () => {
    const Key = 'presigned/photo.png'
    const bytes = pngBytes(5000)
    const putUrl = await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key, ContentType: 'image/png' }), { expiresIn: 60 })
    const put = await fetch(putUrl, { method: 'PUT', body: bytes, headers: { 'content-type': 'image/png' } })
    assert.equal(put.status, 200, await put.text())
    const getUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key, ResponseContentDisposition: 'attachment; filename="x.png"' }), { expiresIn: 60 })
    const get = await fetch(getUrl)
    assert.equal(get.status, 200)
    assert.equal(get.headers.get('content-disposition'), 'attachment; filename="x.png"')
    assert.ok(Buffer.from(await get.arrayBuffer()).equals(bytes))

    const injected = await fetch(await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key, ResponseContentType: 'text/plain\r\nset-cookie: a=b' }), { expiresIn: 60 }))
    assert.equal(injected.status, 400, 'an override that is no header value')
    assert.equal(injected.headers.get('set-cookie'), null)
    await injected.arrayBuffer()

    const expiredUrl = await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key }), { expiresIn: 1, signingDate: new Date(Date.now() - 120_000) })
    const expired = await fetch(expiredUrl)
    assert.equal(expired.status, 403)
    const xml = await expired.text()
    assert.equal(xmlField(xml, 'Code'), 'AccessDenied')
    assert.equal(xmlField(xml, 'Message'), 'Request has expired')
    const expiredPut = await fetch(await getSignedUrl(s3, new PutObjectCommand({ Bucket, Key: 'presigned/late.png' }), { expiresIn: 1, signingDate: new Date(Date.now() - 120_000) }),
      { method: 'PUT', body: bytes })
    assert.equal(expiredPut.status, 403)
    assert.equal(xmlField(await expiredPut.text(), 'Code'), 'AccessDenied')
    assert.deepEqual(await errorOf(s3.send(new HeadObjectCommand({ Bucket, Key: 'presigned/late.png' }))), { name: 'NotFound', status: 404 })
  })

  it('serves a presigned GET of HTML as a download, never inline', async () => {
    const Key = 'presigned/page.html'
    await s3.send(new PutObjectCommand({ Bucket, Key, Body: '<script>alert(1)</script>', ContentType: 'text/html' }))
    const get = await fetch(await getSignedUrl(s3, new GetObjectCommand({ Bucket, Key }), { expiresIn: 60 }))
    assert.equal(get.headers.get('content-type'), 'application/octet-stream')
    assert.match(get.headers.get('content-disposition') ?? '', /^attachment/)
    assert.equal(get.headers.get('content-security-policy'), "default-src 'none'; form-action 'none'; sandbox")
    await get.arrayBuffer()
    // an SDK reading it gets what was stored
    const sdk = await s3.send(new GetObjectCommand({ Bucket, Key }))
    assert.equal(sdk.ContentType, 'text/html')
    await bodyBytes(sdk)
  })
})

describe('S3 API: identical media from two tenants is stored once', () => {
  let daemon: RunningDaemon
  let one: S3Client
  let two: S3Client

  before(async () => {
    daemon = await startDaemon()
    one = s3Client(daemon, await createTenant(daemon, 'instance-one'))
    two = s3Client(daemon, await createTenant(daemon, 'instance-two'))
  })
  after(async () => {
    one?.destroy()
    two?.destroy()
    await daemon?.stop()
  })

  it('keeps one copy, frees it only when both delete it, and keeps tenants apart', async () => {
    const bytes = seededBytes(3 * MiB + 17, 'shared-meme')
    // each tenant's manifest (a blob of its own) is published a second after its last change: compare settled states
    await quiet(daemon)
    const base = await nodeStatus(daemon)
    await one.send(new PutObjectCommand({ Bucket: 'instance-one', Key: 'media/a.jpg', Body: bytes, ACL: 'public-read' }))
    const afterOne = await nodeStatus(daemon)
    assert.ok(afterOne.physicalBytes - base.physicalBytes >= bytes.length, 'the first upload is stored')
    await two.send(new PutObjectCommand({ Bucket: 'instance-two', Key: 'cache/other-name.jpg', Body: bytes }))
    const afterTwo = await nodeStatus(daemon)
    assert.equal(afterTwo.physicalBytes, afterOne.physicalBytes, 'the second upload of the same bytes takes no space')
    assert.equal(afterTwo.logicalBytes - base.logicalBytes, 2 * bytes.length)

    // a tenant cannot touch the other's bucket, nor tell it from a missing one
    assert.deepEqual(await errorOf(two.send(new GetObjectCommand({ Bucket: 'instance-one', Key: 'media/a.jpg' }))), { name: 'AccessDenied', status: 403 })
    assert.deepEqual(await errorOf(two.send(new PutObjectCommand({ Bucket: 'instance-one', Key: 'x', Body: 'x' }))), { name: 'AccessDenied', status: 403 })
    assert.deepEqual(await errorOf(two.send(new ListObjectsV2Command({ Bucket: 'no-such-tenant' }))), { name: 'AccessDenied', status: 403 })

    await one.send(new DeleteObjectCommand({ Bucket: 'instance-one', Key: 'media/a.jpg' }))
    const kept = await two.send(new GetObjectCommand({ Bucket: 'instance-two', Key: 'cache/other-name.jpg' }))
    assert.equal(sha256(await bodyBytes(kept)), sha256(bytes), 'the other tenant still has it')
    assert.equal((await nodeStatus(daemon)).physicalBytes, afterOne.physicalBytes)

    await two.send(new DeleteObjectCommand({ Bucket: 'instance-two', Key: 'cache/other-name.jpg' }))
    await quiet(daemon)
    const end = await nodeStatus(daemon)
    assert.equal(end.physicalBytes, base.physicalBytes, 'deleting both frees it')
    assert.equal(end.logicalBytes, base.logicalBytes)
  })
})
