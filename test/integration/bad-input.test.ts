// Bad input against a real daemon over real sockets: truncated and oversized
// uploads, no disk space left to accept one, absurd headers, malformed CIDs and
// paths, CIDs not held and ranges out of bounds. Each gets a clear status and
// JSON message, and the store stays as it was.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { CID } from 'multiformats/cid'
import { identity } from 'multiformats/hashes/identity'
import { sha256, sha512 } from 'multiformats/hashes/sha2'
import { addBytes, adminFetch, blockFiles, rawRequest, runCli, startDaemon, tempDir, waitFor, writeAll } from '../helpers/daemon.ts'
import type { RawResponse, RunningDaemon } from '../helpers/daemon.ts'

const MiB = 1024 * 1024
const IMMUTABLE = /immutable/

interface Status { blobs: number, logicalBytes: number, physicalBytes: number }

async function status (daemon: RunningDaemon): Promise<Status> {
  const { blobs, logicalBytes, physicalBytes } = await (await adminFetch(daemon, '/admin/v1/status')).json() as Status
  return { blobs, logicalBytes, physicalBytes }
}

async function gc (daemon: RunningDaemon): Promise<{ blocksScanned: number, blocksRemoved: number, bytesFreed: number }> {
  const response = await adminFetch(daemon, '/admin/v1/gc', { method: 'POST' })
  assert.equal(response.status, 200)
  return await response.json() as { blocksScanned: number, blocksRemoved: number, bytesFreed: number }
}

function errorOf (response: RawResponse): { code: string, message: string } {
  assert.match(response.headers['content-type'] ?? '', /^application\/json/, `JSON error body, got ${response.headers['content-type']}`)
  const body = JSON.parse(response.body.toString()) as { error?: { code?: unknown, message?: unknown } }
  assert.equal(typeof body.error?.code, 'string', response.body.toString())
  assert.equal(typeof body.error?.message, 'string', response.body.toString())
  return body.error as { code: string, message: string }
}

/** An error response as a browser may load it: JSON code, safety headers, nothing cacheable for a year. */
function assertPublicError (response: RawResponse, status: number, code: string | undefined, what: string): void {
  assert.equal(response.status, status, `${what}: ${response.body.toString()}`)
  assert.doesNotMatch(response.headers['cache-control'] ?? '', IMMUTABLE, `${what}: an error is never immutable`)
  assert.equal(response.headers.etag, undefined, `${what}: an error has no ETag`)
  assert.equal(response.headers['x-content-type-options'], 'nosniff', what)
  assert.equal(response.headers['content-security-policy'], "default-src 'none'; form-action 'none'; sandbox", what)
  assert.equal(response.headers['access-control-allow-origin'], '*', what)
  if (code != null) assert.equal(errorOf(response).code, code, what)
}

function s3ErrorCode (response: RawResponse): string {
  return /<Code>([^<]*)<\/Code>/.exec(response.body.toString())?.[1] ?? ''
}

function host (url: string): string {
  return new URL(url).host
}

async function rawGet (base: string, target: string, headers: string[] = [], method = 'GET'): Promise<RawResponse> {
  return await rawRequest(base, [`${method} ${target} HTTP/1.1`, `Host: ${host(base)}`, ...headers, 'Connection: close'])
}

function uploadHead (daemon: RunningDaemon, headers: string[]): string {
  return [
    'POST /admin/v1/blobs HTTP/1.1',
    `Host: ${host(daemon.admin)}`,
    `Authorization: Bearer ${daemon.token}`,
    'Content-Type: application/octet-stream',
    // keep-alive, as real clients: a server that answers before reading the body and then closes
    // the connection may lose that answer to the TCP reset the unread body causes
    ...headers, '', ''
  ].join('\r\n')
}

function chunked (bytes: Uint8Array, pieceSize = 100_000): Buffer {
  const parts: Buffer[] = []
  for (let offset = 0; offset < bytes.length; offset += pieceSize) {
    const piece = bytes.subarray(offset, offset + pieceSize)
    parts.push(Buffer.from(`${piece.length.toString(16)}\r\n`), Buffer.from(piece), Buffer.from('\r\n'))
  }
  parts.push(Buffer.from('0\r\n\r\n'))
  return Buffer.concat(parts)
}

