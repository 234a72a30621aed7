// Relay subscriptions against a tiny relay on loopback (real sockets, a real
// store): the Follow each style of relay gets, the answers that count and the
// ones that do not, Undo, a relay that fails; and the fetcher's POST and
// signed GETs underneath (no redirects for POSTs, the address guard, one
// signature per redirect hop).
import { after, before, beforeEach, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import Fastify from 'fastify'
import { pino } from 'pino'
import { relayRoutes } from '../../gateway/admin/relays.ts'
import { installErrorHandler } from '../../gateway/errors.ts'
import { RELAY_ROUTES } from '../../protocol/relay-api.ts'
import { FdnError } from '../../protocol/errors.ts'
import { Delivery } from '../../node/activitypub/delivery.ts'
import { Relays } from '../../node/activitypub/relays.ts'
import { FetchError } from '../../node/fetcher/errors.ts'
import { SafeFetcher } from '../../node/fetcher/safe-fetcher.ts'
import type { RequestSigner } from '../../node/fetcher/safe-fetcher.ts'
import { MediaStore } from '../../node/store/media-store.ts'
import { FSYNC } from '../../node/store/syncer.ts'

const ACTOR_ID = 'https://fdn.example/actor'
const PUBLIC = 'https://www.w3.org/ns/activitystreams#Public'
const log = pino({ level: 'silent' })

interface Seen {
  method: string
  path: string
  headers: IncomingMessage['headers']
  rawHeaders: string[]
  body: string
}

/** A recognisable stand-in for HTTP Signatures: what was signed, and the host header a real signer sets. */
const sign: RequestSigner = ({ method, url, body }) => ({
  Host: url.host,
  'X-Test-Signature': `${method} ${url.host}${url.pathname} ${body == null ? '-' : createHash('sha256').update(body).digest('hex')}`
})

async function read (req: IncomingMessage): Promise<string> {
  const parts: Buffer[] = []
  for await (const part of req) parts.push(part as Buffer)
  return Buffer.concat(parts).toString('utf8')
}

describe('relays', () => {
  let server: Server
  let base: string
  let port: number
  let seen: Seen[]
  let dir: string
  let store: MediaStore
  let fetcher: SafeFetcher
  let relays: Relays

  const posts = (pathname: string): Array<Seen & { json: Record<string, unknown> }> =>
    seen.filter(s => s.method === 'POST' && s.path === pathname).map(s => ({ ...s, json: JSON.parse(s.body) as Record<string, unknown> }))
  const relaySigner = (): { owner: string, keyId: string } => ({ owner: `${base}/actor`, keyId: `${base}/actor#main-key` })

  before(async () => {
    server = createServer((req, res) => {
      void (async () => {
        const body = await read(req)
        const url = new URL(req.url ?? '/', 'http://relay')
        seen.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, rawHeaders: req.rawHeaders, body })
        const json = (status: number, value: unknown): void => {
          const text = JSON.stringify(value)
          res.writeHead(status, { 'content-type': 'application/activity+json', 'content-length': String(Buffer.byteLength(text)) })
          res.end(text)
        }
        if (req.method === 'GET' && url.pathname === '/actor') {
          return json(200, { '@context': 'https://www.w3.org/ns/activitystreams', id: `${base}/actor`, type: 'Application', inbox: `${base}/actor/inbox`, endpoints: { sharedInbox: `${base}/shared` } })
        }
        if (req.method === 'GET' && url.pathname === '/elsewhere') {
          return json(200, { id: 'https://other.example/actor', inbox: `${base}/inbox` })
        }
        if (req.method === 'POST' && url.pathname === '/broken/inbox') {
          res.writeHead(500, { 'content-type': 'text/plain' })
          return res.end(`relay is closed for maintenance${'.'.repeat(500)}`)
        }
        if (req.method === 'POST') {
          res.writeHead(202, { 'content-type': 'text/plain' })
          return res.end('accepted')
        }
        res.writeHead(404)
        res.end()
      })()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
    base = `http://127.0.0.1:${port}`
    dir = await mkdtemp(path.join(tmpdir(), 'fdn-relays-'))
    store = new MediaStore({ dataDir: dir, blockCacheBytes: 0, minFreeSpace: 0, syncer: FSYNC, log })
    await store.open()
    fetcher = new SafeFetcher({
      allow: ['127.0.0.0/8'],
      allowedPorts: [80, 443, port],
      lookup: async () => [{ address: '127.0.0.1', family: 4 }]
    })
    const delivery = new Delivery({ fetcher, sign, log, retryDelayMs: 10 })
    relays = new Relays({ store, delivery, actorId: ACTOR_ID, log })
  })

  after(async () => {
    server.close()
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  beforeEach(() => { seen = [] })

  it('follows the public collection at a Mastodon-style relay inbox, signed, and waits for its Accept', async () => {
    const added = await relays.add(`${base}/inbox`)
    assert.equal(added.style, 'mastodon')
    assert.equal(added.state, 'pending')
    assert.equal(added.inbox, `${base}/inbox`)
    const [follow, ...more] = posts('/inbox')
    assert.ok(follow != null)
    assert.equal(more.length, 0)
    assert.deepEqual(follow.json, { '@context': 'https://www.w3.org/ns/activitystreams', id: added.followId, type: 'Follow', actor: ACTOR_ID, object: PUBLIC })
    assert.match(added.followId, /^https:\/\/fdn\.example\/actor#follows\/[0-9a-f-]{36}$/)
    assert.equal(follow.headers['content-type'], 'application/activity+json')
    assert.equal(follow.headers['content-length'], String(Buffer.byteLength(follow.body)))
    assert.equal(follow.headers['x-test-signature'], `POST 127.0.0.1:${port}/inbox ${createHash('sha256').update(follow.body).digest('hex')}`)
    assert.equal(follow.rawHeaders.filter(name => name.toLowerCase() === 'host').length, 1)
    assert.equal(await relays.isAcceptedRelay(relaySigner()), false)

    // an Accept signed by another server does not count, whatever it names
    assert.equal(await relays.onResponse({ type: 'Accept', object: added.followId }, { owner: 'https://evil.example/users/x', keyId: 'https://evil.example/users/x#main-key' }), false)
    assert.equal(await relays.onResponse({ type: 'Accept', object: { id: `${ACTOR_ID}#follows/another`, type: 'Follow' } }, relaySigner()), false)
    assert.equal((await relays.list())[0]?.state, 'pending')

    // the relay embeds the Follow it accepts
    assert.equal(await relays.onResponse({ type: 'Accept', object: { id: added.followId, type: 'Follow', actor: ACTOR_ID, object: PUBLIC } }, relaySigner()), true)
    const [listed] = await relays.list()
    assert.equal(listed?.state, 'accepted')
    assert.equal(await relays.isAcceptedRelay(relaySigner()), true)
    assert.equal(await relays.isAcceptedRelay({ owner: 'https://evil.example/actor', keyId: 'https://evil.example/actor#main-key' }), false)
  })

  it('adding a relay again sends a new Follow; only the answer to that one counts', async () => {
    const [first] = await relays.list()
    const again = await relays.add(`${base}/inbox`)
    assert.notEqual(again.followId, first?.followId)
    assert.equal(again.state, 'pending')
    assert.equal(posts('/inbox').length, 1)
    assert.equal(await relays.onResponse({ type: 'Accept', object: first?.followId }, relaySigner()), false)
    assert.equal(await relays.onResponse({ type: 'Accept', object: again.followId }, relaySigner()), true)
    assert.equal((await relays.list()).length, 1)
  })

  it('removes a relay with an Undo that embeds the Follow', async () => {
    const [relay] = await relays.list()
    assert.ok(relay != null)
    const removed = await relays.remove(`${base}/inbox`)
    assert.equal(removed.undoDelivered, true)
    const [undo] = posts('/inbox')
    assert.equal(undo?.json.type, 'Undo')
    assert.equal(undo?.json.actor, ACTOR_ID)
    assert.deepEqual(undo?.json.object, { '@context': 'https://www.w3.org/ns/activitystreams', id: relay.followId, type: 'Follow', actor: ACTOR_ID, object: PUBLIC })
    assert.deepEqual(await relays.list(), [])
    assert.equal(await relays.isAcceptedRelay(relaySigner()), false)
    await assert.rejects(relays.remove(`${base}/inbox`), (err: unknown) => err instanceof FdnError && err.code === 'not_found')
  })

  it('follows a LitePub relay actor at its inbox (not its shared inbox), signing the actor fetch', async () => {
    const added = await relays.add(`${base}/actor`)
    assert.equal(added.style, 'litepub')
    assert.equal(added.actor, `${base}/actor`)
    assert.equal(added.inbox, `${base}/actor/inbox`)
    const get = seen.find(s => s.method === 'GET' && s.path === '/actor')
    assert.equal(get?.headers['x-test-signature'], `GET 127.0.0.1:${port}/actor -`)
    assert.match(get?.headers.accept ?? '', /application\/activity\+json/)
    const [follow] = posts('/actor/inbox')
    assert.deepEqual(follow?.json, { '@context': 'https://www.w3.org/ns/activitystreams', id: added.followId, type: 'Follow', actor: ACTOR_ID, object: `${base}/actor`, to: [`${base}/actor`] })
    assert.equal(posts('/shared').length, 0)

    // another actor of the same host is not the relay (a Pleroma relay shares its host with users)
    const neighbour = { owner: `${base}/users/mallory`, keyId: `${base}/users/mallory#main-key` }
    assert.equal(await relays.onResponse({ type: 'Accept', object: added.followId }, neighbour), false)
    // the relay names the Follow by its ID alone
    assert.equal(await relays.onResponse({ type: 'Accept', object: added.followId }, relaySigner()), true)
    assert.equal(await relays.isAcceptedRelay(relaySigner()), true)
    assert.equal(await relays.isAcceptedRelay(neighbour), false)
    // removable by the URL it was added with
    assert.equal((await relays.remove(`${base}/actor`)).inbox, `${base}/actor/inbox`)
  })

  it('records a Reject', async () => {
    const added = await relays.add(`${base}/actor`)
    assert.equal(await relays.onResponse({ type: 'Reject', object: { id: added.followId, type: 'Follow' } }, relaySigner()), true)
    const [relay] = await relays.list()
    assert.equal(relay?.state, 'rejected')
    assert.equal(await relays.isAcceptedRelay(relaySigner()), false)
    await relays.remove(`${base}/actor/inbox`)
  })

  it('refuses a document that is not an actor of its own host, recording nothing', async () => {
    await assert.rejects(relays.add(`${base}/elsewhere`), (err: unknown) => err instanceof FdnError && err.code === 'invalid_request' && /another host/.test(err.message))
    await assert.rejects(relays.add(`${base}/nothing-here`), (err: unknown) => err instanceof FdnError && err.code === 'http_status')
    await assert.rejects(relays.add('ftp://relay.example/inbox'), (err: unknown) => err instanceof FdnError && err.code === 'invalid_request')
    assert.deepEqual(await relays.list(), [])
  })

  it('marks a relay that answers 500 as failed, after one retry, with its explanation', async () => {
    await assert.rejects(relays.add(`${base}/broken/inbox`), (err: unknown) => err instanceof FdnError && err.code === 'http_status' && /closed for maintenance/.test(err.message))
    assert.equal(posts('/broken/inbox').length, 2)
    const [relay] = await relays.list()
    assert.equal(relay?.state, 'failed')
    assert.match(relay?.lastError ?? '', /answered 500: relay is closed for maintenance\.+$/)
    assert.ok((relay?.lastError ?? '').length < 400)
    // removing it still works, with a warning
    const removed = await relays.remove(`${base}/broken/inbox`)
    assert.equal(removed.undoDelivered, false)
    assert.match(removed.warning ?? '', /did not take the Undo/)
    assert.deepEqual(await relays.list(), [])
  })

  it('serves add, list and remove on the admin API', async () => {
    const app = Fastify()
    installErrorHandler(app)
    await app.register(relayRoutes, { relays })
    try {
      for (const payload of [{}, { url: '' }, { url: 'not a url' }]) {
        const bad = await app.inject({ method: 'POST', url: RELAY_ROUTES.relays, payload })
        assert.equal(bad.statusCode, 400)
      }
      const added = await app.inject({ method: 'POST', url: RELAY_ROUTES.relays, payload: { url: `${base}/inbox` } })
      assert.equal(added.statusCode, 202)
      assert.equal(added.json<{ state: string }>().state, 'pending')
      const failed = await app.inject({ method: 'POST', url: RELAY_ROUTES.relays, payload: { url: `${base}/broken/inbox` } })
      assert.equal(failed.statusCode, 502)
      assert.equal(failed.json<{ error: { code: string } }>().error.code, 'http_status')
      const listed = await app.inject({ method: 'GET', url: RELAY_ROUTES.relays })
      assert.deepEqual(listed.json<Array<{ inbox: string, state: string }>>().map(r => [r.inbox, r.state]), [[`${base}/broken/inbox`, 'failed'], [`${base}/inbox`, 'pending']])
      for (const inbox of [`${base}/inbox`, `${base}/broken/inbox`]) {
        const removed = await app.inject({ method: 'DELETE', url: `${RELAY_ROUTES.relays}?url=${encodeURIComponent(inbox)}` })
        assert.equal(removed.statusCode, 200)
      }
      const unknown = await app.inject({ method: 'DELETE', url: `${RELAY_ROUTES.relays}?url=${encodeURIComponent(`${base}/inbox`)}` })
      assert.equal(unknown.statusCode, 404)
      assert.equal((await app.inject({ method: 'DELETE', url: RELAY_ROUTES.relays })).statusCode, 400)
    } finally {
      await app.close()
    }
  })
})

describe('SafeFetcher POST and signed GETs', () => {
  let server: Server
  let base: string
  let port: number
  let seen: Seen[]

  before(async () => {
    server = createServer((req, res) => {
      void (async () => {
        const body = await read(req)
        const url = new URL(req.url ?? '/', 'http://origin')
        seen.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, rawHeaders: req.rawHeaders, body })
        const hop = /^\/hop\/(\d+)$/.exec(url.pathname)
        if (hop != null) {
          const left = Number(hop[1])
          // the last hop changes host: it must be signed for that host
          if (left > 0) {
            res.writeHead(302, { location: left === 1 ? `http://relay.test:${port}/hop/0` : `/hop/${left - 1}` })
            return res.end()
          }
          res.writeHead(200, { 'content-type': 'application/json' })
          return res.end('{"ok":true}')
        }
        if (url.pathname === '/moved') {
          res.writeHead(307, { location: '/inbox' })
          return res.end()
        }
        res.writeHead(200, { 'content-type': 'text/plain' })
        res.end('x'.repeat(100))
      })()
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    port = (server.address() as AddressInfo).port
    base = `http://127.0.0.1:${port}`
  })
  after(() => { server.close() })
  beforeEach(() => { seen = [] })

  const allowed = (): SafeFetcher => new SafeFetcher({ allow: ['127.0.0.0/8'], allowedPorts: [port], lookup: async () => [{ address: '127.0.0.1', family: 4 }] })

  it('signs every hop of a redirected GET for its own host and path', async () => {
    const fetcher = allowed()
    const doc = await fetcher.fetchJson(`${base}/hop/2`, { sign })
    assert.deepEqual(doc.data, { ok: true })
    assert.deepEqual(seen.map(s => [s.path, s.headers.host, s.headers['x-test-signature']]), [
      ['/hop/2', `127.0.0.1:${port}`, `GET 127.0.0.1:${port}/hop/2 -`],
      ['/hop/1', `127.0.0.1:${port}`, `GET 127.0.0.1:${port}/hop/1 -`],
      ['/hop/0', `relay.test:${port}`, `GET relay.test:${port}/hop/0 -`]
    ])
  })

  it('POSTs with a Content-Length, and keeps at most maxResponseBytes of the answer', async () => {
    const fetcher = allowed()
    const answer = await fetcher.postJson(`${base}/inbox`, { type: 'Follow' }, { sign, maxResponseBytes: 10, contentType: 'application/ld+json' })
    assert.deepEqual(answer, { status: 200, url: `${base}/inbox`, body: 'x'.repeat(10) })
    const [post] = seen
    assert.equal(post?.body, '{"type":"Follow"}')
    assert.equal(post?.headers['content-length'], '17')
    assert.equal(post?.headers['content-type'], 'application/ld+json')
    assert.equal(fetcher.stats.fetches, 1)
    assert.equal(fetcher.stats.failures, 0)
  })

  it('never follows a redirect of a POST', async () => {
    const fetcher = allowed()
    await assert.rejects(fetcher.postJson(`${base}/moved`, { type: 'Follow' }), (err: unknown) =>
      err instanceof FetchError && err.code === 'http_status' && err.status === 307 && err.message.includes("redirecting to /inbox"))
    assert.deepEqual(seen.map(s => s.path), ['/moved'])
    assert.equal(fetcher.stats.failures, 1)
  })

  it('refuses private addresses and unlisted ports without an allow list, before sending anything', async () => {
    const fetcher = new SafeFetcher({ allowedPorts: [port] })
    await assert.rejects(fetcher.postJson(`${base}/inbox`, {}), (err: unknown) => err instanceof FetchError && err.code === 'address_not_allowed')
    await assert.rejects(allowed().postJson(`http://127.0.0.1:${port + 1 === 65536 ? 1 : port + 1}/inbox`, {}), (err: unknown) => err instanceof FetchError && err.code === 'port_not_allowed')
    assert.deepEqual(seen, [])
  })
})
