// Hostile URLs and hostile origin servers against the retrieve API of real
// daemons: every internal address (literal, by name, by redirect, in every
// spelling), other schemes, credentials in URLs, lying lengths, bodies that
// never end or trickle, pages and SVGs labelled as images, oversize bodies,
// redirect loops and failing origins. Each is refused with its own code and
// status within its timeout, nothing is stored, and the node keeps answering.
//
// Two nodes: `guarded` has no FDN_FETCH_ALLOW (loopback is refused like any
// internal address); `open` allows 127.0.0.1/32 only, so that it can reach
// the hostile origin on 127.0.0.1 while [::1], 127.0.0.2 and the rest stay
// refused, also as a redirect target. An IPv6 loopback server counts what
// would reach it if a refusal failed.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { rm } from 'node:fs/promises'
import { createServer as createNetServer } from 'node:net'
import type { AddressInfo, Server as NetServer, Socket } from 'node:net'
import { performance } from 'node:perf_hooks'
import { startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { png, sha256Hex } from '../helpers/bytes.ts'
import { quiet, status, stored } from '../helpers/swarm.ts'
import { createTenant } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { errorCode, retrieve } from '../helpers/api.ts'
import type { ApiAnswer } from '../helpers/api.ts'
import { startOrigin } from '../helpers/origin.ts'
import type { Origin } from '../helpers/origin.ts'
import { rawCidOfSha256 } from '../../protocol/retrieve-api.ts'
import type { RetrieveResponse } from '../../protocol/retrieve-api.ts'

const KiB = 1024
const MiB = 1024 * KiB
/** FDN_ORIGIN_TIMEOUT, FDN_ORIGIN_CONNECT_TIMEOUT and FDN_ORIGIN_MAX_SIZE of both nodes. */
const ORIGIN_TIMEOUT_MS = 2000
const CONNECT_TIMEOUT_MS = 1000
const MAX_SIZE = MiB
/** How long a refusal that needs no waiting may take, request signing and loopback round trips included. */
const PROMPT_MS = 1500
/** What a timeout may take beyond its setting. */
const MARGIN_MS = 1500


const OK_PNG = png(20 * KiB, 'ok')
const HTML = Buffer.from('<!doctype html><html><head><title>x</title></head><body><script>fetch("/admin").then(r=>r.text()).then(alert)</script></body></html>')
const SVG = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="1" height="1" onload="alert(1)"><script>alert(document.domain)</script></svg>')
const BIG_PNG = png(Math.floor(1.5 * MiB), 'big')

/** Writes `chunk` until the client goes away. */
function writeForever (res: ServerResponse, chunk: Buffer): void {
  const pump = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump)
  }
  pump()
}

/** Answers with a raw HTTP head and body written straight to the socket, whatever they claim. */
function raw (req: IncomingMessage, head: string, body: Buffer = Buffer.alloc(0), end = true): void {
  const socket = req.socket
  socket.write(Buffer.concat([Buffer.from(head.replace(/\n/g, '\r\n') + '\r\n', 'latin1'), body]))
  if (end) socket.end()
}

function redirect (location: string): { handle: (req: IncomingMessage, res: ServerResponse) => void } {
  return { handle: (_req, res) => { res.writeHead(302, { location, 'content-length': '0' }).end() } }
}

async function listenNet (server: NetServer | Server, host: string): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, host, () => { resolve() })
  })
  return (server.address() as AddressInfo).port
}

async function closeServer (server: NetServer | Server | undefined): Promise<void> {
  if (server == null) return
  if ('closeAllConnections' in server) server.closeAllConnections()
  await new Promise<void>(resolve => server.close(() => { resolve() }))
}


