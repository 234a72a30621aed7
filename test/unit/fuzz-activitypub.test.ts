// Fuzzing what the ActivityPub inbox reads: the shape check of an activity
// (protocol/activitypub.ts), the media of relayed posts
// (protocol/ap-attachments.ts), and HTTP signatures
// (node/activitypub/http-signatures.ts) with the key documents they name
// (node/activitypub/keys.ts). Signed requests are made by independent
// libraries (Fedify, and Misskey's for the RFC 9421 Ed25519 base); a changed
// request verifies only if it still says the same; every refusal is a
// SignatureError (401) or the inbox's invalid_request (400), never anything else.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { signRequest as fedifySignRequest } from '@fedify/fedify/sig'
import { exportMultibaseKey } from '@fedify/vocab-runtime'
import { RFC9421SignatureBaseFactory } from '@misskey-dev/node-http-message-signatures'
import { SignatureError, SignatureVerifier } from '../../node/activitypub/http-signatures.ts'
import type { IncomingSignedRequest } from '../../node/activitypub/http-signatures.ts'
import { KeyResolver } from '../../node/activitypub/keys.ts'
import { idOf, isHttpUri, parseActivity, sameOrigin, withinDepth } from '../../protocol/activitypub.ts'
import { MAX_ATTACHMENT_URL_LENGTH, MAX_ATTACHMENTS, relayedPost } from '../../protocol/ap-attachments.ts'
import { assertJsonRefusal, assertTyped, FUZZ_SEED, fc, fuzz, fuzzAsync, junkJson, junkText, mutateJson, mutateString, refusedOr, refusedOrAsync } from '../helpers/fuzz.ts'

const HOST = 'social.example'
const ACTOR = `https://${HOST}/users/alice`
const RSA_KEY_ID = `${ACTOR}#main-key`
const ED_KEY_ID = `${ACTOR}#ed25519-key`
const INBOX = 'https://fdn.example/inbox'

// ---------------------------------------------------------------------------
// Activities and relayed posts

const httpUrlArb = fc.oneof(
  fc.webUrl({ validSchemes: ['https', 'http'], withQueryParameters: true }),
  fc.constantFrom(ACTOR, `https://${HOST}/media/a.png`, 'https://[::1]/x', 'http://a.example:8080/p?q#f')
)
const mediaTypeArb = fc.constantFrom('image/png', 'video/mp4', 'audio/ogg', 'text/html', 'Image/PNG; q=1', '', 'image')
const linkArb = fc.oneof(httpUrlArb, fc.record({ type: fc.constant('Link'), href: httpUrlArb, mediaType: fc.option(mediaTypeArb, { nil: undefined }) }, { requiredKeys: ['type', 'href'] }))
const attachmentArb = fc.record({
  type: fc.constantFrom('Document', 'Image', 'Video', 'Link'),
  mediaType: fc.option(mediaTypeArb, { nil: undefined }),
  url: fc.oneof(linkArb, fc.array(linkArb, { maxLength: 3 })),
  digestMultibase: fc.option(fc.string({ maxLength: 50 }), { nil: undefined })
}, { requiredKeys: ['type', 'url'] })
const noteArb = fc.record({
  id: httpUrlArb,
  type: fc.constantFrom('Note', 'Article', 'Question', 'Video', ['Note', 'as:Note'], 'https://www.w3.org/ns/activitystreams#Note'),
  attributedTo: fc.oneof(httpUrlArb, fc.array(fc.oneof(httpUrlArb, fc.record({ id: httpUrlArb })), { maxLength: 3 })),
  attachment: fc.oneof(attachmentArb, fc.array(attachmentArb, { maxLength: 20 }))
})
const activityArb = fc.oneof(
  fc.record({ type: fc.constant('Create'), id: httpUrlArb, actor: fc.oneof(httpUrlArb, fc.record({ id: httpUrlArb })), object: noteArb }),
  fc.record({ type: fc.constant('Announce'), id: httpUrlArb, actor: httpUrlArb, object: fc.oneof(noteArb, httpUrlArb, fc.record({ type: fc.constant('Create'), actor: httpUrlArb, object: noteArb })) }),
  fc.record({ type: fc.constantFrom('Delete', 'Follow', 'Undo', 'Accept'), id: httpUrlArb, actor: httpUrlArb, object: fc.oneof(httpUrlArb, fc.record({ id: httpUrlArb, type: fc.constant('Tombstone') })) })
)
/** As the inbox sees an activity: the JSON of a body, so objects are plain and `__proto__` is a field. */
const asReceived = (value: unknown): unknown => JSON.parse(JSON.stringify(value))

