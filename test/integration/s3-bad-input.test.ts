// Bad input to the S3 API, from real clients and hand-built requests over real sockets: the S3 error
// a real S3 gives, nothing partial visible, nothing acknowledged lost, nothing kept.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { connect } from 'node:net'
import { crc32 } from 'node:zlib'
import {
  AbortMultipartUploadCommand, CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command,
  PutObjectCommand, S3Client, UploadPartCommand
} from '@aws-sdk/client-s3'
import { blockFiles, startDaemon, waitFor, writeAll } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { MiB, seededBytes } from '../helpers/bytes.ts'
import { awsChunked, createTenant, errorOf, httpSend, nodeStatus, s3Client, signRequest, xmlField } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'

const MAX = 2 * MiB

function crc32Base64 (bytes: Uint8Array): string {
  const out = Buffer.alloc(4)
  out.writeUInt32BE(crc32(bytes))
  return out.toString('base64')
}

describe('S3 API: bad input', () => {
  let daemon: RunningDaemon
  let tenant: Tenant
  let s3: S3Client
  const Bucket = 'misskey'

  before(async () => {
    daemon = await startDaemon({ env: { FDN_MAX_OBJECT_SIZE: String(MAX) } })
    tenant = await createTenant(daemon, Bucket)
    s3 = s3Client(daemon, tenant)
  })
  after(async () => {
    s3?.destroy()
    await daemon?.stop()
  })

  const assertAbsent = async (Key: string): Promise<void> => {
    assert.deepEqual(await errorOf(s3.send(new HeadObjectCommand({ Bucket, Key }))), { name: 'NotFound', status: 404 }, `${Key} must not exist`)
  }

  it('refuses a wrong secret (SignatureDoesNotMatch) and an unknown key id (InvalidAccessKeyId)', async () => {
    const wrong = s3Client(daemon, { accessKeyId: tenant.accessKeyId, secretAccessKey: `${tenant.secretAccessKey}x` })
    assert.deepEqual(await errorOf(wrong.send(new PutObjectCommand({ Bucket, Key: 'wrong-secret', Body: 'x' }))), { name: 'SignatureDoesNotMatch', status: 403 })
    assert.deepEqual(await errorOf(wrong.send(new GetObjectCommand({ Bucket, Key: 'wrong-secret' }))), { name: 'SignatureDoesNotMatch', status: 403 })
    const unknown = s3Client(daemon, { accessKeyId: 'FDNNOSUCHKEY000000000', secretAccessKey: tenant.secretAccessKey })
    assert.deepEqual(await errorOf(unknown.send(new ListObjectsV2Command({ Bucket }))), { name: 'InvalidAccessKeyId', status: 403 })
    wrong.destroy()
    unknown.destroy()
    await assertAbsent('wrong-secret')
  })

  it('refuses a request signed more than 15 minutes away (RequestTimeTooSkewed)', async () => {
    const request = await signRequest(daemon, tenant, { method: 'GET', path: `/${Bucket}`, query: { 'list-type': '2' }, date: new Date(Date.now() - 20 * 60_000) })
    const answer = await httpSend(request.url, { method: 'GET', headers: request.headers })
    assert.equal(answer.status, 403)
    assert.equal(xmlField(answer.body.toString(), 'Code'), 'RequestTimeTooSkewed')
  })

  it('verifies every chunk signature of an aws-chunked upload: a tampered chunk is SignatureDoesNotMatch, nothing kept', async () => {
    const data = seededBytes(300 * 1024, 'chunked')
    const put = async (Key: string, tamper?: number): Promise<{ status: number, code: string | undefined }> => {
      const request = await signRequest(daemon, tenant, {
        method: 'PUT',
        path: `/${Bucket}/${Key}`,
        contentSha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
        headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), 'content-type': 'image/png' }
      })
      const body = awsChunked(request, data, { chunkSize: 64 * 1024, ...(tamper === undefined ? {} : { tamper }) })
      const answer = await httpSend(request.url, { method: 'PUT', headers: { ...request.headers, 'content-length': String(body.length) }, body })
      return { status: answer.status, code: xmlField(answer.body.toString(), 'Code') }
    }
    assert.deepEqual(await put('chunked-ok'), { status: 200, code: undefined })
    const head = await s3.send(new HeadObjectCommand({ Bucket, Key: 'chunked-ok' }))
    assert.equal(head.ContentLength, data.length)
    assert.equal(head.ContentEncoding, undefined, 'aws-chunked is not stored as a content coding')

    const physical = (await nodeStatus(daemon)).physicalBytes
    assert.deepEqual(await put('chunked-tampered', 2), { status: 403, code: 'SignatureDoesNotMatch' })
    await assertAbsent('chunked-tampered')
    assert.equal((await nodeStatus(daemon)).physicalBytes, physical)
  })

  it('verifies trailing checksums (STREAMING-UNSIGNED-PAYLOAD-TRAILER): a wrong CRC32 is BadDigest, nothing kept', async () => {
    const data = seededBytes(200 * 1024, 'trailer')
    const put = async (Key: string, checksum: string): Promise<{ status: number, code: string | undefined, echoed: string | undefined }> => {
      const request = await signRequest(daemon, tenant, {
        method: 'PUT',
        path: `/${Bucket}/${Key}`,
        contentSha256: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
        headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length), 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-sdk-checksum-algorithm': 'CRC32' }
      })
      const body = awsChunked(request, data, { signed: false, trailers: { 'x-amz-checksum-crc32': checksum } })
      const answer = await httpSend(request.url, { method: 'PUT', headers: { ...request.headers, 'content-length': String(body.length) }, body })
      return { status: answer.status, code: xmlField(answer.body.toString(), 'Code'), echoed: answer.headers['x-amz-checksum-crc32'] }
    }
    const right = crc32Base64(data)
    assert.deepEqual(await put('trailer-ok', right), { status: 200, code: undefined, echoed: right })
    const physical = (await nodeStatus(daemon)).physicalBytes
    const wrong = crc32Base64(Buffer.from('something else'))
    assert.deepEqual(await put('trailer-wrong', wrong), { status: 400, code: 'BadDigest', echoed: undefined })
    await assertAbsent('trailer-wrong')
    assert.equal((await nodeStatus(daemon)).physicalBytes, physical)
  })

  it('verifies Content-MD5 (BadDigest) and the signed payload hash (XAmzContentSHA256Mismatch)', async () => {
    const body = Buffer.from('the body that was sent')
    const wrongMd5 = createHash('md5').update('another body').digest('base64')
    assert.deepEqual(await errorOf(s3.send(new PutObjectCommand({ Bucket, Key: 'md5-wrong', Body: body, ContentMD5: wrongMd5 }))), { name: 'BadDigest', status: 400 })
    await assertAbsent('md5-wrong')
    const rightMd5 = createHash('md5').update(body).digest('base64')
    await s3.send(new PutObjectCommand({ Bucket, Key: 'md5-right', Body: body, ContentMD5: rightMd5 }))

    const request = await signRequest(daemon, tenant, { method: 'PUT', path: `/${Bucket}/sha-wrong`, body: Buffer.from('signed body') })
    const answer = await httpSend(request.url, { method: 'PUT', headers: request.headers, body: Buffer.from('other body!') })
    assert.equal(answer.status, 400)
    assert.equal(xmlField(answer.body.toString(), 'Code'), 'XAmzContentSHA256Mismatch')
    await assertAbsent('sha-wrong')
  })

  it('refuses keys with NUL and keys over 1024 bytes', async () => {
    assert.deepEqual(await errorOf(s3.send(new PutObjectCommand({ Bucket, Key: 'nul\u0000key', Body: 'x' }))), { name: 'InvalidArgument', status: 400 })
    const long = 'k/'.repeat(512) + 'x'
    assert.deepEqual(await errorOf(s3.send(new PutObjectCommand({ Bucket, Key: long, Body: 'x' }))), { name: 'KeyTooLongError', status: 400 })
    // exactly 1024 bytes (multi-byte characters count as their UTF-8 bytes) is fine
    const exact = 'é'.repeat(511) + 'xy'
    assert.equal(Buffer.byteLength(exact), 1024)
    await s3.send(new PutObjectCommand({ Bucket, Key: exact, Body: 'x' }))
    assert.equal((await s3.send(new HeadObjectCommand({ Bucket, Key: exact }))).ContentLength, 1)
  })

  it('refuses bodies over FDN_MAX_OBJECT_SIZE (EntityTooLarge), announced or not, keeping nothing', async () => {
    const physical = (await nodeStatus(daemon)).physicalBytes
    const big = seededBytes(MAX + 1, 'too-big')
    assert.deepEqual(await errorOf(s3.send(new PutObjectCommand({ Bucket, Key: 'too-big', Body: big }))), { name: 'EntityTooLarge', status: 400 })
    await assertAbsent('too-big')

    // no Content-Length (chunked transfer coding): found while streaming
    const request = await signRequest(daemon, tenant, { method: 'PUT', path: `/${Bucket}/too-big-streamed`, contentSha256: 'UNSIGNED-PAYLOAD', headers: { 'transfer-encoding': 'chunked' } })
    const answer = await new Promise<{ status: number, body: string }>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: Number(new URL(daemon.http).port) })
      let received = ''
      socket.on('data', (chunk) => { received += chunk.toString('latin1') })
      socket.on('close', () => {
        const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? NaN)
        resolve({ status, body: received })
      })
      socket.on('error', (err) => { if (received === '') reject(err) })
      socket.on('connect', async () => {
        const head = [`PUT /${Bucket}/too-big-streamed HTTP/1.1`, ...Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`), 'connection: close', '', ''].join('\r\n')
        try {
          await writeAll(socket, head)
          for (let sent = 0; sent <= MAX + 64 * 1024 && received === ''; sent += 64 * 1024) {
            await writeAll(socket, `10000\r\n`)
            await writeAll(socket, big.subarray(0, 64 * 1024))
            await writeAll(socket, '\r\n')
          }
        } catch {}
      })
    })
    assert.equal(answer.status, 400)
    assert.equal(xmlField(answer.body, 'Code'), 'EntityTooLarge')
    await assertAbsent('too-big-streamed')
    await waitFor(async () => (await nodeStatus(daemon)).physicalBytes === physical, 'nothing of the refused bodies is kept')
  })

  it('refuses a multipart upload whose parts add up to more than FDN_MAX_OBJECT_SIZE', async () => {
    const Key = 'multipart-too-big'
    const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket, Key }))
    const parts = []
    for (const PartNumber of [1, 2]) {
      const { ETag } = await s3.send(new UploadPartCommand({ Bucket, Key, UploadId, PartNumber, Body: seededBytes(MAX / 2 + 1, `part${PartNumber}`) }))
      parts.push({ PartNumber, ETag: ETag! })
    }
    const refused = await errorOf(s3.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } })))
    assert.deepEqual(refused, { name: 'EntityTooLarge', status: 400 })
    await assertAbsent(Key)
    await s3.send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }))
  })

  it('keeps nothing of an upload whose client vanishes mid-body', async () => {
    const before = await blockFiles(daemon.dataDir)
    const physical = (await nodeStatus(daemon)).physicalBytes
    const data = seededBytes(1536 * 1024, 'vanishing')
    const request = await signRequest(daemon, tenant, { method: 'PUT', path: `/${Bucket}/vanished`, contentSha256: 'UNSIGNED-PAYLOAD', headers: { 'content-length': String(data.length) } })
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(daemon.http).port) })
    await new Promise<void>((resolve) => socket.once('connect', () => { resolve() }))
    await writeAll(socket, [`PUT /${Bucket}/vanished HTTP/1.1`, ...Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n'))
    await writeAll(socket, data.subarray(0, 1200 * 1024))
    await new Promise((resolve) => setTimeout(resolve, 100))
    socket.destroy()
    await waitFor(async () => (await nodeStatus(daemon)).physicalBytes === physical, 'the partial upload is discarded')
    await assertAbsent('vanished')
    const afterwards = await blockFiles(daemon.dataDir)
    assert.equal(afterwards.count, before.count, 'no block of the partial upload stays on disk')
    // the daemon still serves
    await s3.send(new PutObjectCommand({ Bucket, Key: 'after-vanish', Body: 'still here' }))
  })

  it('answers QuotaExceeded past the tenant\'s quota, keeping nothing', async () => {
    const small = await createTenant(daemon, 'tiny-quota', { quota: 1024 * 1024 })
    const client = s3Client(daemon, small)
    await client.send(new PutObjectCommand({ Bucket: 'tiny-quota', Key: 'first', Body: seededBytes(600 * 1024, 'q1') }))
    const physical = (await nodeStatus(daemon)).physicalBytes
    assert.deepEqual(await errorOf(client.send(new PutObjectCommand({ Bucket: 'tiny-quota', Key: 'second', Body: seededBytes(600 * 1024, 'q2') }))), { name: 'QuotaExceeded', status: 403 })
    assert.deepEqual(await errorOf(client.send(new HeadObjectCommand({ Bucket: 'tiny-quota', Key: 'second' }))), { name: 'NotFound', status: 404 })
    assert.equal((await nodeStatus(daemon)).physicalBytes, physical)
    client.destroy()
  })

  it('refuses anonymous writes and listings, and anonymous overrides of response headers', async () => {
    for (const [method, path] of [['PUT', `/${Bucket}/anon`], ['DELETE', `/${Bucket}/md5-right`], ['GET', `/${Bucket}?list-type=2`], ['POST', `/${Bucket}?delete`], ['GET', '/']]) {
      const response = await fetch(`${daemon.http}${path}`, { method, ...(method === 'PUT' || method === 'POST' ? { body: 'x' } : {}) })
      assert.equal(response.status, 403, `${method} ${path}`)
      assert.equal(xmlField(await response.text(), 'Code'), 'AccessDenied', `${method} ${path}`)
    }
    const overrides = await fetch(`${daemon.http}/${Bucket}/md5-right?response-content-type=text/html`)
    assert.equal(overrides.status, 400)
    assert.equal(xmlField(await overrides.text(), 'Code'), 'InvalidRequest')
  })

  it('requires an integrity header on DeleteObjects and well-formed XML', async () => {
    const xml = Buffer.from('<Delete><Object><Key>md5-right</Key></Object></Delete>')
    const unchecked = await signRequest(daemon, tenant, { method: 'POST', path: `/${Bucket}`, query: { delete: '' }, body: xml })
    const refused = await httpSend(unchecked.url, { method: 'POST', headers: unchecked.headers, body: xml })
    assert.equal(refused.status, 400)
    assert.equal(xmlField(refused.body.toString(), 'Code'), 'InvalidRequest')

    const broken = Buffer.from('<Delete><Object><Key>md5-right</Key></Delete>')
    const md5 = createHash('md5').update(broken).digest('base64')
    const malformed = await signRequest(daemon, tenant, { method: 'POST', path: `/${Bucket}`, query: { delete: '' }, body: broken, headers: { 'content-md5': md5 } })
    const answer = await httpSend(malformed.url, { method: 'POST', headers: malformed.headers, body: broken })
    assert.equal(answer.status, 400)
    assert.equal(xmlField(answer.body.toString(), 'Code'), 'MalformedXML')
    await s3.send(new HeadObjectCommand({ Bucket, Key: 'md5-right' }))
  })

  it('answers unimplemented subresources with 501 NotImplemented, and HEAD errors without a body', async () => {
    for (const query of ['cors', 'lifecycle', 'policy', 'website']) {
      const request = await signRequest(daemon, tenant, { method: 'GET', path: `/${Bucket}`, query: { [query]: '' } })
      const answer = await httpSend(request.url, { method: 'GET', headers: request.headers })
      assert.equal(answer.status, 501, query)
      assert.equal(xmlField(answer.body.toString(), 'Code'), 'NotImplemented', query)
      assert.ok(answer.headers['x-amz-request-id'], 'every answer has a request id')
    }
    const head = await signRequest(daemon, tenant, { method: 'HEAD', path: `/${Bucket}/no-such-key` })
    const answer = await httpSend(head.url, { method: 'HEAD', headers: head.headers })
    assert.equal(answer.status, 404)
    assert.equal(answer.body.length, 0)
  })
})
