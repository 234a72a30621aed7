// The S3 API over HTTP: virtual-host requests ({bucket}.{FDN_S3_DOMAIN}), the redirect alias mode,
// URL-encoded listings, headers on every answer, and connections that survive refused bodies.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile, writeFile } from 'node:fs/promises'
import { Agent } from 'node:http'
import path from 'node:path'
import type { LookupFunction } from 'node:net'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { pngBytes } from '../helpers/bytes.ts'
import { awsChunked, createTenant, httpSend, s3Client, signRequest, xmlField } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'

const DOMAIN = 's3.test'

/** Every name resolves to loopback, so `{bucket}.s3.test` reaches the daemon. */
const loopback: LookupFunction = (_host, options, callback) => {
  if (typeof options === 'object' && options.all === true) (callback as unknown as (err: null, all: Array<{ address: string, family: number }>) => void)(null, [{ address: '127.0.0.1', family: 4 }])
  else callback(null, '127.0.0.1', 4)
}

describe('S3 API over HTTP: virtual hosts, redirects, headers, connections', () => {
  let daemon: RunningDaemon
  let tenant: Tenant
  let port: number
  let vhost: S3Client
  let agent: Agent
  const png = pngBytes(10_000)

  before(async () => {
    daemon = await startDaemon({ env: { FDN_S3_DOMAIN: DOMAIN, FDN_ALIAS_MODE: 'redirect' } })
    tenant = await createTenant(daemon, 'media')
    port = Number(new URL(daemon.http).port)
    agent = new Agent({ keepAlive: true, lookup: loopback })
    vhost = new S3Client({
      endpoint: `http://${DOMAIN}:${port}`,
      region: 'us-east-1',
      forcePathStyle: false,
      credentials: { accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey },
      requestHandler: { httpAgent: agent },
      maxAttempts: 1
    })
  })
  after(async () => {
    vhost?.destroy()
    agent?.destroy()
    await daemon?.stop()
  })

  it('serves virtual-host requests, where keys named like gateway routes are keys', async () => {
    for (const Key of ['ipfs/bafkqaaa', 'healthz', 'a/b c.png']) {
      await vhost.send(new PutObjectCommand({ Bucket: 'media', Key, Body: png, ContentType: 'image/png', ACL: 'public-read' }))
      const got = await vhost.send(new GetObjectCommand({ Bucket: 'media', Key }))
      assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(png), Key)
    }
    const list = await vhost.send(new ListObjectsV2Command({ Bucket: 'media' }))
    assert.deepEqual(list.Contents?.map((c) => c.Key), ['a/b c.png', 'healthz', 'ipfs/bafkqaaa'])
    // and path-style still works on the same node
    const pathStyle = s3Client(daemon, tenant)
    const same = await pathStyle.send(new GetObjectCommand({ Bucket: 'media', Key: 'ipfs/bafkqaaa' }))
    assert.equal(same.ContentLength, png.length)
    await same.Body!.transformToByteArray()
    pathStyle.destroy()
    // the gateway's own routes are untouched on the node's own host
    assert.equal((await fetch(`${daemon.http}/healthz`)).status, 200)
  })

  it('redirects public reads to /ipfs/{cid} (FDN_ALIAS_MODE=redirect), path-style and virtual-host', async () => {
    const pathStyle = await fetch(`${daemon.http}/media/a/b%20c.png`, { redirect: 'manual' })
    assert.equal(pathStyle.status, 308)
    const location = pathStyle.headers.get('location') ?? ''
    assert.match(location, /^\/ipfs\/bafkrei[a-z2-7]+$/)
    assert.equal(pathStyle.headers.get('cache-control'), 'public, max-age=3600')
    const followed = await fetch(`${daemon.http}${location}`)
    assert.equal(followed.status, 200)
    assert.ok(Buffer.from(await followed.arrayBuffer()).equals(png))

    const virtual = await httpSend(`${daemon.http}/a/b%20c.png`, { method: 'GET', headers: { host: `media.${DOMAIN}:${port}` } })
    assert.equal(virtual.status, 308)
    assert.equal(virtual.headers.location, location)
    const head = await httpSend(`${daemon.http}/media/healthz`, { method: 'HEAD' })
    assert.equal(head.status, 308)
  })

  it('writes URL-encoded listings with encoding-type=url', async () => {
    const keys = ['enc/plus+sign', 'enc/space here', 'enc/percent%41', 'enc/ünï/cödé', 'enc/amp&lt']
    for (const Key of keys) await vhost.send(new PutObjectCommand({ Bucket: 'media', Key, Body: 'x' }))
    const request = await signRequest(daemon, tenant, { method: 'GET', path: '/media', query: { 'list-type': '2', prefix: 'enc/', 'encoding-type': 'url' } })
    const answer = await httpSend(request.url, { method: 'GET', headers: request.headers })
    assert.equal(answer.status, 200)
    const xml = answer.body.toString()
    assert.equal(xmlField(xml, 'EncodingType'), 'url')
    const listed = [...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]!)
    // decoded as awscli and the Ruby SDK decode them (unquote_plus / CGI.unescape)
    assert.deepEqual(listed.map((k) => decodeURIComponent(k.replace(/\+/g, ' '))), [...keys].sort())
    assert.ok(listed.includes('enc/plus%2Bsign'))
  })

  it('puts x-amz-request-id and the serving-safety headers on every answer, success or error', async () => {
    const request = await signRequest(daemon, tenant, { method: 'GET', path: '/media/a/b%20c.png' })
    for (const [path, headers] of [['/media/a/b%20c.png', request.headers], ['/media/nope', {}], ['/', {}]] as const) {
      const answer = await httpSend(`${daemon.http}${path}`, { method: 'GET', headers: { ...headers } })
      assert.match(answer.headers['x-amz-request-id'] ?? '', /^[0-9A-F]{16}$/, path)
      assert.equal(answer.headers['x-content-type-options'], 'nosniff', path)
      assert.equal(answer.headers['content-security-policy'], "default-src 'none'; form-action 'none'; sandbox", path)
      assert.equal(answer.headers['set-cookie'], undefined)
      if (answer.status >= 400) {
        assert.equal(answer.headers['cache-control'], 'no-store', path)
        assert.equal(xmlField(answer.body.toString(), 'RequestId'), answer.headers['x-amz-request-id'])
      }
    }
  })

  it('keeps a keep-alive connection usable after refusing a body mid-stream', async () => {
    const data = pngBytes(200 * 1024)
    const first = await signRequest(daemon, tenant, {
      method: 'PUT',
      path: '/media/keepalive-bad',
      contentSha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
      headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(data.length) }
    })
    const bad = awsChunked(first, data, { chunkSize: 16 * 1024, tamper: 1 })
    const second = await signRequest(daemon, tenant, { method: 'GET', path: '/media/a/b%20c.png' })
    const { connect } = await import('node:net')
    const socket = connect({ host: '127.0.0.1', port })
    await new Promise<void>((resolve) => socket.once('connect', () => { resolve() }))
    let received = ''
    socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1') })
    const headLines = (method: string, path: string, headers: Record<string, string>): string =>
      [`${method} ${path} HTTP/1.1`, ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n')
    socket.write(headLines('PUT', '/media/keepalive-bad', { ...first.headers, 'content-length': String(bad.length) }))
    socket.write(bad)
    socket.write(headLines('GET', '/media/a/b%20c.png', second.headers))
    const deadline = Date.now() + 5000
    while ((received.match(/HTTP\/1\.1 \d{3}/g) ?? []).length < 2 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    socket.destroy()
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d{3})/g)].map((m) => m[1])
    assert.deepEqual(statuses, ['403', '200'])
  })
})

