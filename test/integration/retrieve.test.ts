// The retrieve API against real daemons and a real origin web server on
// loopback that counts its own hits: a remote attachment is downloaded once
// per node whatever the number of tenants or concurrent requests, a second
// node gets it from the swarm instead of the origin (by the CID in its URL or
// by its digestMultibase), wrong digests and full quotas keep nothing, `key`
// makes a public-read S3 object, the SSRF guard refuses loopback without
// FDN_FETCH_ALLOW, add by hash (HEAD/PUT /api/v1/blobs/{cid}) honours
// Expect: 100-continue both ways, and the tenant signature is checked.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { rm } from 'node:fs/promises'
import { createServer as createNetServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { GetObjectCommand, HeadObjectCommand } from '@aws-sdk/client-s3'
import { Hash } from '@smithy/hash-node'
import { SignatureV4 } from '@smithy/signature-v4'
import { CID } from 'multiformats/cid'
import { base58btc } from 'multiformats/bases/base58'
import { addBytes, adminFetch, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { jpeg, png, sha256Hex } from '../helpers/bytes.ts'
import { quiet, startSwarm, status, stored } from '../helpers/swarm.ts'
import type { SwarmMember } from '../helpers/swarm.ts'
import { createTenant, errorOf, s3Client } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { apiRequest, errorCode, retrieve } from '../helpers/api.ts'
import type { ApiAnswer, ApiCredentials } from '../helpers/api.ts'
import { startOrigin } from '../helpers/origin.ts'
import type { Origin } from '../helpers/origin.ts'
import { digestMultibaseOf, rawCidOfSha256 } from '../../protocol/retrieve-api.ts'
import type { AddBlobResponse, RetrieveResponse } from '../../protocol/retrieve-api.ts'
import type { StatusResponse, TenantView } from '../../protocol/admin-api.ts'

const KiB = 1024



const HTML = Buffer.from('<!doctype html><html><body><script>alert(document.cookie)</script></body></html>')

/** What a file of at most 1 MiB answers to a retrieve: its raw CID, digests, type. */
function factsOf (bytes: Uint8Array, mediaType = 'image/png'): { cid: string, size: number, sha256: string, digestMultibase: string, mediaType: string } {
  const sha256 = sha256Hex(bytes)
  return { cid: rawCidOfSha256(sha256), size: bytes.length, sha256, digestMultibase: digestMultibaseOf(sha256), mediaType }
}

function ok (answer: ApiAnswer, what: string): RetrieveResponse {
  assert.equal(answer.status, 200, `${what}: ${answer.status} ${answer.text}`)
  return answer.json as RetrieveResponse
}

function refused (answer: ApiAnswer, status: number, code: string, what: string): void {
  assert.equal(answer.status, status, `${what}: ${answer.status} ${answer.text}`)
  assert.equal(errorCode(answer), code, `${what}: ${answer.text}`)
  const message = (answer.json as { error: { message?: unknown } }).error.message
  assert.ok(typeof message === 'string' && message.length > 0, `${what}: the error has a message`)
}

async function gatewayBytes (url: string): Promise<Buffer> {
  const response = await fetch(url)
  assert.equal(response.status, 200, `GET ${url}: ${response.status}`)
  return Buffer.from(await response.arrayBuffer())
}

async function tenantView (daemon: RunningDaemon, name: string): Promise<TenantView> {
  const response = await adminFetch(daemon, `/admin/v1/tenants/${name}`)
  assert.equal(response.status, 200, `tenant ${name}: ${response.status}`)
  return await response.json() as TenantView
}

/** Headers of a request signed with SigV4 (service s3) by the SDK's signer, for requests apiRequest does not send. */
async function signedHeaders (baseUrl: string, credentials: ApiCredentials, method: string, path: string, body?: Uint8Array, headers: Record<string, string> = {}): Promise<Record<string, string>> {
  const url = new URL(path, baseUrl)
  const signer = new SignatureV4({ service: 's3', region: 'us-east-1', credentials, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false })
  const signed = await signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query: {},
    headers: { host: url.host, 'x-amz-content-sha256': createHash('sha256').update(body ?? new Uint8Array()).digest('hex'), ...headers }
  })
  return { ...signed.headers as Record<string, string> }
}

interface ContinueAnswer {
  status: number
  /** Whether the server sent `100 Continue`. */
  continued: boolean
  /** Whether the body was written (only after 100 Continue). */
  bodySent: boolean
  json: unknown
}

/**
 * A PUT with `Expect: 100-continue` by node:http, as curl or an SDK sends it:
 * the body goes only after the server's 100 Continue. Gives up after 10 s.
 */