describe('fuzz ActivityPub shapes', () => {
  it('parseActivity: an activity with its type and actor, or invalid_request (400)', () => {
    const value = fc.oneof(
      { weight: 3, arbitrary: mutateJson(activityArb.map(asReceived), 3) },
      { weight: 1, arbitrary: activityArb.map(asReceived) },
      { weight: 1, arbitrary: junkJson }
    )
    fuzz(value, (v) => {
      const activity = refusedOr(() => parseActivity(v), (err) => assert.equal(assertJsonRefusal(err).code, 'invalid_request'))
      if (activity === undefined) return
      assert.ok(isHttpUri(activity.actor))
      assert.ok(activity.type.length > 0 && activity.type.length <= 64)
      if (activity.objectId !== undefined) assert.ok(isHttpUri(activity.objectId))
    })
  })

  it('withinDepth never overflows the stack, however deep the JSON', () => {
    const depthArb = fc.oneof({ weight: 20, arbitrary: fc.integer({ min: 0, max: 80 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 50_000 }) })
    fuzz(fc.tuple(depthArb, fc.boolean(), fc.integer({ min: 1, max: 64 })), ([depth, arrays, max]) => {
      let value: unknown = 'leaf'
      for (let i = 0; i < depth; i++) value = arrays ? [value] : { a: value }
      assert.equal(withinDepth(value, max), depth <= max)
    })
  })

  it('relayedPost never throws; what it finds is bounded, fetchable and from the post', () => {
    const value = fc.oneof(
      { weight: 2, arbitrary: activityArb.map(asReceived) },
      { weight: 3, arbitrary: mutateJson(activityArb.map(asReceived), 3) },
      { weight: 1, arbitrary: junkJson }
    )
    fuzz(value, (v) => {
      const post = relayedPost(v)
      if (post === undefined) return
      assert.ok(post.attachments.length > 0 && post.attachments.length <= MAX_ATTACHMENTS)
      assert.ok(isHttpUri(post.actor) || URL.canParse(post.actor))
      const urls = new Set<string>()
      for (const a of post.attachments) {
        assert.ok(a.url.length <= MAX_ATTACHMENT_URL_LENGTH)
        assert.ok(/^https?:$/.test(new URL(a.url).protocol))
        assert.ok(!urls.has(a.url), 'an attachment twice')
        urls.add(a.url)
        assert.ok(JSON.stringify(v).includes(JSON.stringify(a.url).slice(1, -1)), 'an attachment URL not in the activity')
      }
    })
  })

  it('URIs and origins: isHttpUri, idOf and sameOrigin take any input without throwing', () => {
    fuzz(fc.tuple(fc.oneof(httpUrlArb, mutateString(httpUrlArb), junkText(30)), fc.oneof(httpUrlArb, junkText(20)), junkJson), ([a, b, j]) => {
      const uri = isHttpUri(a)
      if (uri) assert.ok(['http:', 'https:'].includes(new URL(a).protocol))
      assert.equal(typeof sameOrigin(a, b), 'boolean')
      const id = idOf(j)
      if (id !== undefined) assert.ok(isHttpUri(id))
      assert.equal(idOf(a), uri ? a : undefined)
    })
  })
})

// ---------------------------------------------------------------------------
// HTTP signatures

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ed = generateKeyPairSync('ed25519')
const pem = (key: KeyObject): string => key.export({ type: 'spki', format: 'pem' }).toString()

/** The key documents, as the SSRF-safe fetcher would return them; any other URL fails as a fetch would. */
let documents = new Map<string, unknown>()
function resolver (): KeyResolver {
  return new KeyResolver({
    fetchJson: async (url) => {
      const document = documents.get(url)
      if (document === undefined) throw new Error(`HTTP 404 for ${url}`)
      return document
    }
  })
}

async function incoming (request: Request): Promise<IncomingSignedRequest> {
  const url = new URL(request.url)
  const headers: Record<string, string> = {}
  request.headers.forEach((value, name) => { headers[name] = value })
  headers.host ??= url.host
  const body = request.body == null ? undefined : Buffer.from(await request.arrayBuffer())
  return { method: request.method, url: url.pathname + url.search, headers, ...(body === undefined ? {} : { body }) }
}

/** An RFC 9421 Ed25519 signature over the base Misskey's library builds. */
function misskeyEd25519 (body: string): IncomingSignedRequest {
  const digest = createHash('sha256').update(body).digest('base64')
  const headers: Record<string, string> = {
    host: new URL(INBOX).host,
    'content-type': 'application/activity+json',
    'content-digest': `sha-256=:${digest}:`,
    'signature-input': `sig1=("@method" "@target-uri" "@authority" "content-digest");created=${Math.floor(Date.now() / 1000)};keyid="${ED_KEY_ID}";alg="ed25519"`
  }
  const request = { method: 'POST', url: new URL(INBOX).pathname, headers }
  const base = new RFC9421SignatureBaseFactory(request, 'https').generate('sig1')
  const signature = sign(null, Buffer.from(base), ed.privateKey)
  return { ...request, headers: { ...headers, signature: `sig1=:${signature.toString('base64')}:` }, body: Buffer.from(body) }
}