describe('S3 API: a corrupt block is never served', () => {
  let daemon: RunningDaemon
  let tenant: Tenant

  before(async () => {
    daemon = await startDaemon()
    tenant = await createTenant(daemon, 'media')
  })
  after(async () => {
    await daemon?.stop()
  })

  it('answers an error (or cuts the answer) when a block on disk does not match its CID, for objects of one block and of many', async () => {
    const client = s3Client(daemon, tenant)
    const small = pngBytes(300 * 1024)
    const large = pngBytes(2 * 1024 * 1024 + 12345)
    await client.send(new PutObjectCommand({ Bucket: 'media', Key: 'small.png', Body: small, ContentType: 'image/png' }))
    await client.send(new PutObjectCommand({ Bucket: 'media', Key: 'large.png', Body: large, ContentType: 'image/png' }))
    client.destroy()
    // nothing has been read yet, so nothing is cached: flip a byte in every block file
    const files = (await readdir(path.join(daemon.dataDir, 'blocks'), { recursive: true })).filter((name) => name.endsWith('.data'))
    assert.ok(files.length >= 4, `${files.length} block files`)
    for (const name of files) {
      const file = path.join(daemon.dataDir, 'blocks', name)
      const bytes = await readFile(file)
      bytes[bytes.length >> 1] = bytes[bytes.length >> 1]! ^ 0xff
      await writeFile(file, bytes)
    }
    for (const [key, original] of [['small.png', small], ['large.png', large]] as const) {
      for (const range of [undefined, 'bytes=100-200']) {
        const request = await signRequest(daemon, tenant, { method: 'GET', path: `/media/${key}`, headers: range === undefined ? {} : { range } })
        const answer = await httpSend(request.url, { method: 'GET', headers: request.headers }).catch((err: Error) => err)
        if (answer instanceof Error) continue // cut mid-answer: the client sees a broken response
        assert.ok(answer.status >= 500 || !answer.body.equals(range === undefined ? original : original.subarray(100, 201)), `${key} ${range ?? ''}: ${answer.status}`)
        assert.ok(!answer.body.includes(original.subarray(0, 64)), `${key}: no byte of a corrupt block goes out`)
      }
    }
    assert.match(daemon.output(), /corrupt block on disk/)
  })
})