async function putExpectingContinue (baseUrl: string, credentials: ApiCredentials, path: string, body: Uint8Array): Promise<ContinueAnswer> {
  const headers = await signedHeaders(baseUrl, credentials, 'PUT', path, body, { 'content-type': 'application/octet-stream' })
  return await new Promise((resolve, reject) => {
    let continued = false
    let bodySent = false
    const request = httpRequest(new URL(path, baseUrl), {
      method: 'PUT',
      headers: { ...headers, expect: '100-continue', 'content-length': String(body.length) }
    })
    const timer = setTimeout(() => {
      request.destroy()
      reject(new Error(`no final answer within 10 s (100 Continue ${continued ? 'received' : 'never received'})`))
    }, 10_000)
    request.on('continue', () => {
      continued = true
      bodySent = true
      request.end(Buffer.from(body))
    })
    request.on('response', (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        clearTimeout(timer)
        const text = Buffer.concat(chunks).toString()
        let json: unknown
        try { json = JSON.parse(text) } catch { json = text }
        request.destroy()
        resolve({ status: response.statusCode ?? 0, continued, bodySent, json })
      })
    })
    request.on('error', (err) => { clearTimeout(timer); reject(err) })
    request.flushHeaders()
  })
}



/** Whether the node holds a blob, by the retrieve API's HEAD. */
async function holds (daemon: RunningDaemon, tenant: ApiCredentials, cid: string): Promise<boolean> {
  const answer = await apiRequest(daemon.http, tenant, { method: 'HEAD', path: `/api/v1/blobs/${cid}` })
  assert.ok(answer.status === 200 || answer.status === 404, `HEAD ${cid}: ${answer.status}`)
  return answer.status === 200
}

/** A port nothing listens on. */
async function closedPort (): Promise<number> {
  const server = createNetServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return port
}