/** The signed parts of a request: a request that still verifies must agree with the original on all of them. */
function signedMeaning (r: IncomingSignedRequest, names: readonly string[]): unknown {
  const headers: Record<string, string | undefined> = {}
  for (const name of names) {
    const value = r.headers[name]
    headers[name] = (Array.isArray(value) ? value.join(', ') : value)?.trim()
  }
  // the body is signed through its digest (a GET's body is not signed at all)
  const digested = names.includes('digest') || names.includes('content-digest')
  return { method: r.method.toUpperCase(), path: r.url.split('?')[0], body: !digested || r.body === undefined ? '' : Buffer.from(r.body).toString('hex'), headers }
}

/** The header names a signature covers, read off the original (never off the changed request). */
function coveredHeaders (r: IncomingSignedRequest): string[] {
  const input = r.headers['signature-input']
  if (typeof input === 'string') return [...input.matchAll(/"([a-z0-9-]+)"/g)].map((m) => m[1]!)
  const cavage = /headers="([^"]*)"/.exec(String(r.headers.signature ?? r.headers.authorization ?? ''))
  return (cavage?.[1] ?? 'date').split(' ').filter((name) => !name.startsWith('('))
}

describe('fuzz HTTP signatures', () => {
  let pool: IncomingSignedRequest[] = []
  before(async () => {
    documents = new Map<string, unknown>([[ACTOR, {
      '@context': ['https://www.w3.org/ns/activitystreams', 'https://w3id.org/security/v1', 'https://w3id.org/security/multikey/v1'],
      id: ACTOR,
      type: 'Person',
      inbox: `${ACTOR}/inbox`,
      publicKey: { id: RSA_KEY_ID, owner: ACTOR, publicKeyPem: pem(rsa.publicKey) },
      assertionMethod: [{ id: ED_KEY_ID, type: 'Multikey', controller: ACTOR, publicKeyMultibase: await exportMultibaseKey(ed.publicKey.toCryptoKey('Ed25519', true, ['verify'])) }]
    }]])
    const rsaKey = rsa.privateKey.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['sign'])
    const bodies = fc.sample(activityArb.map((a) => JSON.stringify(a)), { seed: FUZZ_SEED, numRuns: 12 })
    pool = []
    for (const body of bodies) {
      const post = (): Request => new Request(`${INBOX}?q=${body.length}`, { method: 'POST', body, headers: { 'content-type': 'application/activity+json' } })
      pool.push(await incoming(await fedifySignRequest(post(), rsaKey, new URL(RSA_KEY_ID))))
      pool.push(await incoming(await fedifySignRequest(post(), rsaKey, new URL(RSA_KEY_ID), { spec: 'rfc9421' })))
      pool.push(misskeyEd25519(body))
    }
    pool.push(await incoming(await fedifySignRequest(new Request(INBOX), rsaKey, new URL(RSA_KEY_ID))))
    const verifier = new SignatureVerifier({ keys: resolver() })
    for (const request of pool) await verifier.verify(request)
  })

  it('a signed request changed in any part verifies only if its signed parts are unchanged; otherwise a SignatureError (401)', async () => {
    type Change = { part: 'method', text: string } | { part: 'url', text: string } | { part: 'body', text: string } | { part: 'header', name: string, text: string | undefined }
    // one arbitrary per signed request, made once (not once per case)
    const changes = pool.map((r, i) => {
      const names = Object.keys(r.headers)
      const change: fc.Arbitrary<Change> = fc.oneof(
        fc.record({ part: fc.constant('method' as const), text: mutateString(fc.constant(r.method), { maxEdits: 2 }) }),
        fc.record({ part: fc.constant('url' as const), text: mutateString(fc.constant(r.url), { maxEdits: 2 }) }),
        fc.record({ part: fc.constant('body' as const), text: mutateString(fc.constant(r.body === undefined ? '' : Buffer.from(r.body).toString()), { maxEdits: 2 }) }),
        fc.constantFrom(...names).chain((name) => fc.record({
          part: fc.constant('header' as const),
          name: fc.constant(name),
          text: fc.option(mutateString(fc.constant(String(r.headers[name])), { maxEdits: 3 }), { nil: undefined, freq: 8 })
        })),
        fc.record({ part: fc.constant('header' as const), name: fc.constantFrom('signature', 'signature-input', 'authorization', 'date', 'digest', 'content-digest', 'host'), text: junkText(40) })
      )
      return fc.tuple(fc.constant(i), change)
    })
    const verifier = new SignatureVerifier({ keys: resolver() })
    await fuzzAsync(fc.nat({ max: pool.length - 1 }).chain((i) => changes[i]!), async ([i, change]) => {
      const original = pool[i]!
      const changed: IncomingSignedRequest = { ...original, headers: { ...original.headers } }
      if (change.part === 'method') changed.method = change.text
      else if (change.part === 'url') changed.url = change.text
      else if (change.part === 'body') changed.body = Buffer.from(change.text)
      else if (change.text === undefined) delete changed.headers[change.name]
      else changed.headers[change.name] = change.text
      const result = await refusedOrAsync(() => verifier.verify(changed), (err) => {
        assertTyped(err, SignatureError, 'a SignatureError')
        assert.equal(err.status, 401)
      })
      if (result === undefined) return
      const names = coveredHeaders(original)
      assert.deepEqual(signedMeaning(changed, names), signedMeaning(original, names))
    })
  })

  it('junk signature headers are a SignatureError (401), never another error', async () => {
    const keyIds = fc.constantFrom(RSA_KEY_ID, ED_KEY_ID, `${ACTOR}`, 'https://other.example/k', 'not a url', '', 'https://user:pw@social.example/k')
    const signature = fc.oneof(
      mutateString(fc.constantFrom(
        `keyId="${RSA_KEY_ID}",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"`,
        `keyId="${ED_KEY_ID}",algorithm="hs2019",created=1700000000,headers="(request-target) (created) host digest",signature="AAAA"`
      ), { maxEdits: 3 }),
      fc.tuple(keyIds, junkText(20)).map(([k, j]) => `keyId="${k}",signature="${j}",headers="(request-target) host date"`),
      junkText(60)
    )
    // structured-field integers reach 15 digits: seconds no Date can hold
    const seconds = fc.oneof(fc.integer({ min: 0, max: 2 ** 31 }).map(BigInt), fc.bigInt({ min: -(10n ** 15n) + 1n, max: 10n ** 15n - 1n }))
    const input = fc.oneof(
      mutateString(fc.constant(`sig1=("@method" "@target-uri" "content-digest");created=1700000000;keyid="${ED_KEY_ID}";alg="ed25519"`), { maxEdits: 3 }),
      fc.tuple(seconds, fc.option(seconds, { nil: undefined }), fc.constantFrom(ED_KEY_ID, RSA_KEY_ID))
        .map(([created, expires, keyId]) => `sig1=("@method" "@target-uri" "content-digest");created=${created}${expires === undefined ? '' : `;expires=${expires}`};keyid="${keyId}"`),
      junkText(40)
    )
    const arb = fc.record({
      method: fc.constantFrom('POST', 'GET', 'post', ''),
      url: fc.oneof(fc.constant('/inbox'), junkText(20)),
      body: fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined }),
      headers: fc.record({
        host: fc.oneof(fc.constant('fdn.example'), junkText(10)),
        date: fc.oneof(fc.constant(new Date().toUTCString()), junkText(30)),
        digest: fc.oneof(fc.constant('SHA-256=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='), junkText(30)),
        'content-digest': fc.oneof(fc.constant('sha-256=:47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=:'), junkText(30)),
        signature: fc.oneof(signature, fc.constant('sig1=:AAAA:'), junkText(30)),
        'signature-input': input,
        authorization: fc.oneof(signature.map((s) => `Signature ${s}`), junkText(20))
      }, { requiredKeys: [] })
    })
    const verifier = new SignatureVerifier({ keys: resolver() })
    await fuzzAsync(arb, async (r) => {
      const request: IncomingSignedRequest = { method: r.method, url: r.url, headers: r.headers, ...(r.body === undefined ? {} : { body: r.body }) }
      const result = await refusedOrAsync(() => verifier.verify(request), (err) => {
        assertTyped(err, SignatureError, 'a SignatureError')
      })
      assert.equal(result, undefined, 'junk verified')
    })
  })

  it('key documents of any shape: a key, or key_unavailable', async () => {
    const good = documents.get(ACTOR)
    const arb = fc.tuple(fc.oneof(mutateJson(fc.constant(asReceived(good)), 3), junkJson), fc.constantFrom(RSA_KEY_ID, ED_KEY_ID))
    await fuzzAsync(arb, async ([document, keyId]) => {
      // a small cache: one resolver per case, and lru-cache allocates its whole capacity up front
      const keys = new KeyResolver({ fetchJson: async () => document, maxEntries: 4 })
      const key = await refusedOrAsync(() => keys.resolve(keyId), (err) => {
        assertTyped(err, SignatureError, 'a SignatureError')
        assert.equal(err.code, 'key_unavailable')
      })
      if (key !== undefined) {
        assert.equal(key.owner, ACTOR)
        assert.ok(key.type === 'rsa' || key.type === 'ed25519')
      }
    })
  })
})