describe('truncated and aborted uploads', () => {
  let daemon: RunningDaemon
  before(async () => { daemon = await startDaemon() })
  after(async () => { assert.equal(await daemon.stop(), 0) })

  for (const how of ['half-close (FIN)', 'reset (RST)'] as const) {
    it(`Content-Length says 3 MiB, 2.5 MiB arrive, then ${how}: nothing is kept`, async () => {
      const kept = await addBytes(daemon, randomBytes(1000))
      const before = await status(daemon)
      const baseline = await blockFiles(daemon.dataDir)
      const body = randomBytes(3 * MiB)

      const socket = connect({ host: '127.0.0.1', port: Number(new URL(daemon.admin).port) })
      await new Promise<void>((resolve, reject) => { socket.once('connect', resolve).once('error', reject) })
      const received: Buffer[] = []
      socket.on('data', (chunk: Buffer) => { received.push(chunk) })
      socket.on('error', () => {})
      const closed = new Promise<void>(resolve => socket.once('close', () => { resolve() }))
      await writeAll(socket, uploadHead(daemon, [`Content-Length: ${body.length}`]))
      await writeAll(socket, body.subarray(0, 2.5 * MiB))
      // the upload really got going: its first two 1 MiB leaves are on disk
      await waitFor(async () => (await blockFiles(daemon.dataDir)).count >= baseline.count + 2, 'first blocks of the upload written')
      if (how === 'reset (RST)') socket.resetAndDestroy()
      else socket.end()
      await closed

      // the failed upload removes its own blocks, without waiting for gc
      await waitFor(async () => (await blockFiles(daemon.dataDir)).count === baseline.count, 'blocks of the aborted upload removed')
      const answer = Buffer.concat(received).toString()
      assert.doesNotMatch(answer, /^HTTP\/1\.1 2/, 'an aborted upload is never acknowledged')
      if (answer !== '') assert.match(answer, /^HTTP\/1\.1 400[\s\S]*"code":"aborted"/)
      assert.deepEqual(await status(daemon), before)
      assert.equal((await gc(daemon)).blocksRemoved, 0, 'gc finds nothing left over')
      // the store still works, and what it held is still there
      const again = await addBytes(daemon, body)
      assert.equal(again.created, true)
      const served = await fetch(`${daemon.http}/ipfs/${kept.cid}`)
      assert.equal(served.status, 200)
      await served.arrayBuffer()
    })
  }

  it('a client that stops sending mid-body and hangs up later leaves nothing either', async () => {
    const before = await status(daemon)
    const baseline = await blockFiles(daemon.dataDir)
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(daemon.admin).port) })
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve).once('error', reject) })
    socket.on('error', () => {})
    const closed = new Promise<void>(resolve => socket.once('close', () => { resolve() }))
    await writeAll(socket, uploadHead(daemon, ['Transfer-Encoding: chunked']))
    await writeAll(socket, chunked(randomBytes(1.5 * MiB)).subarray(0, -5)) // no terminating chunk
    await waitFor(async () => (await blockFiles(daemon.dataDir)).count > baseline.count, 'first block written')
    await sleep(100)
    socket.destroy()
    await closed
    await waitFor(async () => (await blockFiles(daemon.dataDir)).count === baseline.count, 'blocks of the aborted upload removed')
    assert.deepEqual(await status(daemon), before)
    assert.equal((await gc(daemon)).blocksRemoved, 0)
  })
})

