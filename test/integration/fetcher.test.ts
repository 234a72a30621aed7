// The outbound fetcher against real origins on loopback (allowed in these
// tests with allow: ['127.0.0.1/32']): good media, redirect chains and
// redirects to refused targets, bodies that lie about their length, never end
// or trickle, content that is not media whatever its label, failing
// connections, DNS rebinding, TLS to a pinned address, JSON documents.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createNetServer } from 'node:net'
import type { AddressInfo, Server as NetServer, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { FetchError } from '../../node/fetcher/errors.ts'
import type { FetchErrorCode } from '../../node/fetcher/errors.ts'
import { SafeFetcher } from '../../node/fetcher/safe-fetcher.ts'
import type { FetchedMedia, ResolvedAddress, SafeFetcherOptions } from '../../node/fetcher/safe-fetcher.ts'
import { pngBytes, sha256Hex } from '../helpers/bytes.ts'

const MiB = 1024 * 1024
const PNG = pngBytes(50_000)
const BIG_PNG = pngBytes(3 * 1024 * 1024)
const HTML = Buffer.from('<!doctype html><html><head><title>x</title></head><body><script>alert(document.cookie)</script></body></html>')
const SVG = Buffer.from('<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>')
const PDF = Buffer.concat([Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n'), Buffer.alloc(200, 0x20)])
const JS = Buffer.from('#!/usr/bin/env node\nrequire("child_process").exec("id")\n')
const XML = Buffer.from('<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>x</title></channel></rss>')
const GIF = Buffer.concat([Buffer.from('GIF89a'), Buffer.from([1, 0, 1, 0, 0, 0, 0]), Buffer.alloc(100, 0)])
const ACTOR = { '@context': 'https://www.w3.org/ns/activitystreams', id: 'https://example.org/users/a', type: 'Person', publicKey: { publicKeyPem: 'x'.repeat(400) } }

interface Seen { path: string, host: string | undefined, headers: IncomingMessage['headers'] }

interface Origin {
  server: Server
  port: number
  base: string
  seen: Seen[]
  /** Connections accepted: the peer's address and whether the connection was closed. */
  sockets: Array<{ remote: string | undefined, closed: boolean }>
}

async function listen<T extends Server | NetServer> (server: T, host = '127.0.0.1'): Promise<number> {
  server.listen(0, host)
  await once(server, 'listening')
  return (server.address() as AddressInfo).port
}

function track (server: Server | NetServer, sockets: Origin['sockets']): void {
  server.on('connection', (socket: Socket) => {
    const entry = { remote: socket.remoteAddress, closed: false }
    sockets.push(entry)
    socket.once('close', () => { entry.closed = true })
  })
}

/** Writes `chunk` until the client goes away. */
function writeForever (res: ServerResponse, chunk: Buffer): void {
  const pump = (): void => {
    while (!res.destroyed && res.write(chunk));
    if (!res.destroyed) res.once('drain', pump)
  }
  pump()
}

function route (origin: () => Origin, req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://origin')
  const send = (status: number, type: string | undefined, body: Buffer, extra: Record<string, string> = {}): void => {
    res.writeHead(status, { ...(type == null ? {} : { 'content-type': type }), 'content-length': String(body.length), ...extra })
    res.end(body)
  }
  const redirect = /^\/redirect\/(\d+)$/.exec(url.pathname)
  if (redirect != null) {
    const left = Number(redirect[1])
    if (left === 0) return send(200, 'image/png', PNG)
    res.writeHead(302, { location: `/redirect/${left - 1}` })
    return void res.end()
  }
  switch (url.pathname) {
    case '/png': return send(200, 'image/png', PNG)
    case '/png-as-html': return send(200, 'text/html', PNG)
    case '/png-chunked': res.writeHead(200, { 'content-type': 'image/png' }); res.write(PNG.subarray(0, 10)); res.write(PNG.subarray(10, 5000)); return void res.end(PNG.subarray(5000))
    case '/big-png': res.writeHead(200, { 'content-type': 'image/png' }); return void res.end(BIG_PNG)
    case '/gif-no-type': return send(200, undefined, GIF)
    case '/html-as-png': return send(200, 'image/png', HTML)
    case '/svg': return send(200, 'image/svg+xml', SVG)
    case '/svg-as-png': return send(200, 'image/png', SVG)
    case '/pdf-as-jpeg': return send(200, 'image/jpeg', PDF)
    case '/js-as-gif': return send(200, 'image/gif', JS)
    case '/xml-as-png': return send(200, 'image/png', XML)
    case '/empty': return send(200, 'image/png', Buffer.alloc(0))
    case '/missing': return send(404, 'text/html', HTML)
    case '/broken': return send(500, 'text/plain', Buffer.from('oops'))
    case '/not-modified': res.writeHead(304); return void res.end()
    case '/gzip': return send(200, 'image/png', PNG, { 'content-encoding': 'gzip' })
    case '/redirect-301': res.writeHead(301, { location: `${origin().base}/png` }); return void res.end()
    case '/redirect-303': res.writeHead(303, { location: '/png' }); return void res.end()
    case '/redirect-307': res.writeHead(307, { location: 'png' }); return void res.end()
    case '/redirect-308': res.writeHead(308, { location: '//127.0.0.1:' + String(origin().port) + '/png' }); return void res.end()
    case '/redirect-nowhere': res.writeHead(302); return void res.end()
    case '/to': res.writeHead(302, { location: url.searchParams.get('u') ?? '' }); return void res.end()
    case '/endless': res.writeHead(200, { 'content-type': 'image/png' }); res.write(PNG.subarray(0, 5000)); return writeForever(res, Buffer.alloc(64 * 1024, 1))
    case '/drip': {
      res.writeHead(200, { 'content-type': 'image/png' })
      res.write(PNG.subarray(0, 5000))
      const timer = setInterval(() => res.write(Buffer.from([0])), 50)
      res.once('close', () => clearInterval(timer))
      return
    }
    case '/actor': return send(200, 'application/activity+json', Buffer.from(JSON.stringify(ACTOR)))
    case '/actor-ld': return send(200, 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"', Buffer.from(JSON.stringify(ACTOR)))
    case '/actor-html': return send(200, 'text/html; charset=utf-8', HTML)
    case '/actor-bad': return send(200, 'application/activity+json', Buffer.from('{"id": "https://example.org/a", '))
    case '/actor-big': return send(200, 'application/activity+json', Buffer.from(JSON.stringify({ ...ACTOR, padding: 'x'.repeat(2 * MiB) })))
    case '/actor-redirect-private': res.writeHead(302, { location: 'http://10.0.0.1/actor' }); return void res.end()
    default: return send(404, 'text/plain', Buffer.from('no route'))
  }
}

async function startOrigin (host = '127.0.0.1'): Promise<Origin> {
  const seen: Seen[] = []
  const sockets: Origin['sockets'] = []
  let origin: Origin | undefined
  const server = createServer((req, res) => {
    seen.push({ path: req.url ?? '', host: req.headers.host, headers: req.headers })
    route(() => origin as Origin, req, res)
  })
  track(server, sockets)
  const port = await listen(server, host)
  origin = { server, port, base: `http://${host.includes(':') ? `[${host}]` : host}:${port}`, seen, sockets }
  return origin
}

/** An origin speaking raw bytes: responses Node's server would not send. */
async function startRawOrigin (): Promise<{ server: NetServer, port: number, sockets: Origin['sockets'] }> {
  const sockets: Origin['sockets'] = []
  const server = createNetServer(socket => {
    let head = ''
    socket.on('error', () => {})
    socket.on('data', (data: Buffer) => {
      if (head.includes('\r\n\r\n')) return
      head += data.toString('latin1')
      if (!head.includes('\r\n\r\n')) return
      const target = /^GET (\S+) HTTP/.exec(head)?.[1] ?? ''
      const status = (headers: string): string => `HTTP/1.1 200 OK\r\nContent-Type: image/png\r\n${headers}\r\n`
      switch (target) {
        case '/longer-than-announced':
          socket.write(Buffer.concat([Buffer.from(status('Content-Length: 5000\r\n')), PNG.subarray(0, 6000)]))
          setTimeout(() => socket.end(), 100)
          break
        case '/shorter-than-announced':
          socket.write(Buffer.concat([Buffer.from(status('Content-Length: 20000\r\n')), PNG.subarray(0, 8000)]))
          setTimeout(() => socket.end(), 50)
          break
        case '/announced-too-large':
          socket.write(Buffer.concat([Buffer.from(status(`Content-Length: ${10 * MiB}\r\n`)), PNG.subarray(0, 5000)]))
          break // keeps the connection open: the fetcher must not wait for the body
        case '/chunked-cut':
          socket.write(Buffer.concat([Buffer.from(status('Transfer-Encoding: chunked\r\n')), Buffer.from('2710\r\n'), PNG.subarray(0, 10000), Buffer.from('\r\n2710\r\n'), PNG.subarray(0, 3000)]))
          setTimeout(() => socket.end(), 50)
          break
        case '/chunked-then-extra':
          socket.write(Buffer.concat([Buffer.from(status('Transfer-Encoding: chunked\r\n')), Buffer.from('1388\r\n'), PNG.subarray(0, 5000), Buffer.from('\r\n0\r\n\r\n'), Buffer.from('<script>alert(1)</script>')]))
          setTimeout(() => socket.end(), 100)
          break
        case '/garbage':
          socket.end('this is not HTTP\r\n\r\n')
          break
        default:
          socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n')
      }
    })
  })
  track(server, sockets)
  return { server, port: await listen(server), sockets }
}

async function expectFetchError (promise: Promise<unknown>, code: FetchErrorCode, message?: RegExp): Promise<FetchError> {
  try {
    await promise
  } catch (err) {
    assert.ok(err instanceof FetchError, `expected a FetchError ${code}, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (message != null) assert.match(err.message, message)
    return err
  }
  assert.fail(`expected a FetchError ${code}, the fetch succeeded`)
}

async function readAll (media: FetchedMedia): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of media.body) chunks.push(chunk)
  return Buffer.concat(chunks)
}

/** A consumer like the store: keeps chunks only if the whole body arrives. */
async function storeLike (media: FetchedMedia): Promise<{ kept: Buffer | undefined, staged: number, error: unknown }> {
  const staged: Uint8Array[] = []
  try {
    for await (const chunk of media.body) staged.push(chunk)
    return { kept: Buffer.concat(staged), staged: staged.length, error: undefined }
  } catch (error) {
    return { kept: undefined, staged: staged.length, error }
  }
}

async function waitFor (condition: () => boolean, what: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

describe('fetcher against real origins', () => {
  let origin: Origin
  let raw: Awaited<ReturnType<typeof startRawOrigin>>
  let silent: NetServer
  let silentPort: number
  let closedPort: number
  let v6: Origin | undefined
  const silentSockets: Socket[] = []

  before(async () => {
    origin = await startOrigin()
    raw = await startRawOrigin()
    silent = createNetServer(socket => { silentSockets.push(socket); socket.on('error', () => {}) })
    silentPort = await listen(silent)
    const closed = createNetServer()
    closedPort = await listen(closed)
    closed.close()
    try {
      v6 = await startOrigin('::1')
    } catch {
      v6 = undefined // no IPv6 loopback here: the refusal is still asserted, before any connection
    }
  })

  after(async () => {
    for (const socket of silentSockets) socket.destroy()
    for (const server of [origin.server, raw.server, silent, v6?.server]) {
      if (server == null) continue
      server.close()
      if ('closeAllConnections' in server) server.closeAllConnections()
    }
  })

  function fetcher (options: SafeFetcherOptions = {}): SafeFetcher {
    const ports = [80, 443, origin.port, raw.port, silentPort, closedPort, ...(v6 == null ? [] : [v6.port])]
    return new SafeFetcher({ allow: ['127.0.0.1/32'], allowedPorts: ports, connectTimeoutMs: 1000, timeoutMs: 5000, ...options })
  }

  describe('media', () => {
    it('fetches a PNG, streamed, with its counts and polite headers', async () => {
      const before = origin.seen.length
      const f = fetcher({ userAgent: 'fdn-test/1' })
      const media = await f.fetchMedia(`${origin.base}/png`)
      assert.equal(media.status, 200)
      assert.equal(media.mediaType, 'image/png')
      assert.equal(media.declaredType, 'image/png')
      assert.equal(media.contentLength, PNG.length)
      assert.equal(media.url, `${origin.base}/png`)
      assert.deepEqual(media.redirects, [])
      const body = await readAll(media)
      assert.equal(sha256Hex(body), sha256Hex(PNG))
      assert.equal(media.bytesReceived, PNG.length)
      assert.ok(media.wireBytes > PNG.length && media.wireBytes < PNG.length + 1000, `wire bytes ${media.wireBytes}`)
      assert.deepEqual(f.stats, { fetches: 1, failures: 0, bytesReceived: PNG.length, wireBytes: media.wireBytes })
      const request = origin.seen[before]
      assert.equal(request?.host, `127.0.0.1:${origin.port}`)
      assert.equal(request?.headers['user-agent'], 'fdn-test/1')
      assert.equal(request?.headers['accept-encoding'], 'identity')
      assert.equal(request?.headers.cookie, undefined)
      assert.equal(request?.headers.authorization, undefined)
      assert.throws(() => media.body[Symbol.asyncIterator](), /can be read once/)
    })

    it('types by magic bytes: a chunked PNG, a PNG labelled text/html, a GIF without a type, a 3 MiB body', async () => {
      const f = fetcher()
      const chunked = await f.fetchMedia(`${origin.base}/png-chunked`)
      assert.equal(chunked.contentLength, undefined)
      assert.equal(sha256Hex(await readAll(chunked)), sha256Hex(PNG))
      const mislabelled = await f.fetchMedia(`${origin.base}/png-as-html`)
      assert.equal(mislabelled.mediaType, 'image/png')
      assert.equal(mislabelled.declaredType, 'text/html')
      await readAll(mislabelled)
      const gif = await f.fetchMedia(`${origin.base}/gif-no-type`)
      assert.equal(gif.mediaType, 'image/gif')
      assert.equal(gif.declaredType, undefined)
      await readAll(gif)
      const big = await f.fetchMedia(`${origin.base}/big-png`)
      assert.equal(sha256Hex(await readAll(big)), sha256Hex(BIG_PNG))
      assert.equal(big.bytesReceived, 3 * MiB)
    })

    it('refuses HTML, SVG, PDF, scripts, XML and empty bodies whatever their label', async () => {
      const f = fetcher()
      await expectFetchError(f.fetchMedia(`${origin.base}/html-as-png`), 'media_type_not_allowed', /of no known media type, not an image, video or audio file \(the server sent Content-Type 'image\/png'\)/)
      await expectFetchError(f.fetchMedia(`${origin.base}/svg`), 'media_type_not_allowed')
      await expectFetchError(f.fetchMedia(`${origin.base}/svg-as-png`), 'media_type_not_allowed')
      await expectFetchError(f.fetchMedia(`${origin.base}/pdf-as-jpeg`), 'media_type_not_allowed', /application\/pdf/)
      await expectFetchError(f.fetchMedia(`${origin.base}/js-as-gif`), 'media_type_not_allowed')
      await expectFetchError(f.fetchMedia(`${origin.base}/xml-as-png`), 'media_type_not_allowed')
      await expectFetchError(f.fetchMedia(`${origin.base}/empty`), 'media_type_not_allowed')
      assert.equal(f.stats.failures, 7)
    })

    it('refuses other statuses and encodings', async () => {
      const f = fetcher()
      const missing = await expectFetchError(f.fetchMedia(`${origin.base}/missing`), 'http_status', /answered 404/)
      assert.equal(missing.status, 404)
      assert.equal((await expectFetchError(f.fetchMedia(`${origin.base}/broken`), 'http_status')).status, 500)
      assert.equal((await expectFetchError(f.fetchMedia(`${origin.base}/not-modified`), 'http_status')).status, 304)
      await expectFetchError(f.fetchMedia(`${origin.base}/redirect-nowhere`), 'http_status', /302 without a Location/)
      await expectFetchError(f.fetchMedia(`${origin.base}/gzip`), 'bad_response', /'gzip'-encoded/)
      await expectFetchError(f.fetchMedia(`http://127.0.0.1:${raw.port}/garbage`), 'bad_response')
    })
  })

  describe('redirects', () => {
    it('follows 5 redirects and refuses a sixth', async () => {
      const f = fetcher()
      const media = await f.fetchMedia(`${origin.base}/redirect/5`)
      assert.equal(media.url, `${origin.base}/redirect/0`)
      assert.deepEqual(media.redirects, [5, 4, 3, 2, 1].map(n => `${origin.base}/redirect/${n}`))
      assert.equal(sha256Hex(await readAll(media)), sha256Hex(PNG))
      const before = origin.seen.length
      await expectFetchError(f.fetchMedia(`${origin.base}/redirect/6`), 'too_many_redirects', /more than 5 redirects/)
      assert.deepEqual(origin.seen.slice(before).map(s => s.path), [6, 5, 4, 3, 2, 1].map(n => `/redirect/${n}`), 'the sixth redirect is not followed')
      await expectFetchError(fetcher({ maxRedirects: 0 }).fetchMedia(`${origin.base}/redirect/1`), 'too_many_redirects')
    })

    it('follows 301, 303, 307 and 308 with absolute, relative and scheme-relative Locations', async () => {
      const f = fetcher()
      for (const status of [301, 303, 307, 308]) {
        const media = await f.fetchMedia(`${origin.base}/redirect-${status}`)
        assert.equal(media.url, `${origin.base}/png`, String(status))
        await readAll(media)
      }
    })

    it('refuses a redirect to cloud metadata, before connecting', async () => {
      const to = encodeURIComponent('http://169.254.169.254/latest/meta-data/iam/security-credentials/')
      const err = await expectFetchError(fetcher().fetchMedia(`${origin.base}/to?u=${to}`), 'address_not_allowed', /169\.254\.169\.254 is a link-local address/)
      assert.match(err.message, /\(redirected from http:\/\/127\.0\.0\.1:\d+\/to\?u=/)
      assert.equal(err.url, 'http://169.254.169.254/latest/meta-data/iam/security-credentials/')
    })

    it('refuses a redirect to http://[::1]/ when only 127.0.0.1/32 is allowed', async () => {
      const port = v6?.port ?? origin.port
      const before = v6?.sockets.length ?? 0
      await expectFetchError(fetcher().fetchMedia(`${origin.base}/to?u=${encodeURIComponent(`http://[::1]:${port}/png`)}`), 'address_not_allowed', /::1 is the loopback address/)
      assert.equal(v6?.sockets.length ?? 0, before, 'the ::1 origin saw no connection')
      if (v6 != null) {
        // The same origin is reachable once allowed: the refusal was the guard's.
        const media = await fetcher({ allow: ['127.0.0.1/32', '::1/128'] }).fetchMedia(`${origin.base}/to?u=${encodeURIComponent(`${v6.base}/png`)}`)
        assert.equal(sha256Hex(await readAll(media)), sha256Hex(PNG))
      }
    })

    it('checks scheme, credentials, port and address again on every hop', async () => {
      const f = fetcher()
      const via = (target: string): string => `${origin.base}/to?u=${encodeURIComponent(target)}`
      await expectFetchError(f.fetchMedia(via('file:///etc/passwd')), 'scheme_not_allowed')
      await expectFetchError(f.fetchMedia(via('gopher://127.0.0.1:70/_x')), 'scheme_not_allowed')
      await expectFetchError(f.fetchMedia(via(`http://evil.com@127.0.0.1:${origin.port}/png`)), 'userinfo_not_allowed')
      await expectFetchError(f.fetchMedia(via('http://127.0.0.1:22/')), 'port_not_allowed')
      await expectFetchError(f.fetchMedia(via('http://0x0a000001/')), 'address_not_allowed', /10\.0\.0\.1 is a private address/)
      await expectFetchError(f.fetchMedia(via('http://[::ffff:a9fe:a9fe]/')), 'address_not_allowed', /IPv4-mapped for 169\.254\.169\.254/)
      await expectFetchError(f.fetchMedia(via('http://exa mple.org/')), 'bad_url')
    })
  })

  describe('bodies', () => {
    it('refuses a body announced larger than the limit without reading it', async () => {
      const started = Date.now()
      await expectFetchError(fetcher({ maxBytes: MiB }).fetchMedia(`http://127.0.0.1:${raw.port}/announced-too-large`), 'too_large', /announced 10485760 bytes, more than the limit of 1048576/)
      assert.ok(Date.now() - started < 1000)
      await waitFor(() => raw.sockets.every(s => s.closed), 'the connection to close')
    })

    it('fails a body longer than its Content-Length', async () => {
      const media = await fetcher().fetchMedia(`http://127.0.0.1:${raw.port}/longer-than-announced`)
      assert.equal(media.contentLength, 5000)
      const result = await storeLike(media)
      assert.equal(result.kept, undefined)
      assert.ok(result.error instanceof FetchError)
      assert.equal(result.error.code, 'length_mismatch', result.error.message)
      assert.match(result.error.message, /more than the 5000 bytes of its Content-Length/)
    })

    it('fails bytes sent after the end of a chunked body', async () => {
      const result = await storeLike(await fetcher().fetchMedia(`http://127.0.0.1:${raw.port}/chunked-then-extra`))
      assert.equal(result.kept, undefined)
      assert.ok(result.error instanceof FetchError)
      assert.equal(result.error.code, 'length_mismatch', result.error.message)
      assert.match(result.error.message, /bytes after the end of the body/)
    })

    it('fails a body shorter than its Content-Length', async () => {
      const media = await fetcher().fetchMedia(`http://127.0.0.1:${raw.port}/shorter-than-announced`)
      const result = await storeLike(media)
      assert.equal(result.kept, undefined)
      assert.ok(result.error instanceof FetchError)
      assert.equal(result.error.code, 'length_mismatch', result.error.message)
    })

    it('fails a chunked body cut short', async () => {
      const media = await fetcher().fetchMedia(`http://127.0.0.1:${raw.port}/chunked-cut`)
      const result = await storeLike(media)
      assert.equal(result.kept, undefined)
      assert.ok(result.error instanceof FetchError)
      assert.equal(result.error.code, 'bad_response', result.error.message)
    })

    it('cuts a body that never ends at the size limit', async () => {
      const before = origin.sockets.length
      const f = fetcher({ maxBytes: MiB })
      const media = await f.fetchMedia(`${origin.base}/endless`)
      const result = await storeLike(media)
      assert.equal(result.kept, undefined)
      assert.ok(result.error instanceof FetchError)
      assert.equal(result.error.code, 'too_large', result.error.message)
      assert.match(result.error.message, /larger than the limit of 1048576 bytes/)
      assert.ok(media.bytesReceived > MiB && media.bytesReceived < MiB + 256 * 1024, `received ${media.bytesReceived}`)
      await waitFor(() => origin.sockets.slice(before).every(s => s.closed), 'the origin to see the connection closed')
      assert.equal(f.stats.failures, 1)
    })

    it('the per-call limit overrides the fetcher\'s', async () => {
      await expectFetchError(fetcher().fetchMedia(`${origin.base}/png`, { maxBytes: 1000 }), 'too_large', /announced 50000 bytes/)
      const media = await fetcher({ maxBytes: 1000 }).fetchMedia(`${origin.base}/png`, { maxBytes: MiB })
      assert.equal((await readAll(media)).length, PNG.length)
    })

    it('ends a slow drip at the total timeout', async () => {
      const started = Date.now()
      const media = await fetcher({ timeoutMs: 1000 }).fetchMedia(`${origin.base}/drip`)
      const result = await storeLike(media)
      const elapsed = Date.now() - started
      assert.ok(result.error instanceof FetchError)
      assert.equal(result.error.code, 'timeout', result.error.message)
      assert.match(result.error.message, /no complete response within 1000 ms/)
      assert.ok(result.staged > 2, 'bytes kept trickling in')
      assert.ok(elapsed >= 950 && elapsed < 2500, `ended after ${elapsed} ms`)
    })

    it('stops on the caller\'s signal, on cancel() and when the caller stops reading', async () => {
      const controller = new AbortController()
      const media = await fetcher().fetchMedia(`${origin.base}/drip`, { signal: controller.signal })
      setTimeout(() => controller.abort(), 100)
      const result = await storeLike(media)
      assert.ok(result.error instanceof FetchError)
      assert.equal(result.error.code, 'aborted')

      const before = origin.sockets.length
      await expectFetchError(fetcher().fetchMedia(`${origin.base}/png`, { signal: AbortSignal.abort() }), 'aborted')
      assert.equal(origin.sockets.length, before, 'an aborted signal stops the fetch before it connects')

      const cancelled = await fetcher().fetchMedia(`${origin.base}/endless`)
      cancelled.cancel()
      await expectFetchError(readAll(cancelled), 'aborted', /cancelled/)
      const left = await fetcher().fetchMedia(`${origin.base}/endless`)
      for await (const chunk of left.body) { assert.ok(chunk.length > 0); break }
      await waitFor(() => origin.sockets.slice(before).length === 2 && origin.sockets.slice(before).every(s => s.closed), 'the origin to see both connections closed')
    })
  })

  describe('connections', () => {
    it('times out a TLS handshake that never completes (connect timeout)', async () => {
      const started = Date.now()
      await expectFetchError(fetcher({ connectTimeoutMs: 300 }).fetchMedia(`https://127.0.0.1:${silentPort}/png`), 'connect_timeout', /no connection within 300 ms/)
      const elapsed = Date.now() - started
      assert.ok(elapsed >= 290 && elapsed < 1500, `${elapsed} ms`)
    })

    it('counts a resolver that never answers against the connect timeout', async () => {
      const f = fetcher({ connectTimeoutMs: 200, lookup: async () => await new Promise<never>(() => {}) })
      await expectFetchError(f.fetchMedia(`http://slow-dns.example:${origin.port}/png`), 'connect_timeout', /no connection within 200 ms/)
    })

    it('times out a server that never answers (total timeout)', async () => {
      await expectFetchError(fetcher({ timeoutMs: 500 }).fetchMedia(`http://127.0.0.1:${silentPort}/png`), 'timeout', /within 500 ms/)
    })

    it('reports a refused connection', async () => {
      await expectFetchError(fetcher().fetchMedia(`http://127.0.0.1:${closedPort}/png`), 'connect_failed', /ECONNREFUSED/)
    })

    it('refuses localhost without the allow list, and never connects', async () => {
      const before = origin.sockets.length
      const f = new SafeFetcher({ allowedPorts: [origin.port] })
      await expectFetchError(f.fetchMedia(`http://localhost:${origin.port}/png`), 'address_not_allowed', /localhost resolves to (127\.0\.0\.1|::1), (a|the) loopback address/)
      await expectFetchError(f.fetchMedia(`${origin.base}/png`), 'address_not_allowed', /127\.0\.0\.1 is a loopback address/)
      await expectFetchError(f.fetchMedia(`http://2130706433:${origin.port}/png`), 'address_not_allowed')
      assert.equal(origin.sockets.length, before, 'no connection was made')
      const allowed = await fetcher({ allow: ['127.0.0.0/8', '::1/128'] }).fetchMedia(`http://localhost:${origin.port}/png`)
      assert.equal(sha256Hex(await readAll(allowed)), sha256Hex(PNG))
    })

    it('connects to the address it checked: a rebinding resolver gets one question per hop', async () => {
      const asked: string[] = []
      const rebinding = async (host: string): Promise<ResolvedAddress[]> => {
        asked.push(host)
        // First answer passes the guard; any later one points at cloud metadata.
        return [{ address: asked.length === 1 ? '127.0.0.1' : '169.254.169.254', family: 4 }]
      }
      const f = fetcher({ lookup: rebinding })
      const before = origin.seen.length
      const socketsBefore = origin.sockets.length
      const media = await f.fetchMedia(`http://rebind.example:${origin.port}/png`)
      assert.equal(sha256Hex(await readAll(media)), sha256Hex(PNG))
      assert.deepEqual(asked, ['rebind.example'], 'resolved once: the connection used the checked answer')
      assert.equal(origin.seen.length, before + 1)
      assert.equal(origin.seen[before]?.host, `rebind.example:${origin.port}`, 'the Host header keeps the name')
      assert.equal(origin.sockets[socketsBefore]?.remote, '127.0.0.1')
      // The next fetch gets the rebound answer, which is checked and refused.
      await expectFetchError(f.fetchMedia(`http://rebind.example:${origin.port}/png`), 'address_not_allowed', /rebind\.example resolves to 169\.254\.169\.254/)
      assert.equal(origin.seen.length, before + 1)
      assert.deepEqual(asked, ['rebind.example', 'rebind.example'])
    })

    it('refuses a name when any of its addresses is refused, even if another would pass', async () => {
      const before = origin.sockets.length
      const f = fetcher({ lookup: async () => [{ address: '127.0.0.1', family: 4 }, { address: '10.0.0.1', family: 4 }] })
      await expectFetchError(f.fetchMedia(`http://two.example:${origin.port}/png`), 'address_not_allowed', /two\.example resolves to 10\.0\.0\.1, a private address/)
      assert.equal(origin.sockets.length, before)
    })

    it('verifies TLS against the name while connecting to the pinned address', async (t) => {
      const dir = await mkdtemp(path.join(tmpdir(), 'fdn-fetcher-tls-'))
      try {
        try {
          await promisify(execFile)('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
            '-subj', '/CN=media.example', '-addext', 'subjectAltName=DNS:media.example',
            '-keyout', path.join(dir, 'key.pem'), '-out', path.join(dir, 'cert.pem')])
        } catch {
          t.skip('openssl is not available to make a certificate')
          return
        }
        const cert = await readFile(path.join(dir, 'cert.pem'))
        const servernames: Array<string | false> = []
        const server = createHttpsServer({ key: await readFile(path.join(dir, 'key.pem')), cert }, (req, res) => {
          servernames.push((req.socket as unknown as { servername: string | false }).servername)
          res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(PNG.length) })
          res.end(PNG)
        })
        const port = await listen(server)
        try {
          const lookup = async (): Promise<ResolvedAddress[]> => [{ address: '127.0.0.1', family: 4 }]
          const media = await fetcher({ lookup, ca: cert, allowedPorts: [port] }).fetchMedia(`https://media.example:${port}/png`)
          assert.equal(sha256Hex(await readAll(media)), sha256Hex(PNG))
          assert.deepEqual(servernames, ['media.example'], 'SNI names the host')
          await expectFetchError(fetcher({ lookup, allowedPorts: [port] }).fetchMedia(`https://media.example:${port}/png`), 'connect_failed', /self-signed/)
          const wrongName = async (): Promise<ResolvedAddress[]> => [{ address: '127.0.0.1', family: 4 }]
          await expectFetchError(fetcher({ lookup: wrongName, ca: cert, allowedPorts: [port] }).fetchMedia(`https://other.example:${port}/png`), 'connect_failed', /other\.example/)
        } finally {
          server.close()
          server.closeAllConnections()
        }
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    })
  })

  describe('JSON documents', () => {
    it('fetches ActivityPub JSON with the ActivityPub Accept header', async () => {
      const before = origin.seen.length
      const f = fetcher()
      const doc = await f.fetchJson(`${origin.base}/actor`)
      assert.deepEqual(doc.data, ACTOR)
      assert.equal(doc.contentType, 'application/activity+json')
      assert.equal(doc.bytesReceived, JSON.stringify(ACTOR).length)
      assert.match(origin.seen[before]?.headers.accept ?? '', /^application\/activity\+json, application\/ld\+json/)
      assert.deepEqual((await f.fetchJson(`${origin.base}/actor-ld`, { accept: 'application/ld+json' })).data, ACTOR)
      assert.equal(origin.seen[before + 1]?.headers.accept, 'application/ld+json')
    })

    it('refuses non-JSON, invalid JSON, oversized documents and refused redirects', async () => {
      const f = fetcher()
      await expectFetchError(f.fetchJson(`${origin.base}/actor-html`), 'media_type_not_allowed', /'text\/html', not JSON/)
      await expectFetchError(f.fetchJson(`${origin.base}/png`), 'media_type_not_allowed')
      await expectFetchError(f.fetchJson(`${origin.base}/actor-bad`), 'invalid_json')
      await expectFetchError(f.fetchJson(`${origin.base}/actor-big`), 'too_large', /limit of 1048576/)
      await expectFetchError(f.fetchJson(`${origin.base}/actor`, { maxBytes: 100 }), 'too_large')
      await expectFetchError(f.fetchJson(`${origin.base}/actor-redirect-private`), 'address_not_allowed', /10\.0\.0\.1 is a private address \(refused unless FDN_FETCH_ALLOW covers it\) \(redirected from/)
      await expectFetchError(f.fetchJson(`${origin.base}/missing`), 'http_status')
    })
  })
})