describe('retrieve API: hostile URLs and origins', () => {
  let origin: Origin
  /** An HTTP server on [::1] that no refused request may reach. */
  let v6: Server
  let v6Port: number
  let v6Hits = 0
  /** Accepts TCP connections and never says a word (a TLS handshake that never completes). */
  let silent: NetServer
  let silentPort: number
  const silentSockets = new Set<Socket>()
  let deadPort: number
  let open: RunningDaemon
  let guarded: RunningDaemon
  let openTenant: Tenant
  let guardedTenant: Tenant
  /** Refusals made, per node, to compare with its `retrieve.failed` counter at the end. */
  const refusals = new Map<RunningDaemon, number>()

  before(async () => {
    v6 = createServer((_req, res) => {
      v6Hits++
      res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(OK_PNG.length) }).end(OK_PNG)
    })
    v6Port = await listenNet(v6, '::1')
    silent = createNetServer((socket) => {
      silentSockets.add(socket)
      socket.on('error', () => {})
      socket.on('close', () => silentSockets.delete(socket))
    })
    silentPort = await listenNet(silent, '127.0.0.1')
    const dead = createNetServer()
    deadPort = await listenNet(dead, '127.0.0.1')
    await closeServer(dead)

    origin = await startOrigin({
      '/media/ok.png': { body: OK_PNG, contentType: 'image/png' },
      '/media/userinfo.png': { body: png(23 * KiB, 'userinfo'), contentType: 'image/png' },
      '/media/ok-again.png': { body: png(21 * KiB, 'ok again'), contentType: 'image/png' },
      // redirects to what the open node refuses
      '/redirect/v6': { handle: (_req, res) => { res.writeHead(302, { location: `http://[::1]:${v6Port}/media/ok.png`, 'content-length': '0' }).end() } },
      '/redirect/v6-mapped': { handle: (_req, res) => { res.writeHead(301, { location: `http://[::ffff:7f00:2]:${origin.port}/media/ok.png`, 'content-length': '0' }).end() } },
      '/redirect/metadata': redirect('http://169.254.169.254/latest/meta-data/iam/security-credentials/'),
      '/redirect/private': redirect('http://10.0.0.1/media/ok.png'),
      '/redirect/file': redirect('file:///etc/passwd'),
      '/redirect/gopher': redirect('gopher://127.0.0.1:6379/_FLUSHALL'),
      '/redirect/userinfo': { handle: (_req, res) => { res.writeHead(307, { location: `http://user:pass@127.0.0.1:${origin.port}/media/ok.png`, 'content-length': '0' }).end() } },
      '/redirect/port': redirect('http://127.0.0.1:22/'),
      '/redirect/loopback2': { handle: (_req, res) => { res.writeHead(308, { location: `http://127.0.0.2:${origin.port}/media/ok.png`, 'content-length': '0' }).end() } },
      '/redirect/nowhere': { handle: (_req, res) => { res.writeHead(302, { 'content-length': '0' }).end() } },
      // a redirect loop: /loop/0 → /loop/1 → …
      ...Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`/loop/${i}`, redirect(`/loop/${i + 1}`)])),
      // lying lengths
      '/longer-than-announced': { handle: (req) => { raw(req, 'HTTP/1.1 200 OK\nContent-Type: image/png\nContent-Length: 5000\nConnection: close\n', OK_PNG.subarray(0, 9000)) } },
      '/shorter-than-announced': { handle: (req) => { raw(req, 'HTTP/1.1 200 OK\nContent-Type: image/png\nContent-Length: 50000\nConnection: close\n', OK_PNG.subarray(0, 9000)) } },
      // bodies that never end
      '/never-ends': {
        handle: (_req, res) => {
          res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(OK_PNG.length) })
          res.write(OK_PNG.subarray(0, 8000))
          // …and nothing more, the connection left open
        }
      },
      '/drip': {
        handle: (_req, res) => {
          res.writeHead(200, { 'content-type': 'image/png' })
          res.write(OK_PNG.subarray(0, 8000))
          const timer = setInterval(() => { res.write(Buffer.from([0])) }, 500)
          res.once('close', () => { clearInterval(timer) })
        }
      },
      '/flood': { handle: (_req, res) => { res.writeHead(200, { 'content-type': 'image/png' }); res.write(OK_PNG.subarray(0, 8000)); writeForever(res, Buffer.alloc(64 * KiB, 1)) } },
      // not media, whatever the label
      '/page.png': { body: HTML, contentType: 'image/png' },
      '/image.svg': { body: SVG, contentType: 'image/svg+xml' },
      '/svg-as.png': { body: SVG, contentType: 'image/png' },
      // too large
      '/big-announced.png': { body: BIG_PNG, contentType: 'image/png' },
      '/big-chunked.png': { handle: (_req, res) => { res.writeHead(200, { 'content-type': 'image/png' }); res.end(BIG_PNG) } },
      // failing origins
      '/broken.png': { handle: (_req, res) => { res.writeHead(500, { 'content-type': 'text/plain' }).end('oops') } },
      '/garbage': { handle: (req) => { raw(req, 'SSH-2.0-OpenSSH_9.6\nnot http at all\n') } },
      '/gzip.png': { body: OK_PNG, contentType: 'image/png', headers: { 'content-encoding': 'gzip' } }
    })
    const ports = `80,443,${origin.port},${v6Port},${silentPort},${deadPort}`
    const env = {
      FDN_FETCH_PORTS: ports,
      FDN_ORIGIN_TIMEOUT: `${ORIGIN_TIMEOUT_MS / 1000}s`,
      FDN_ORIGIN_CONNECT_TIMEOUT: `${CONNECT_TIMEOUT_MS / 1000}s`,
      FDN_ORIGIN_MAX_SIZE: '1MB',
      FDN_FETCH_TIMEOUT: '2s',
      FDN_REPLICAS: '1'
    }
    open = await startDaemon({ env: { ...env, FDN_FETCH_ALLOW: '127.0.0.1/32' } })
    guarded = await startDaemon({ env })
    openTenant = await createTenant(open, 'open')
    guardedTenant = await createTenant(guarded, 'guarded')
    // the new tenants' first manifests are blobs: let them land before counting blocks
    await Promise.all([quiet(open), quiet(guarded)])
  })

  after(async () => {
    await Promise.all([open?.stop(), guarded?.stop()])
    for (const socket of silentSockets) socket.destroy()
    await Promise.all([origin?.close(), closeServer(v6), closeServer(silent)])
    await Promise.all([open?.dataDir, guarded?.dataDir].filter(dir => dir != null).map(async dir => await rm(dir, { recursive: true, force: true })))
  })

  /**
   * Asks `node` to retrieve `url` and checks the refusal: its status and
   * code, that it came within `withinMs`, that nothing was stored, and that
   * the node still answers. Returns the refusal and how long it took.
   */
  async function refusal (node: RunningDaemon, url: string, expected: { status: number, code: string, withinMs?: number }): Promise<{ answer: ApiAnswer, ms: number }> {
    const tenant = node === open ? openTenant : guardedTenant
    const kept = await stored(node)
    const started = performance.now()
    const answer = await retrieve(node.http, tenant, { url })
    const ms = performance.now() - started
    refusals.set(node, (refusals.get(node) ?? 0) + 1)
    const what = `${url} on the ${node === open ? 'open' : 'guarded'} node`
    assert.equal(answer.status, expected.status, `${what}: ${answer.status} ${answer.text}`)
    assert.equal(errorCode(answer), expected.code, `${what}: ${answer.text}`)
    const message = (answer.json as { error: { message?: unknown } }).error.message
    assert.ok(typeof message === 'string' && message.length > 0, `${what}: the error says why`)
    const budget = expected.withinMs ?? PROMPT_MS
    assert.ok(ms < budget, `${what}: refused after ${Math.round(ms)} ms, more than ${budget} ms`)
    assert.deepEqual(await stored(node), kept, `${what}: nothing stored`)
    assert.equal((await fetch(`${node.http}/healthz`)).status, 200, `${what}: the node still answers`)
    return { answer, ms }
  }

  const totalHits = (): number => [...origin.stats.hits.values()].reduce((sum, n) => sum + n, 0)

  describe('internal addresses', () => {
    it('refuses loopback, link-local (cloud metadata) and private addresses on a node without FDN_FETCH_ALLOW (403 address_not_allowed), never connecting', async () => {
      const hits = totalHits()
      const urls = [
        `${origin.url}/media/ok.png`,
        `http://[::1]:${v6Port}/media/ok.png`,
        'http://169.254.169.254/latest/meta-data/iam/security-credentials/',
        'http://10.0.0.1/media/ok.png',
        'http://192.168.1.1/media/ok.png',
        `http://localhost:${origin.port}/media/ok.png`,
        // other spellings of 127.0.0.1
        `http://2130706433:${origin.port}/media/ok.png`,
        `http://0x7f.1:${origin.port}/media/ok.png`,
        `http://127.1:${origin.port}/media/ok.png`,
        `http://[::ffff:127.0.0.1]:${origin.port}/media/ok.png`,
        `http://0.0.0.0:${origin.port}/media/ok.png`
      ]
      for (const url of urls) await refusal(guarded, url, { status: 403, code: 'address_not_allowed' })
      assert.equal(totalHits(), hits, 'the origin saw no request')
      assert.equal(v6Hits, 0, 'the IPv6 loopback server saw no request')
    })

    it('allows exactly what FDN_FETCH_ALLOW lists: 127.0.0.1/32 is reached, [::1] and 127.0.0.2 are not', async () => {
      const answer = await retrieve(open.http, openTenant, { url: `${origin.url}/media/ok.png` })
      assert.equal(answer.status, 200, answer.text)
      const body = answer.json as RetrieveResponse
      assert.equal(body.source, 'origin')
      assert.equal(body.cid, rawCidOfSha256(sha256Hex(OK_PNG)))
      assert.equal(origin.hits('/media/ok.png'), 1)
      await quiet(open)
      await refusal(open, `http://[::1]:${v6Port}/media/ok.png`, { status: 403, code: 'address_not_allowed' })
      await refusal(open, `http://127.0.0.2:${origin.port}/media/ok.png`, { status: 403, code: 'address_not_allowed' })
      await refusal(open, 'http://169.254.169.254/latest/meta-data/', { status: 403, code: 'address_not_allowed' })
      assert.equal(v6Hits, 0)
    })

    it('refuses a redirect to an internal address, checked at the hop: the first hop is asked, the target never', async () => {
      const cases: Array<{ path: string, status: number, code: string }> = [
        { path: '/redirect/v6', status: 403, code: 'address_not_allowed' },
        { path: '/redirect/v6-mapped', status: 403, code: 'address_not_allowed' },
        { path: '/redirect/loopback2', status: 403, code: 'address_not_allowed' },
        { path: '/redirect/metadata', status: 403, code: 'address_not_allowed' },
        { path: '/redirect/private', status: 403, code: 'address_not_allowed' },
        { path: '/redirect/file', status: 400, code: 'scheme_not_allowed' },
        { path: '/redirect/gopher', status: 400, code: 'scheme_not_allowed' },
        { path: '/redirect/userinfo', status: 400, code: 'userinfo_not_allowed' },
        { path: '/redirect/port', status: 400, code: 'port_not_allowed' }
      ]
      const okHits = origin.hits('/media/ok.png')
      for (const item of cases) {
        const { answer } = await refusal(open, `${origin.url}${item.path}`, item)
        assert.equal(origin.hits(item.path), 1, `${item.path}: the first hop was asked once`)
        assert.match((answer.json as { error: { message: string } }).error.message, /redirect/i, `${item.path}: the message names the redirect`)
      }
      assert.equal(v6Hits, 0, 'the IPv6 loopback server saw no request')
      assert.equal(origin.hits('/media/ok.png'), okHits, 'no redirect target on the origin was fetched')
    })
  })

  describe('schemes, credentials and ports', () => {
    it('refuses other schemes (400 scheme_not_allowed)', async () => {
      const hits = totalHits()
      for (const url of ['file:///etc/passwd', 'file://localhost/etc/shadow', `gopher://127.0.0.1:${origin.port}/_GET%20/media/ok.png`, `ftp://127.0.0.1:${origin.port}/media/ok.png`,
        'data:image/png;base64,iVBORw0KGgo=', 'javascript:alert(1)', `ws://127.0.0.1:${origin.port}/media/ok.png`]) {
        await refusal(open, url, { status: 400, code: 'scheme_not_allowed' })
      }
      assert.equal(totalHits(), hits)
    })

    it('refuses credentials in a URL, however they are hidden (400 userinfo_not_allowed)', async () => {
      // a path the open node never retrieved, which the origin would serve: a refusal that failed would download it
      const hits = totalHits()
      for (const url of [
        `http://127.0.0.1:${origin.port}@evil.example/media/userinfo.png`,
        `http://evil.example@127.0.0.1:${origin.port}/media/userinfo.png`,
        `http://user:pass@127.0.0.1:${origin.port}/media/userinfo.png`,
        `http://user@127.0.0.1:${origin.port}/media/userinfo.png`,
        `http://:@127.0.0.1:${origin.port}/media/userinfo.png`,
        `http://@127.0.0.1:${origin.port}/media/userinfo.png`
      ]) await refusal(open, url, { status: 400, code: 'userinfo_not_allowed' })
      assert.equal(totalHits(), hits)
      assert.equal(origin.hits('/media/userinfo.png'), 0)
    })

    it('refuses ports outside FDN_FETCH_PORTS (400 port_not_allowed)', async () => {
      for (const url of ['http://127.0.0.1:22/', 'http://127.0.0.1:6379/', 'https://127.0.0.1:8443/a.png', 'http://127.0.0.1:0/']) {
        await refusal(open, url, { status: 400, code: 'port_not_allowed' })
      }
    })
  })

  describe('hostile origins', () => {
    it('refuses a body longer or shorter than its Content-Length (502 length_mismatch)', async () => {
      await refusal(open, `${origin.url}/longer-than-announced`, { status: 502, code: 'length_mismatch' })
      await refusal(open, `${origin.url}/shorter-than-announced`, { status: 502, code: 'length_mismatch' })
    })

    it('ends a body that never ends and a slow drip at FDN_ORIGIN_TIMEOUT (504 timeout)', async () => {
      for (const path of ['/never-ends', '/drip']) {
        const { ms } = await refusal(open, `${origin.url}${path}`, { status: 504, code: 'timeout', withinMs: ORIGIN_TIMEOUT_MS + MARGIN_MS })
        assert.ok(ms >= ORIGIN_TIMEOUT_MS - 100, `${path}: gave up after ${Math.round(ms)} ms, before the ${ORIGIN_TIMEOUT_MS} ms timeout`)
      }
    })

    it('gives up on a connection that never completes at FDN_ORIGIN_CONNECT_TIMEOUT (504 connect_timeout)', async () => {
      const { ms } = await refusal(open, `https://127.0.0.1:${silentPort}/media/ok.png`, { status: 504, code: 'connect_timeout', withinMs: CONNECT_TIMEOUT_MS + MARGIN_MS })
      assert.ok(ms >= CONNECT_TIMEOUT_MS - 100, `gave up after ${Math.round(ms)} ms`)
    })

    it('refuses what is not media whatever its label: HTML as image/png, SVG as image/svg+xml and as image/png (415 media_type_not_allowed)', async () => {
      for (const path of ['/page.png', '/image.svg', '/svg-as.png']) {
        await refusal(open, `${origin.url}${path}`, { status: 415, code: 'media_type_not_allowed' })
      }
    })

    it('refuses bodies over FDN_ORIGIN_MAX_SIZE, announced or not, and one that never ends (413 too_large)', async () => {
      assert.ok(BIG_PNG.length > MAX_SIZE)
      for (const path of ['/big-announced.png', '/big-chunked.png', '/flood']) {
        await refusal(open, `${origin.url}${path}`, { status: 413, code: 'too_large' })
      }
      const s = await status(open)
      // the announced one is refused from its head; the others are cut just past the limit
      assert.ok(s.retrieve.originBytes < 4 * MAX_SIZE, `${s.retrieve.originBytes} body bytes read from origins in all`)
    })

    it('stops a redirect loop after 5 redirects (502 too_many_redirects)', async () => {
      await refusal(open, `${origin.url}/loop/0`, { status: 502, code: 'too_many_redirects' })
      const asked = Array.from({ length: 20 }, (_, i) => origin.hits(`/loop/${i}`))
      assert.deepEqual(asked, [1, 1, 1, 1, 1, 1, ...Array(14).fill(0)], 'the first request and 5 redirects, no more')
    })

    it('refuses error statuses and a redirect without Location (502 http_status)', async () => {
      await refusal(open, `${origin.url}/media/missing.png`, { status: 502, code: 'http_status' })
      assert.equal(origin.hits('/media/missing.png'), 1)
      await refusal(open, `${origin.url}/broken.png`, { status: 502, code: 'http_status' })
      await refusal(open, `${origin.url}/redirect/nowhere`, { status: 502, code: 'http_status' })
    })

    it('refuses what is not HTTP and encoded bodies (502 bad_response), a closed port (502 connect_failed), a name that does not resolve (502 dns_failed)', async () => {
      await refusal(open, `${origin.url}/garbage`, { status: 502, code: 'bad_response' })
      await refusal(open, `${origin.url}/gzip.png`, { status: 502, code: 'bad_response' })
      await refusal(open, `http://127.0.0.1:${deadPort}/media/ok.png`, { status: 502, code: 'connect_failed' })
      await refusal(open, `http://nosuch.invalid:${origin.port}/media/ok.png`, { status: 502, code: 'dns_failed' })
    })
  })

  describe('afterwards', () => {
    it('still retrieves good media, also from a URL whose earlier download failed', async () => {
      const good = await retrieve(open.http, openTenant, { url: `${origin.url}/media/ok-again.png` })
      assert.equal(good.status, 200, good.text)
      assert.equal((good.json as RetrieveResponse).source, 'origin')
      // a cached URL with credentials hidden in it is still refused: the URL is checked before the cache
      await refusal(open, `http://:@127.0.0.1:${origin.port}/media/ok-again.png`, { status: 400, code: 'userinfo_not_allowed' })
      // the URL that timed out now answers properly: nothing of the failure was cached
      const fixed = png(22 * KiB, 'drip fixed')
      origin.route('/drip', { body: fixed, contentType: 'image/png' })
      const again = await retrieve(open.http, openTenant, { url: `${origin.url}/drip` })
      assert.equal(again.status, 200, again.text)
      assert.equal((again.json as RetrieveResponse).cid, rawCidOfSha256(sha256Hex(fixed)))
      assert.equal((again.json as RetrieveResponse).source, 'origin')
      const bytes = Buffer.from(await (await fetch((again.json as RetrieveResponse).url)).arrayBuffer())
      assert.deepEqual(bytes, fixed)
    })

    it('counted every refusal as failed, and never reached the IPv6 loopback server', async () => {
      for (const node of [open, guarded]) {
        assert.equal((await status(node)).retrieve.failed, refusals.get(node) ?? 0)
        assert.equal((await fetch(`${node.http}/healthz`)).status, 200)
      }
      assert.equal(v6Hits, 0)
    })
  })
})