describe('uploads over FDN_MAX_OBJECT_SIZE', () => {
  let daemon: RunningDaemon
  before(async () => { daemon = await startDaemon({ env: { FDN_MAX_OBJECT_SIZE: '1MB' } }) })
  after(async () => {
    // connections of refused uploads were closed, not left stuck to hold up the shutdown
    const started = Date.now()
    assert.equal(await daemon.stop(), 0)
    assert.ok(Date.now() - started < 5000, `SIGTERM took ${Date.now() - started} ms`)
  })

  it('with Content-Length: 413 before reading the body, nothing kept', async () => {
    const before = await status(daemon)
    const body = randomBytes(2 * MiB + 5)
    const response = await rawRequest(daemon.admin, uploadHead(daemon, [`Content-Length: ${body.length}`]).trimEnd().split('\r\n'), body)
    assert.equal(response.status, 413, response.body.toString())
    assert.equal(errorOf(response).code, 'too_large')
    assert.deepEqual(await status(daemon), before)
    assert.equal((await blockFiles(daemon.dataDir)).count, 0)
  })

  it('chunked, without Content-Length: 413 once the limit is passed, and the blocks written so far are gone', async () => {
    const before = await status(daemon)
    const response = await rawRequest(daemon.admin, uploadHead(daemon, ['Transfer-Encoding: chunked']).trimEnd().split('\r\n'), chunked(randomBytes(3 * MiB)))
    assert.equal(response.status, 413, response.body.toString())
    assert.equal(errorOf(response).code, 'too_large')
    assert.deepEqual(await status(daemon), before)
    await waitFor(async () => (await blockFiles(daemon.dataDir)).count === 0, 'blocks of the refused upload removed')
    assert.equal((await gc(daemon)).blocksRemoved, 0)
  })

  it('fetch() with a streamed body is refused the same way', async () => {
    const bytes = randomBytes(MiB + 1)
    const body = new ReadableStream<Uint8Array>({
      start (controller) {
        for (let offset = 0; offset < bytes.length; offset += 64 * 1024) controller.enqueue(bytes.subarray(offset, offset + 64 * 1024))
        controller.close()
      }
    })
    const response = await adminFetch(daemon, '/admin/v1/blobs', { method: 'POST', body, duplex: 'half' } as RequestInit)
    assert.equal(response.status, 413)
    assert.equal((await response.json() as { error: { code: string } }).error.code, 'too_large')
  })

  it('exactly the limit is accepted, chunked or not', async () => {
    const bytes = randomBytes(MiB)
    const viaChunks = await rawRequest(daemon.admin, uploadHead(daemon, ['Transfer-Encoding: chunked']).trimEnd().split('\r\n'), chunked(bytes))
    assert.equal(viaChunks.status, 201, viaChunks.body.toString())
    const again = await addBytes(daemon, bytes)
    assert.equal(again.created, false)
    assert.equal((await status(daemon)).blobs, 1)
  })

  it('fdn add of a file over the limit: one line, non-zero exit', async () => {
    const file = path.join(await tempDir('fdn-files-'), 'big.bin')
    await writeFile(file, randomBytes(MiB + 100))
    const result = await runCli(['add', file], { FDN_DATA: daemon.dataDir })
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /^fdn: [^\n]*(limit|too_large)[^\n]*\n$/)
  })
})

describe('FDN_MIN_FREE_SPACE above the free space', () => {
  it('refuses uploads with 507 before writing anything', async () => {
    const daemon = await startDaemon({ env: { FDN_MIN_FREE_SPACE: '1PB' } })
    try {
      for (const size of [10, 2 * MiB]) {
        const response = await adminFetch(daemon, '/admin/v1/blobs', { method: 'POST', body: randomBytes(size) })
        assert.equal(response.status, 507)
        assert.equal((await response.json() as { error: { code: string } }).error.code, 'insufficient_storage')
      }
      assert.deepEqual(await blockFiles(daemon.dataDir), { count: 0, bytes: 0 })
      assert.equal((await status(daemon)).blobs, 0)
      const result = await runCli(['add', '-'], { FDN_DATA: daemon.dataDir }, randomBytes(100))
      assert.notEqual(result.code, 0)
      assert.match(result.stderr, /^fdn: [^\n]*(disk|insufficient_storage)[^\n]*\n$/)
      // reads still work
      const health = await fetch(`${daemon.http}/readyz`)
      assert.equal(health.status, 200)
      await health.arrayBuffer()
    } finally {
      assert.equal(await daemon.stop(), 0)
    }
  })
})