describe('retrieve API', () => {
  let origin: Origin
  let deadPort: number
  let members: SwarmMember[]
  /** The first media server of the swarm; `b` is the second. */
  let a: RunningDaemon
  let b: RunningDaemon
  /** A node without FDN_FETCH_ALLOW. */
  let guarded: RunningDaemon
  let mastodon: Tenant
  let pixelfed: Tenant
  let small: Tenant
  let misskey: Tenant
  let lonely: Tenant

  const FIRST = png(40 * KiB, 'first')
  const BURST = png(120 * KiB, 'burst')
  const SWARM_PATH = png(60 * KiB, 'swarm-path')
  const SWARM_GATEWAY = png(61 * KiB, 'swarm-gateway')
  const SWARM_SUBDOMAIN = png(62 * KiB, 'swarm-subdomain')
  const SWARM_DIGEST = png(70 * KiB, 'swarm-digest')
  const SWARM_BURST = png(300 * KiB, 'swarm-burst')
  const MISMATCH = png(30 * KiB, 'mismatch')
  const KEYED = jpeg(50 * KiB, 'keyed')
  const OVER_QUOTA = png(50 * KiB, 'over-quota')
  const BY_CID = png(33 * KiB, 'by-cid')
  const LYING_GATEWAY = png(34 * KiB, 'lying-gateway')

  before(async () => {
    origin = await startOrigin({
      '/media/first.png': { body: FIRST, contentType: 'image/png' },
      '/media/burst.png': {
        // slow to answer, so that all concurrent requests are in flight together
        handle: (_req, res) => {
          setTimeout(() => { res.writeHead(200, { 'content-type': 'image/png', 'content-length': String(BURST.length) }).end(BURST) }, 700)
        }
      },
      '/media/swarm-path.png': { body: SWARM_PATH, contentType: 'image/png' },
      '/media/swarm-gateway.png': { body: SWARM_GATEWAY, contentType: 'image/png' },
      '/media/swarm-subdomain.png': { body: SWARM_SUBDOMAIN, contentType: 'image/png' },
      '/media/swarm-digest.png': { body: SWARM_DIGEST, contentType: 'image/png' },
      '/media/swarm-burst.png': { body: SWARM_BURST, contentType: 'image/png' },
      '/media/mismatch.png': { body: MISMATCH, contentType: 'image/png' },
      '/media/keyed.jpg': { body: KEYED, contentType: 'image/jpeg' },
      '/media/over-quota.png': { body: OVER_QUOTA, contentType: 'image/png' },
      [`/ipfs/${factsOf(BY_CID).cid}`]: { body: BY_CID, contentType: 'image/png' },
      // a gateway that answers other bytes than the CID it is asked for
      [`/ipfs/${factsOf(png(34 * KiB, 'what-was-asked')).cid}`]: { body: LYING_GATEWAY, contentType: 'image/png' },
      '/media/page.html': { body: HTML, contentType: 'image/png' }
    })
    deadPort = await closedPort()
    const env = {
      FDN_FETCH_ALLOW: '127.0.0.0/8',
      FDN_FETCH_PORTS: `80,443,${origin.port},${deadPort}`,
      FDN_ORIGIN_TIMEOUT: '10s',
      FDN_ORIGIN_CONNECT_TIMEOUT: '2s',
      FDN_ORIGIN_MAX_SIZE: '1MB',
      // one copy per blob: the second node holds nothing of the first's unless it fetches it
      FDN_REPLICAS: '1',
      FDN_FETCH_TIMEOUT: '3s',
      // peers are pinged (and seen healthy, which startSwarm waits for) every repair interval
      FDN_REPAIR_INTERVAL: '1s'
    }
    members = await startSwarm(2, env)
    a = members[0]!.daemon
    b = members[1]!.daemon
    guarded = await startDaemon({ env: { FDN_FETCH_PORTS: `80,443,${origin.port}`, FDN_REPLICAS: '1', FDN_FETCH_TIMEOUT: '3s' } })
    mastodon = await createTenant(a, 'mastodon')
    pixelfed = await createTenant(a, 'pixelfed')
    small = await createTenant(a, 'small', { quota: 10_000 })
    misskey = await createTenant(b, 'misskey')
    lonely = await createTenant(guarded, 'lonely')
  })

  after(async () => {
    await Promise.all([...(members ?? []).map(async member => await member.daemon.stop()), guarded?.stop()])
    await origin?.close()
    await Promise.all([...(members ?? []).map(member => member.dataDir), guarded?.dataDir].filter(dir => dir != null).map(async dir => await rm(dir, { recursive: true, force: true })))
  })

  describe('from the origin, once per node', () => {
    it('downloads a new URL once: source origin, one hit, the gateway URL serves the same bytes', async () => {
      const url = `${origin.url}/media/first.png`
      assert.equal(await holds(a, mastodon, factsOf(FIRST).cid), false)
      const before = await status(a)
      const answer = ok(await retrieve(a.http, mastodon, { url }), 'first retrieve')
      assert.deepEqual(answer, { ...factsOf(FIRST), url: `${a.http}/ipfs/${factsOf(FIRST).cid}`, source: 'origin' })
      assert.equal(origin.hits('/media/first.png'), 1)
      assert.deepEqual(await gatewayBytes(answer.url), FIRST)
      const after = await status(a)
      assert.equal(after.retrieve.origin - before.retrieve.origin, 1)
      assert.equal(after.retrieve.originFetches - before.retrieve.originFetches, 1)
      assert.equal(after.retrieve.originBytes - before.retrieve.originBytes, FIRST.length, 'body bytes of the one download')
      assert.ok(after.retrieve.originWireBytes - before.retrieve.originWireBytes > FIRST.length, 'wire bytes include the status line and headers')
      assert.equal(await holds(a, mastodon, answer.cid), true)
      // the tenant that caused the download holds it
      assert.ok((await tenantView(a, 'mastodon')).logicalBytes >= FIRST.length)

      // again, same tenant: from the URL cache
      const again = ok(await retrieve(a.http, mastodon, { url }), 'second retrieve')
      assert.equal(again.source, 'local')
      assert.equal(again.cid, answer.cid)
      assert.equal(origin.hits('/media/first.png'), 1)
    })

    it('gives another tenant of the same node the same URL without downloading it (source local)', async () => {
      const url = `${origin.url}/media/first.png`
      const kept = await quiet(a)
      const before = await status(a)
      const answer = ok(await retrieve(a.http, pixelfed, { url }), 'other tenant')
      assert.deepEqual(answer, { ...factsOf(FIRST), url: `${a.http}/ipfs/${factsOf(FIRST).cid}`, source: 'local' })
      // the same URL spelled with a fragment and the default form of its host is the same cache entry
      const spelled = ok(await retrieve(a.http, pixelfed, { url: `${url}#attachment-1` }), 'with a fragment')
      assert.equal(spelled.source, 'local')
      assert.equal(spelled.cid, answer.cid)
      assert.equal(origin.hits('/media/first.png'), 1, 'still one download')
      const after = await status(a)
      assert.equal(after.retrieve.local - before.retrieve.local, 2)
      assert.equal(after.retrieve.originFetches, before.retrieve.originFetches)
      assert.deepEqual(await stored(a), kept, 'nothing new on disk')
    })

    it('downloads a URL asked for by 20 concurrent requests once: one hit, one CID for all', async () => {
      const url = `${origin.url}/media/burst.png`
      const before = await status(a)
      const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => await retrieve(a.http, i % 2 === 0 ? mastodon : pixelfed, { url })))
      const bodies = answers.map((answer, i) => ok(answer, `request ${i}`))
      assert.equal(origin.hits('/media/burst.png'), 1, 'one download for 20 requests')
      assert.deepEqual(new Set(bodies.map(body => body.cid)), new Set([factsOf(BURST).cid]))
      for (const body of bodies) assert.ok(body.source === 'origin' || body.source === 'local', body.source)
      assert.ok(bodies.some(body => body.source === 'origin'))
      const after = await status(a)
      assert.equal(after.retrieve.originFetches - before.retrieve.originFetches, 1)
      assert.equal(after.retrieve.originBytes - before.retrieve.originBytes, BURST.length)
      assert.equal(await holds(a, mastodon, factsOf(BURST).cid), true)
      assert.equal((after.retrieve.origin + after.retrieve.local) - (before.retrieve.origin + before.retrieve.local), 20)
      assert.deepEqual(await gatewayBytes(bodies[0]!.url), BURST)
    })

    it('downloads an /ipfs/{cid} URL nobody in the swarm has from that gateway, verified against its CID', async () => {
      const facts = factsOf(BY_CID)
      const url = `${origin.url}/ipfs/${facts.cid}`
      const answer = ok(await retrieve(a.http, mastodon, { url }), 'by CID from its gateway')
      assert.deepEqual(answer, { ...facts, url: `${a.http}/ipfs/${facts.cid}`, source: 'origin' })
      assert.equal(origin.hits(`/ipfs/${facts.cid}`), 1)
      assert.deepEqual(await gatewayBytes(answer.url), BY_CID)
    })

    it('refuses what a gateway answers for a CID when the bytes are not that CID (digest_mismatch), keeping nothing', async () => {
      const asked = factsOf(png(34 * KiB, 'what-was-asked')).cid
      const kept = await quiet(a)
      refused(await retrieve(a.http, mastodon, { url: `${origin.url}/ipfs/${asked}` }), 422, 'digest_mismatch', 'a lying gateway')
      assert.equal(origin.hits(`/ipfs/${asked}`), 1)
      assert.deepEqual(await stored(a), kept)
      assert.equal(await holds(a, mastodon, factsOf(LYING_GATEWAY).cid), false, 'the bytes it sent are not kept under their own CID either')
    })

    it('refuses bytes that are not media whatever their label (media_type_not_allowed), keeping nothing', async () => {
      const kept = await quiet(a)
      refused(await retrieve(a.http, mastodon, { url: `${origin.url}/media/page.html` }), 415, 'media_type_not_allowed', 'HTML labelled image/png')
      assert.deepEqual(await stored(a), kept)
    })

    it('answers fetch failures with the fetcher\'s code: connect_failed, http_status, port_not_allowed', async () => {
      refused(await retrieve(a.http, mastodon, { url: `http://127.0.0.1:${deadPort}/media/gone.png` }), 502, 'connect_failed', 'nothing listens')
      refused(await retrieve(a.http, mastodon, { url: `${origin.url}/media/missing.png` }), 502, 'http_status', 'a 404')
      assert.equal(origin.hits('/media/missing.png'), 1)
      refused(await retrieve(a.http, mastodon, { url: 'http://127.0.0.1:22/media/a.png' }), 400, 'port_not_allowed', 'port 22')
      refused(await retrieve(a.http, mastodon, { url: 'file:///etc/passwd' }), 400, 'scheme_not_allowed', 'file:')
    })
  })

  describe('from the swarm', () => {
    it('gets an /ipfs/{cid} URL from a peer, with the URL at a dead host, at the first node\'s gateway or on a subdomain gateway: no origin hit', async () => {
      const cases = [
        { path: '/media/swarm-path.png', bytes: SWARM_PATH, url: (cid: string) => `http://127.0.0.1:9/ipfs/${cid}` },
        { path: '/media/swarm-gateway.png', bytes: SWARM_GATEWAY, url: (cid: string) => `${a.http}/ipfs/${cid}` },
        { path: '/media/swarm-subdomain.png', bytes: SWARM_SUBDOMAIN, url: (cid: string) => `http://${cid}.ipfs.localhost:${deadPort}/photo.png` }
      ]
      for (const item of cases) {
        const facts = factsOf(item.bytes)
        ok(await retrieve(a.http, mastodon, { url: `${origin.url}${item.path}` }), `the first node downloads ${item.path}`)
        assert.equal(origin.hits(item.path), 1)
        const before = await status(b)
        const answer = ok(await retrieve(b.http, misskey, { url: item.url(facts.cid) }), `the second node resolves ${item.url(facts.cid)}`)
        assert.deepEqual(answer, { ...facts, url: `${b.http}/ipfs/${facts.cid}`, source: 'swarm' }, item.path)
        assert.equal(origin.hits(item.path), 1, `${item.path}: no second download`)
        const after = await status(b)
        assert.equal(after.retrieve.swarm - before.retrieve.swarm, 1)
        assert.equal(after.retrieve.originFetches, before.retrieve.originFetches, 'the second node asked no origin')
        assert.ok(after.swarm.receivedBytes - before.swarm.receivedBytes >= facts.size, `received ${after.swarm.receivedBytes - before.swarm.receivedBytes} bytes from peers`)
        assert.deepEqual(await gatewayBytes(answer.url), item.bytes, 'the second node serves it')
        // asked again, the second node has it
        assert.equal(ok(await retrieve(b.http, misskey, { url: item.url(facts.cid) }), 'again').source, 'local')
      }
    })

    it('gets a plain origin URL with its digestMultibase from a peer: origin hits unchanged', async () => {
      const facts = factsOf(SWARM_DIGEST)
      const url = `${origin.url}/media/swarm-digest.png`
      ok(await retrieve(a.http, mastodon, { url }), 'the first node downloads it')
      assert.equal(origin.hits('/media/swarm-digest.png'), 1)
      const before = await status(b)
      const answer = ok(await retrieve(b.http, misskey, { url, digestMultibase: facts.digestMultibase }), 'the second node, with the digest')
      assert.deepEqual(answer, { ...facts, url: `${b.http}/ipfs/${facts.cid}`, source: 'swarm' })
      assert.equal(origin.hits('/media/swarm-digest.png'), 1)
      const after = await status(b)
      assert.equal(after.retrieve.originFetches, before.retrieve.originFetches)
      assert.deepEqual(await gatewayBytes(answer.url), SWARM_DIGEST)
    })

    it('shares one swarm fetch between concurrent requests for the same CID', async () => {
      const facts = factsOf(SWARM_BURST)
      ok(await retrieve(a.http, mastodon, { url: `${origin.url}/media/swarm-burst.png` }), 'the first node downloads it')
      const before = await status(b)
      const answers = await Promise.all(Array.from({ length: 8 }, async () => await retrieve(b.http, misskey, { url: `http://127.0.0.1:9/ipfs/${facts.cid}` })))
      for (const [i, answer] of answers.entries()) {
        const body = ok(answer, `request ${i}`)
        assert.equal(body.cid, facts.cid)
        assert.ok(body.source === 'swarm' || body.source === 'local', body.source)
      }
      const after = await status(b)
      const received = after.swarm.receivedBytes - before.swarm.receivedBytes
      assert.ok(received >= facts.size && received < 2 * facts.size, `received ${received} bytes for one ${facts.size}-byte blob asked 8 times`)
      assert.equal(after.retrieve.originFetches, before.retrieve.originFetches)
      assert.equal(origin.hits('/media/swarm-burst.png'), 1)
    })

    it('falls back to the origin for a CID URL no peer has: a dead host fails with connect_failed after the swarm misses', async () => {
      const nobody = factsOf(png(20 * KiB, 'nobody has this'))
      const before = await status(b)
      refused(await retrieve(b.http, misskey, { url: `http://127.0.0.1:${deadPort}/ipfs/${nobody.cid}` }), 502, 'connect_failed', 'nobody has it')
      const after = await status(b)
      assert.equal(after.retrieve.originFetches - before.retrieve.originFetches, 1)
      assert.equal(after.retrieve.failed - before.retrieve.failed, 1)
    })
  })

  describe('what is kept', () => {
    it('refuses a download that does not match digestMultibase (digest_mismatch) and keeps nothing; the right digest works after', async () => {
      const url = `${origin.url}/media/mismatch.png`
      const facts = factsOf(MISMATCH)
      const wrong = digestMultibaseOf(sha256Hex(png(30 * KiB, 'something else')))
      const kept = await quiet(a)
      const before = await status(a)
      refused(await retrieve(a.http, mastodon, { url, digestMultibase: wrong }), 422, 'digest_mismatch', 'a wrong digest')
      assert.equal(origin.hits('/media/mismatch.png'), 1, 'downloaded to be checked')
      assert.deepEqual(await stored(a), kept, 'no block, no blob kept')
      assert.equal((await status(a)).retrieve.failed - before.retrieve.failed, 1)
      assert.equal(await holds(a, mastodon, facts.cid), false)

      // the URL cache was not filled: the right digest (and none) download it again
      const right = ok(await retrieve(a.http, mastodon, { url, digestMultibase: facts.digestMultibase }), 'the right digest')
      assert.deepEqual(right, { ...facts, url: `${a.http}/ipfs/${facts.cid}`, source: 'origin' })
      assert.equal(origin.hits('/media/mismatch.png'), 2)
      // a wrong digest for a URL now cached is still refused
      refused(await retrieve(a.http, mastodon, { url, digestMultibase: wrong }), 422, 'digest_mismatch', 'a wrong digest for a cached URL')
      assert.equal(await holds(a, mastodon, facts.cid), true)
    })

    it('refuses a malformed digestMultibase before anything is fetched (invalid_digest)', async () => {
      const url = `${origin.url}/media/first.png`
      const hits = origin.hits('/media/first.png')
      refused(await retrieve(a.http, mastodon, { url, digestMultibase: 'zNotAMultihash' }), 400, 'invalid_digest', 'garbage')
      refused(await retrieve(a.http, mastodon, { url, digestMultibase: `f1320${'ab'.repeat(32)}` }), 400, 'invalid_digest', 'sha2-512 code')
      assert.equal(origin.hits('/media/first.png'), hits)
    })

    it('stores `key` as a public-read object of the tenant\'s bucket, readable through S3 and without credentials', async () => {
      const facts = factsOf(KEYED, 'image/jpeg')
      const key = 'cache/media_attachments/files/110/000/001/original/keyed.jpg'
      const before = await status(a)
      const answer = ok(await retrieve(a.http, mastodon, { url: `${origin.url}/media/keyed.jpg`, key, actor: 'https://remote.example/users/bob', status: 'https://remote.example/users/bob/statuses/1' }), 'with a key')
      assert.deepEqual(answer, { ...facts, url: `${a.http}/ipfs/${facts.cid}`, source: 'origin', key })
      assert.equal(origin.hits('/media/keyed.jpg'), 1)
      const s3 = s3Client(a, mastodon)
      try {
        const object = await s3.send(new GetObjectCommand({ Bucket: mastodon.bucket, Key: key }))
        assert.deepEqual(Buffer.from(await object.Body!.transformToByteArray()), KEYED)
        assert.equal(object.ContentLength, KEYED.length)
        assert.equal(object.ContentType, 'image/jpeg')
      } finally {
        s3.destroy()
      }
      const anonymous = await fetch(`${a.http}/${mastodon.bucket}/${key}`)
      assert.equal(anonymous.status, 200, 'public-read: readable without credentials')
      assert.deepEqual(Buffer.from(await anonymous.arrayBuffer()), KEYED)
      assert.equal((await status(a)).objects - before.objects, 1)

      // a blob already here, under a key of another tenant: no download, the object appears
      const otherKey = 'remote/first.png'
      const local = ok(await retrieve(a.http, pixelfed, { url: `${origin.url}/media/first.png`, key: otherKey }), 'a local blob with a key')
      assert.equal(local.source, 'local')
      assert.equal(local.key, otherKey)
      assert.equal(origin.hits('/media/first.png'), 1)
      const other = await fetch(`${a.http}/${pixelfed.bucket}/${otherKey}`)
      assert.equal(other.status, 200)
      assert.deepEqual(Buffer.from(await other.arrayBuffer()), FIRST)
      // and only in that tenant's bucket
      const s3p = s3Client(a, pixelfed)
      try {
        assert.deepEqual(await errorOf(s3p.send(new HeadObjectCommand({ Bucket: pixelfed.bucket, Key: key }))), { name: 'NotFound', status: 404 })
      } finally {
        s3p.destroy()
      }
    })

    it('refuses media over the tenant\'s quota (quota_exceeded) and keeps nothing; others are not affected', async () => {
      const facts = factsOf(OVER_QUOTA)
      const url = `${origin.url}/media/over-quota.png`
      const kept = await quiet(a)
      refused(await retrieve(a.http, small, { url }), 403, 'quota_exceeded', 'a 50 KiB download for a 10 kB quota')
      assert.deepEqual(await stored(a), kept, 'no block, no blob kept')
      assert.equal(await holds(a, small, facts.cid), false)

      // a blob already here, stored under a key: counts too
      refused(await retrieve(a.http, small, { url: `${origin.url}/media/first.png`, key: 'first.png' }), 403, 'quota_exceeded', 'a 40 KiB object for a 10 kB quota')
      assert.notEqual((await fetch(`${a.http}/${small.bucket}/first.png`)).status, 200, 'no object made')
      const s3 = s3Client(a, small)
      try {
        assert.deepEqual(await errorOf(s3.send(new HeadObjectCommand({ Bucket: small.bucket, Key: 'first.png' }))), { name: 'NotFound', status: 404 })
      } finally {
        s3.destroy()
      }
      assert.equal((await tenantView(a, 'small')).logicalBytes, 0)
      assert.equal(origin.hits('/media/first.png'), 1)

      // a blob already here, without a key, is not stored for the tenant: allowed
      assert.equal(ok(await retrieve(a.http, small, { url: `${origin.url}/media/first.png` }), 'a local blob without key').source, 'local')
      assert.equal((await tenantView(a, 'small')).logicalBytes, 0)

      // the refused URL was not cached: a tenant with room downloads it
      const hits = origin.hits('/media/over-quota.png')
      assert.equal(ok(await retrieve(a.http, mastodon, { url }), 'a tenant without quota').source, 'origin')
      assert.equal(origin.hits('/media/over-quota.png'), hits + 1)
    })

    it('refuses a loopback origin on a node without FDN_FETCH_ALLOW (address_not_allowed), never connecting', async () => {
      const hits = origin.hits('/media/first.png')
      const kept = await quiet(guarded)
      refused(await retrieve(guarded.http, lonely, { url: `${origin.url}/media/first.png` }), 403, 'address_not_allowed', '127.0.0.1')
      refused(await retrieve(guarded.http, lonely, { url: `http://localhost:${origin.port}/media/first.png` }), 403, 'address_not_allowed', 'localhost')
      assert.equal(origin.hits('/media/first.png'), hits, 'the origin saw nothing')
      assert.deepEqual(await stored(guarded), kept)
      const s = await status(guarded)
      assert.equal(s.retrieve.failed, 2)
      assert.equal(s.retrieve.originBytes, 0)
      assert.equal((await fetch(`${guarded.http}/healthz`)).status, 200)
    })
  })

  describe('add by hash', () => {
    it('HEAD /api/v1/blobs/{cid}: 200 with the size and media type when held, 404 when not, 400 for a malformed CID', async () => {
      const facts = factsOf(FIRST)
      const held = await apiRequest(a.http, mastodon, { method: 'HEAD', path: `/api/v1/blobs/${facts.cid}` })
      assert.equal(held.status, 200)
      assert.equal(held.headers.get('content-length'), String(facts.size))
      assert.equal(held.headers.get('x-fdn-media-type'), 'image/png')
      assert.equal(held.text, '', 'HEAD has no body')
      // any spelling of the CID
      for (const spelling of [facts.cid.toUpperCase(), CID.parse(facts.cid).toString(base58btc)]) {
        assert.equal((await apiRequest(a.http, mastodon, { method: 'HEAD', path: `/api/v1/blobs/${spelling}` })).status, 200, spelling)
      }
      assert.equal((await apiRequest(a.http, mastodon, { method: 'HEAD', path: `/api/v1/blobs/${factsOf(png(1000, 'never added')).cid}` })).status, 404)
      assert.equal((await apiRequest(a.http, mastodon, { method: 'HEAD', path: '/api/v1/blobs/notacid' })).status, 400)
      assert.equal((await fetch(`${a.http}/api/v1/blobs/${facts.cid}`, { method: 'HEAD' })).status, 401, 'unsigned')
    })

    it('PUT /api/v1/blobs/{cid}: 201 when stored, 200 created:false when already held; the body must be that CID', async () => {
      const bytes = png(80 * KiB, 'added by hash')
      const facts = factsOf(bytes)
      const path = `/api/v1/blobs/${facts.cid}`
      const created = await apiRequest(a.http, mastodon, { method: 'PUT', path, body: bytes, headers: { 'content-type': 'application/octet-stream' } })
      assert.equal(created.status, 201, created.text)
      assert.deepEqual(created.json as AddBlobResponse, { ...facts, url: `${a.http}/ipfs/${facts.cid}`, created: true })
      assert.deepEqual(await gatewayBytes(`${a.http}/ipfs/${facts.cid}`), bytes)
      const head = await apiRequest(a.http, mastodon, { method: 'HEAD', path })
      assert.equal(head.status, 200)
      const again = await apiRequest(a.http, pixelfed, { method: 'PUT', path, body: bytes, headers: { 'content-type': 'application/octet-stream' } })
      assert.equal(again.status, 200, again.text)
      assert.deepEqual(again.json as AddBlobResponse, { ...facts, url: `${a.http}/ipfs/${facts.cid}`, created: false })

      // a file of several 1 MiB chunks: its CID is the DAG root another node computes
      const large = png(Math.floor(2.5 * 1024 * KiB), 'large added by hash')
      const largeCid = (await addBytes(guarded, large)).cid
      assert.match(largeCid, /^bafybei/)
      const stored = await apiRequest(a.http, mastodon, { method: 'PUT', path: `/api/v1/blobs/${largeCid}`, body: large, headers: { 'content-type': 'application/octet-stream' } })
      assert.equal(stored.status, 201, stored.text)
      assert.equal((stored.json as AddBlobResponse).cid, largeCid)
      assert.equal((stored.json as AddBlobResponse).size, large.length)
      assert.equal((stored.json as AddBlobResponse).sha256, sha256Hex(large))
      assert.deepEqual(await gatewayBytes(`${a.http}/ipfs/${largeCid}`), large)
    })

    it('PUT with a body that is not the CID: digest_mismatch (422), nothing kept', async () => {
      const claimed = factsOf(png(20 * KiB, 'the claimed file'))
      const sent = png(20 * KiB, 'the sent file')
      const kept = await quiet(a)
      const answer = await apiRequest(a.http, mastodon, { method: 'PUT', path: `/api/v1/blobs/${claimed.cid}`, body: sent, headers: { 'content-type': 'application/octet-stream' } })
      refused(answer, 422, 'digest_mismatch', 'a body of other bytes')
      assert.deepEqual(await stored(a), kept)
      for (const cid of [claimed.cid, factsOf(sent).cid]) assert.equal(await holds(a, mastodon, cid), false, cid)
      // not media, under its own true CID: refused too
      const html = factsOf(HTML)
      refused(await apiRequest(a.http, mastodon, { method: 'PUT', path: `/api/v1/blobs/${html.cid}`, body: HTML }), 415, 'media_type_not_allowed', 'HTML by hash')
      assert.deepEqual(await stored(a), kept)
      assert.equal(await holds(a, mastodon, html.cid), false)
      refused(await apiRequest(a.http, mastodon, { method: 'PUT', path: '/api/v1/blobs/notacid', body: sent }), 400, 'invalid_cid', 'a malformed CID')
    })

    it('Expect: 100-continue for a blob already held: the final 200 at once, no 100 Continue, the body never sent', async () => {
      const facts = factsOf(FIRST)
      const answer = await putExpectingContinue(a.http, pixelfed, `/api/v1/blobs/${facts.cid}`, FIRST)
      assert.equal(answer.continued, false, 'the server must not ask for the body')
      assert.equal(answer.bodySent, false)
      assert.equal(answer.status, 200, JSON.stringify(answer.json))
      assert.deepEqual(answer.json, { ...facts, url: `${a.http}/ipfs/${facts.cid}`, created: false })
      // the node still answers after a request whose body never came
      assert.equal((await fetch(`${a.http}/healthz`)).status, 200)
    })

    it('Expect: 100-continue for a new blob: 100 Continue, then the body is read and stored (201)', async () => {
      const bytes = png(200 * KiB, 'sent after continue')
      const facts = factsOf(bytes)
      const answer = await putExpectingContinue(a.http, mastodon, `/api/v1/blobs/${facts.cid}`, bytes)
      assert.equal(answer.continued, true, 'the server asks for the body')
      assert.equal(answer.status, 201, JSON.stringify(answer.json))
      assert.deepEqual(answer.json, { ...facts, url: `${a.http}/ipfs/${facts.cid}`, created: true })
      assert.deepEqual(await gatewayBytes(`${a.http}/ipfs/${facts.cid}`), bytes)
      // a wrong body after 100 Continue is refused like any other
      const claimed = factsOf(png(10 * KiB, 'claimed after continue'))
      const wrong = await putExpectingContinue(a.http, mastodon, `/api/v1/blobs/${claimed.cid}`, png(10 * KiB, 'other after continue'))
      assert.equal(wrong.continued, true)
      assert.equal(wrong.status, 422)
      assert.equal((wrong.json as { error: { code: string } }).error.code, 'digest_mismatch')
    })
  })

  describe('authentication and bad requests', () => {
    const url = (): string => `${origin.url}/media/auth.png`

    it('refuses a request without Authorization (401 unauthorized)', async () => {
      const response = await fetch(`${a.http}/api/v1/retrieve`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ url: url() }) })
      assert.equal(response.status, 401)
      assert.equal(((await response.json()) as { error: { code: string } }).error.code, 'unauthorized')
    })

    it('refuses an unknown access key (403 invalid_access_key) and a wrong secret (403 signature_mismatch)', async () => {
      refused(await retrieve(a.http, { accessKeyId: 'FDNNOSUCHKEY000000000', secretAccessKey: mastodon.secretAccessKey }, { url: url() }), 403, 'invalid_access_key', 'unknown key')
      refused(await retrieve(a.http, { accessKeyId: mastodon.accessKeyId, secretAccessKey: `${mastodon.secretAccessKey}x` }, { url: url() }), 403, 'signature_mismatch', 'wrong secret')
      // the keys of one node are not the keys of another
      refused(await retrieve(b.http, mastodon, { url: url() }), 403, 'invalid_access_key', 'a tenant of another node')
    })

    it('refuses a body changed after signing, and does nothing it asks', async () => {
      const signedBody = Buffer.from(JSON.stringify({ url: url() }))
      const sentBody = Buffer.from(JSON.stringify({ url: `${origin.url}/media/first-tampered.png` }))
      const headers = await signedHeaders(a.http, mastodon, 'POST', '/api/v1/retrieve', signedBody, { 'content-type': 'application/json' })
      delete headers.host
      const response = await fetch(`${a.http}/api/v1/retrieve`, { method: 'POST', headers, body: sentBody })
      const body = await response.json() as { error?: { code?: string } }
      assert.ok(response.status === 400 || response.status === 403, `status ${response.status}`)
      assert.ok(typeof body.error?.code === 'string' && body.error.code !== '', JSON.stringify(body))
      assert.equal(origin.hits('/media/first-tampered.png'), 0)
      assert.equal(origin.hits('/media/auth.png'), 0)
    })

    it('refuses malformed JSON, an unknown field, a missing url (400 invalid_request) and a body over 16 KiB (413 too_large)', async () => {
      const post = async (body: string): Promise<ApiAnswer> => await apiRequest(a.http, mastodon, { method: 'POST', path: '/api/v1/retrieve', body, headers: { 'content-type': 'application/json' } })
      refused(await post('{"url": '), 400, 'invalid_request', 'truncated JSON')
      refused(await post('not json at all'), 400, 'invalid_request', 'not JSON')
      refused(await post(''), 400, 'invalid_request', 'empty body')
      refused(await post(JSON.stringify({ url: url(), bucket: 'x' })), 400, 'invalid_request', 'unknown field')
      refused(await post(JSON.stringify({ key: 'a.png' })), 400, 'invalid_request', 'no url')
      refused(await post(JSON.stringify({ url: '/media/auth.png' })), 400, 'invalid_request', 'a relative url')
      refused(await post(JSON.stringify([url()])), 400, 'invalid_request', 'an array')
      refused(await post(JSON.stringify({ url: url(), actor: 'x'.repeat(17 * KiB) })), 413, 'too_large', 'a 17 KiB body')
      assert.equal(origin.hits('/media/auth.png'), 0)
      assert.equal((await fetch(`${a.http}/healthz`)).status, 200)
    })

    it('keeps every node answering after all of the above', async () => {
      for (const daemon of [a, b, guarded]) {
        assert.equal((await fetch(`${daemon.http}/healthz`)).status, 200)
        const s: StatusResponse = await status(daemon)
        assert.ok(s.retrieve.failed > 0, 'refusals are counted')
      }
    })
  })
})