describe('public gateway: malformed requests', () => {
  let daemon: RunningDaemon
  let small: { cid: string, size: number }
  let multi: { cid: string, size: number }
  let absent: string
  before(async () => {
    daemon = await startDaemon()
    small = await addBytes(daemon, randomBytes(100))
    multi = await addBytes(daemon, randomBytes(MiB + 1))
    absent = CID.createV1(0x55, await sha256.digest(randomBytes(50))).toString()
  })
  after(async () => { assert.equal(await daemon.stop(), 0) })

  it('an absurd header size: 431 with a JSON error, on both listeners', async () => {
    const huge = `X-Padding: ${'a'.repeat(64 * 1024)}`
    const response = await rawGet(daemon.http, `/ipfs/${small.cid}`, [huge])
    assertPublicError(response, 431, undefined, '64 KB header')
    errorOf(response)
    const admin = await rawGet(daemon.admin, '/admin/v1/status', [`Authorization: Bearer ${daemon.token}`, huge])
    assert.equal(admin.status, 431)
    errorOf(admin)
    // many headers adding up count the same
    const many = await rawGet(daemon.http, `/ipfs/${small.cid}`, Array.from({ length: 400 }, (_, i) => `X-H${i}: ${'b'.repeat(100)}`))
    assert.equal(many.status, 431)
    // a large but reasonable header is fine
    const fine = await rawGet(daemon.http, `/ipfs/${small.cid}`, [`X-Padding: ${'a'.repeat(4096)}`])
    assert.equal(fine.status, 200)
    assert.equal(fine.body.length, 100)
  })

  it('malformed CIDs: 400 invalid_cid, for every format and method', async () => {
    const dagCbor = CID.createV1(0x71, await sha256.digest(randomBytes(10))).toString()
    const sha512Raw = CID.createV1(0x55, await sha512.digest(randomBytes(10))).toString()
    const hugeInline = CID.createV1(0x55, identity.digest(randomBytes(200))).toString()
    const malformed = [
      'notacid',
      'bafy',
      small.cid.slice(0, -1), // one character short: a truncated multihash
      `${small.cid}x`,
      'QmInvalidBase58Characters0OIl000000000000000000',
      'Qm',
      '%21bafkrei', // '!' is no multibase prefix
      '12345',
      dagCbor, // a codec this node cannot serve
      sha512Raw, // a hash this node does not verify
      hugeInline // an identity CID larger than any inline limit
    ]
    for (const text of malformed) {
      for (const suffix of ['', '?format=raw', '?format=car']) {
        const response = await rawGet(daemon.http, `/ipfs/${text}${suffix}`)
        assertPublicError(response, 400, 'invalid_cid', `/ipfs/${text}${suffix}`)
      }
      const head = await rawGet(daemon.http, `/ipfs/${text}`, [], 'HEAD')
      assert.equal(head.status, 400, `HEAD /ipfs/${text}`)
      assert.doesNotMatch(head.headers['cache-control'] ?? '', IMMUTABLE)
    }
    // a CID longer than any real one is refused before routing, still as JSON
    const long = await rawGet(daemon.http, `/ipfs/b${'a'.repeat(2000)}`)
    assert.ok(long.status === 400 || long.status === 414, `over-long CID: ${long.status}`)
    assertPublicError(long, long.status, undefined, 'over-long CID')
  })

  it('malformed paths, sent raw: 400 invalid_path', async () => {
    for (const cid of [small.cid, absent]) {
      for (const suffix of ['/../x', '/./x', '/a/../b', '/a/%2e%2e/b', '/..', '/a%00b', '/%2E%2E/%2E%2E/etc/passwd']) {
        const response = await rawGet(daemon.http, `/ipfs/${cid}${suffix}`)
        assertPublicError(response, 400, 'invalid_path', `/ipfs/<cid>${suffix}`)
      }
    }
    const badEscape = await rawGet(daemon.http, `/ipfs/${small.cid}/%ZZ`)
    assertPublicError(badEscape, 400, undefined, 'bad percent-escape')
    const badEscapeInCid = await rawGet(daemon.http, '/ipfs/%ZZ')
    assertPublicError(badEscapeInCid, 400, undefined, 'bad percent-escape in the CID')
    // a well-formed path below a file does not exist
    const below = await rawGet(daemon.http, `/ipfs/${small.cid}/x.jpg`)
    assertPublicError(below, 404, 'not_found', 'path below a file')
  })

  it('a CID the node does not hold: 404 JSON, for every format', async () => {
    const v0 = CID.createV0(await sha256.digest(randomBytes(10))).toString()
    for (const cid of [absent, v0]) {
      for (const suffix of ['', '?format=raw', '?format=car']) {
        const response = await rawGet(daemon.http, `/ipfs/${cid}${suffix}`)
        assertPublicError(response, 404, 'not_found', `/ipfs/${cid}${suffix}`)
      }
      const accept = await rawGet(daemon.http, `/ipfs/${cid}`, ['Accept: application/vnd.ipld.raw'])
      assertPublicError(accept, 404, 'not_found', 'Accept raw')
      const head = await rawGet(daemon.http, `/ipfs/${cid}`, [], 'HEAD')
      assert.equal(head.status, 404)
      assert.doesNotMatch(head.headers['cache-control'] ?? '', IMMUTABLE)
    }
    // any other path is an S3 path (/{bucket}/{key}): anonymously, a key that is not public-read is refused
    const route = await rawGet(daemon.http, '/no/such/route')
    assertPublicError(route, 403, undefined, 'unknown route')
    assert.equal(s3ErrorCode(route), 'AccessDenied')
  })

  it('a Range out of bounds: 416 with Content-Range: bytes */size', async () => {
    const cases: Array<[string, string, number]> = [
      [small.cid, 'bytes=100-200', small.size],
      [small.cid, 'bytes=1000-', small.size],
      [small.cid, 'bytes=100-', small.size],
      [multi.cid, `bytes=${multi.size}-${multi.size + 10}`, multi.size],
      [multi.cid, 'bytes=9999999-', multi.size]
    ]
    for (const [cid, range, size] of cases) {
      const response = await rawGet(daemon.http, `/ipfs/${cid}`, [`Range: ${range}`])
      assertPublicError(response, 416, 'invalid_range', `Range ${range}`)
      assert.equal(response.headers['content-range'], `bytes */${size}`, range)
      assert.equal(response.headers['accept-ranges'], undefined)
    }
    const raw = await rawGet(daemon.http, `/ipfs/${small.cid}?format=raw`, ['Range: bytes=500-'])
    assertPublicError(raw, 416, 'invalid_range', 'raw block range')
    assert.equal(raw.headers['content-range'], `bytes */${small.size}`)
    // the edges that are in bounds
    const last = await rawGet(daemon.http, `/ipfs/${multi.cid}`, [`Range: bytes=${multi.size - 1}-`])
    assert.equal(last.status, 206)
    assert.equal(last.headers['content-range'], `bytes ${multi.size - 1}-${multi.size - 1}/${multi.size}`)
    assert.equal(last.body.length, 1)
    const suffix = await rawGet(daemon.http, `/ipfs/${multi.cid}`, ['Range: bytes=-10'])
    assert.equal(suffix.status, 206)
    assert.equal(suffix.headers['content-range'], `bytes ${multi.size - 10}-${multi.size - 1}/${multi.size}`)
    assert.equal(suffix.body.length, 10)
  })

  it('the store is untouched by all of it', async () => {
    const report = await (await adminFetch(daemon, '/admin/v1/verify', { method: 'POST' })).json() as { blobs: number, missing: unknown[], corrupt: unknown[] }
    assert.deepEqual({ blobs: report.blobs, missing: report.missing, corrupt: report.corrupt }, { blobs: 2, missing: [], corrupt: [] })
    assert.equal((await gc(daemon)).blocksRemoved, 0)
  })
})
