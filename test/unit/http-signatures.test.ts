// Inbox signature verification against requests signed by independent
// libraries (Fedify for rsa-sha256 draft-cavage and rsa-v1_5-sha256 RFC 9421,
// Misskey's for Ed25519 RFC 9421 and hs2019), keys served by a real HTTP
// server; and our outgoing signature checked by Fedify's verifier.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, generateKeyPairSync, sign } from 'node:crypto'
import type { KeyObject, webcrypto } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { signRequest as fedifySignRequest, verifyRequest as fedifyVerifyRequest } from '@fedify/fedify/sig'
import { exportMultibaseKey } from '@fedify/vocab-runtime'
import {
  genDraftSignature,
  genDraftSignatureHeader,
  genDraftSigningString,
  genRFC3230DigestHeader,
  importPrivateKey,
  RFC9421SignatureBaseFactory
} from '@misskey-dev/node-http-message-signatures'
import { SignatureError, SignatureVerifier, signRequest } from '../../node/activitypub/http-signatures.ts'
import type { IncomingSignedRequest, SignatureErrorCode, VerifiedSignature } from '../../node/activitypub/http-signatures.ts'
import { KeyFetchError, KeyResolver } from '../../node/activitypub/keys.ts'
import type { JsonFetch } from '../../node/activitypub/keys.ts'
import { DocumentServer } from '../helpers/document-server.ts'

const INBOX = 'https://fdn.example/inbox'
const AS_CONTEXT = ['https://www.w3.org/ns/activitystreams', 'https://w3id.org/security/v1', 'https://w3id.org/security/multikey/v1']
const BODY = JSON.stringify({ '@context': 'https://www.w3.org/ns/activitystreams', type: 'Delete', actor: 'x', object: 'y' })

const plainFetch: JsonFetch = async (url, signal) => {
  const res = await fetch(url, { signal, headers: { accept: 'application/activity+json' } })
  if (!res.ok) throw new Error(`HTTP ${res.status}`)
  return await res.json()
}

function rsaKeys (): { publicKey: KeyObject, privateKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: 2048 })
}

function pem (key: KeyObject): string {
  return key.export({ type: key.type === 'private' ? 'pkcs8' : 'spki', format: 'pem' }).toString()
}

function rsaCryptoKey (key: KeyObject): webcrypto.CryptoKey {
  return key.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, [key.type === 'private' ? 'sign' : 'verify'])
}

/** Fedify's (and Mastodon's) WHATWG request, as our inbox sees it: path, lower-case headers with Host, raw body. */
async function incoming (request: Request): Promise<IncomingSignedRequest> {
  const url = new URL(request.url)
  const headers: Record<string, string> = {}
  request.headers.forEach((value, name) => { headers[name] = value })
  headers.host ??= url.host
  const body = request.body == null ? undefined : new Uint8Array(await request.arrayBuffer())
  return { method: request.method, url: url.pathname + url.search, headers, body }
}

function post (body = BODY): Request {
  return new Request(INBOX, { method: 'POST', body, headers: { 'content-type': 'application/activity+json' } })
}

async function fedifyCavage (privateKey: KeyObject, keyId: string, request: Request = post()): Promise<IncomingSignedRequest> {
  return await incoming(await fedifySignRequest(request, rsaCryptoKey(privateKey), new URL(keyId)))
}

async function fedifyRfc9421 (privateKey: KeyObject, keyId: string, request: Request = post()): Promise<IncomingSignedRequest> {
  return await incoming(await fedifySignRequest(request, rsaCryptoKey(privateKey), new URL(keyId), { spec: 'rfc9421' }))
}

interface DraftOptions {
  privateKey: KeyObject
  keyId: string
  headers: string[]
  algorithm?: string
  hash?: 'SHA-256' | 'SHA-512'
  method?: string
  body?: string
  created?: number
  date?: Date
}

/** A draft-cavage signature made by Misskey's library, covering exactly `headers`. */
async function misskeyDraft (options: DraftOptions): Promise<IncomingSignedRequest> {
  const method = options.method ?? 'POST'
  const body = method === 'POST' ? options.body ?? BODY : undefined
  const headers: Record<string, string> = {
    host: new URL(INBOX).host,
    date: (options.date ?? new Date()).toUTCString(),
    'content-type': 'application/activity+json'
  }
  if (body != null) headers.digest = await genRFC3230DigestHeader(body, 'SHA-256')
  const request = { method, url: new URL(INBOX).pathname, headers }
  const algorithm = options.algorithm ?? 'hs2019'
  const created = options.created?.toString()
  const signingString = genDraftSigningString(request, options.headers, { keyId: options.keyId, algorithm, created })
  const defaults = { hash: options.hash ?? 'SHA-256', ec: 'DSA' } as const
  const privateKey = await importPrivateKey(pem(options.privateKey), ['sign'], defaults)
  const signature = await genDraftSignature(privateKey, signingString, defaults)
  let header = genDraftSignatureHeader(options.headers, options.keyId, signature, algorithm)
  if (created != null) header += `,created=${created}`
  return { method, url: request.url, headers: { ...headers, signature: header }, body: body == null ? undefined : Buffer.from(body) }
}

interface Rfc9421Options {
  privateKey: KeyObject
  keyId: string
  /** The covered components, serialized: '"@method" "@target-uri"…' */
  components?: string
  /** Extra parameters, serialized: ';alg="ed25519"'. */
  params?: string
  created?: number | null
  body?: string
  /** Replaces the sha-256 Content-Digest. */
  contentDigest?: string
}

/** An RFC 9421 signature whose base Misskey's library builds; signed with node:crypto (Ed25519 or RSA PKCS#1 v1.5). */
async function misskeyRfc9421 (options: Rfc9421Options): Promise<IncomingSignedRequest> {
  const body = options.body ?? BODY
  const digest = (await genRFC3230DigestHeader(body, 'SHA-256')).slice('SHA-256='.length)
  const created = options.created === undefined ? Math.floor(Date.now() / 1000) : options.created
  const components = options.components ?? '"@method" "@target-uri" "@authority" "content-digest"'
  const parameters = `${created == null ? '' : `;created=${created}`};keyid="${options.keyId}"${options.params ?? ''}`
  const headers: Record<string, string> = {
    host: new URL(INBOX).host,
    'content-type': 'application/activity+json',
    'content-digest': options.contentDigest ?? `sha-256=:${digest}:`,
    'signature-input': `sig1=(${components})${parameters}`
  }
  const request = { method: 'POST', url: new URL(INBOX).pathname, headers }
  const base = new RFC9421SignatureBaseFactory(request, 'https').generate('sig1')
  const signature = sign(options.privateKey.asymmetricKeyType === 'rsa' ? 'sha256' : null, Buffer.from(base), options.privateKey)
  return { ...request, headers: { ...headers, signature: `sig1=:${signature.toString('base64')}:` }, body: Buffer.from(body) }
}

async function refusal (verifier: SignatureVerifier, request: IncomingSignedRequest, code: SignatureErrorCode, message?: RegExp): Promise<SignatureError> {
  try {
    await verifier.verify(request)
  } catch (err) {
    assert.ok(err instanceof SignatureError, String(err))
    assert.equal(err.code, code, err.message)
    assert.equal(err.status, 401)
    if (message != null) assert.match(err.message, message)
    return err
  }
  assert.fail(`the request verified; expected ${code}`)
}

describe('SignatureVerifier', () => {
  const origin = new DocumentServer()
  const alice = rsaKeys()
  const aliceEd = generateKeyPairSync('ed25519')
  const stranger = rsaKeys()
  let actorId = ''
  let keyId = ''
  let edKeyId = ''

  function verifier (options: { now?: () => number, minRefreshMs?: number } = {}): SignatureVerifier {
    const keys = new KeyResolver({ fetchJson: plainFetch, minRefreshMs: options.minRefreshMs })
    return new SignatureVerifier({ keys, now: options.now, publicScheme: 'https' })
  }

  before(async () => {
    await origin.start()
    actorId = `${origin.base}/users/alice`
    keyId = `${actorId}#main-key`
    edKeyId = `${actorId}#ed25519-key`
    origin.documents.set('/users/alice', {
      '@context': AS_CONTEXT,
      id: actorId,
      type: 'Person',
      inbox: `${actorId}/inbox`,
      publicKey: { id: keyId, owner: actorId, publicKeyPem: pem(alice.publicKey) },
      assertionMethod: [{
        id: edKeyId,
        type: 'Multikey',
        controller: actorId,
        publicKeyMultibase: await exportMultibaseKey(aliceEd.publicKey.toCryptoKey('Ed25519', true, ['verify']))
      }]
    })
  })
  after(async () => await origin.stop())

  describe('accepts', () => {
    it('a draft-cavage rsa-sha256 POST signed by Fedify', async () => {
      const result = await verifier().verify(await fedifyCavage(alice.privateKey, keyId))
      assert.deepEqual(result, { keyId, owner: actorId, scheme: 'draft-cavage', algorithm: 'rsa-sha256' } satisfies VerifiedSignature)
    })

    it('a draft-cavage GET signed by Fedify', async () => {
      const result = await verifier().verify(await fedifyCavage(alice.privateKey, keyId, new Request(INBOX)))
      assert.equal(result.owner, actorId)
    })

    it('an RFC 9421 rsa-v1_5-sha256 POST signed by Fedify', async () => {
      const request = await fedifyRfc9421(alice.privateKey, keyId)
      assert.ok(request.headers['signature-input'] != null)
      const result = await verifier().verify(request)
      assert.deepEqual(result, { keyId, owner: actorId, scheme: 'rfc9421', algorithm: 'rsa-v1_5-sha256' } satisfies VerifiedSignature)
    })

    it('an RFC 9421 ed25519 POST (Misskey\'s signature base) with a Multikey from assertionMethod', async () => {
      const result = await verifier().verify(await misskeyRfc9421({ privateKey: aliceEd.privateKey, keyId: edKeyId, params: ';alg="ed25519"' }))
      assert.deepEqual(result, { keyId: edKeyId, owner: actorId, scheme: 'rfc9421', algorithm: 'ed25519' } satisfies VerifiedSignature)
    })

    it('an RFC 9421 signature without alg: the key type decides', async () => {
      const result = await verifier().verify(await misskeyRfc9421({ privateKey: aliceEd.privateKey, keyId: edKeyId }))
      assert.equal(result.algorithm, 'ed25519')
    })

    it('an RFC 9421 Content-Digest in sha-512 only', async () => {
      const sha512 = createHash('sha512').update(BODY).digest('base64')
      const request = await misskeyRfc9421({ privateKey: aliceEd.privateKey, keyId: edKeyId, contentDigest: `sha-512=:${sha512}:` })
      assert.equal((await verifier().verify(request)).keyId, edKeyId)
    })

    it('the first acceptable of several RFC 9421 signatures', async () => {
      const request = await misskeyRfc9421({ privateKey: aliceEd.privateKey, keyId: edKeyId })
      request.headers['signature-input'] = `weak=("@method");created=1;keyid="${edKeyId}", ${String(request.headers['signature-input'])}`
      request.headers.signature = `weak=:AAAA:, ${String(request.headers.signature)}`
      assert.equal((await verifier().verify(request)).keyId, edKeyId)
    })

    it('an hs2019 draft-cavage POST signed by Misskey\'s library (RSA key)', async () => {
      const request = await misskeyDraft({ privateKey: alice.privateKey, keyId, headers: ['(request-target)', 'host', 'date', 'digest'] })
      assert.match(String(request.headers.signature), /algorithm="hs2019"/)
      assert.deepEqual(await verifier().verify(request), { keyId, owner: actorId, scheme: 'draft-cavage', algorithm: 'hs2019' } satisfies VerifiedSignature)
    })

    it('an hs2019 draft-cavage POST with (created) and an Ed25519 key', async () => {
      const request = await misskeyDraft({
        privateKey: aliceEd.privateKey,
        keyId: edKeyId,
        headers: ['(request-target)', 'host', '(created)', 'digest'],
        created: Math.floor(Date.now() / 1000)
      })
      assert.equal((await verifier().verify(request)).keyId, edKeyId)
    })

    it('a (request-target) signed without the query string, as older Mastodons do', async () => {
      const request = await fedifyCavage(alice.privateKey, keyId, new Request(`${INBOX}?page=2`))
      assert.equal(request.url, '/inbox?page=2')
      assert.equal((await verifier().verify(request)).owner, actorId)
    })

    it('the signature in an Authorization header', async () => {
      const request = await fedifyCavage(alice.privateKey, keyId)
      request.headers.authorization = `Signature ${String(request.headers.signature)}`
      delete request.headers.signature
      assert.equal((await verifier().verify(request)).keyId, keyId)
    })
  })

  describe('our outgoing signature', () => {
    for (const method of ['POST', 'GET']) {
      it(`is accepted by Fedify's verifier (${method})`, async () => {
        // Fedify leaves the query out of (request-target) (Mastodon accepts both), so none here.
        const url = new URL(INBOX)
        const body = method === 'POST' ? new TextEncoder().encode(BODY) : undefined
        const headers = signRequest({ method, url, body }, { keyId, privateKey: alice.privateKey })
        assert.deepEqual(Object.keys(headers).sort(), method === 'POST' ? ['date', 'digest', 'host', 'signature'] : ['date', 'host', 'signature'])
        assert.match(headers.signature, method === 'POST'
          ? /^keyId="[^"]+",algorithm="rsa-sha256",headers="\(request-target\) host date digest",signature="[A-Za-z0-9+/=]+"$/
          : /headers="\(request-target\) host date"/)
        const request = new Request(url, { method, headers, body })
        const key = await fedifyVerifyRequest(request, {
          documentLoader: async (documentUrl: string) => ({ contextUrl: null, documentUrl, document: await plainFetch(documentUrl) })
        })
        assert.equal(key?.id?.href, keyId)
        // …and by ours.
        assert.equal((await verifier().verify(await incoming(new Request(url, { method, headers, body })))).owner, actorId)
      })
    }

    it('signs the query in (request-target), as Mastodon does', async () => {
      const url = new URL(`${INBOX}?page=1`)
      const headers = signRequest({ method: 'GET', url }, { keyId, privateKey: alice.privateKey })
      const request = await incoming(new Request(url, { headers }))
      assert.equal(request.url, '/inbox?page=1')
      assert.equal((await verifier().verify(request)).keyId, keyId)
      await refusal(verifier(), { ...request, url: '/inbox?page=2' }, 'signature_invalid')
    })

    it('refuses a key that is not an RSA private key', () => {
      assert.throws(() => signRequest({ method: 'GET', url: new URL(INBOX) }, { keyId, privateKey: aliceEd.privateKey }), TypeError)
      assert.throws(() => signRequest({ method: 'GET', url: new URL(INBOX) }, { keyId, privateKey: alice.publicKey }), TypeError)
    })
  })

  describe('refuses', () => {
    it('an unsigned request', async () => {
      await refusal(verifier(), await incoming(post()), 'signature_missing')
    })

    it('a tampered body (Digest)', async () => {
      const request = await fedifyCavage(alice.privateKey, keyId)
      request.body = Buffer.from(BODY.replace('Delete', 'Create'))
      await refusal(verifier(), request, 'digest_mismatch', /does not match the body/)
    })

    it('a tampered body (Content-Digest)', async () => {
      const request = await fedifyRfc9421(alice.privateKey, keyId)
      request.body = Buffer.from(BODY.replace('Delete', 'Create'))
      await refusal(verifier(), request, 'digest_mismatch', /Content-Digest header does not match/)
    })

    it('a Digest without SHA-256', async () => {
      const request = await fedifyCavage(alice.privateKey, keyId)
      request.headers.digest = 'SHA-512=AAAA'
      await refusal(verifier(), request, 'digest_mismatch', /only SHA-256 is supported.*sha-512/)
    })

    it('a Content-Digest in no supported algorithm', async () => {
      const request = await misskeyRfc9421({ privateKey: aliceEd.privateKey, keyId: edKeyId, contentDigest: 'md5=:AAAA:' })
      await refusal(verifier(), request, 'digest_mismatch', /only sha-256 and sha-512 are supported.*md5/)
    })

    it('a Signature header that cannot be parsed', async () => {
      const request = await fedifyCavage(alice.privateKey, keyId)
      request.headers.signature = 'keyId="x" headers'
      await refusal(verifier(), request, 'signature_invalid', /cannot be parsed/)
    })

    it('a tampered signature', async () => {
      const request = await fedifyCavage(alice.privateKey, keyId)
      request.headers.signature = String(request.headers.signature).replace(/signature="[A-Za-z0-9+/]{4}/, 'signature="AAAA')
      await refusal(verifier(), request, 'signature_invalid', /does not verify/)
    })

    it('a signed header changed in transit', async () => {
      const request = await fedifyRfc9421(alice.privateKey, keyId)
      request.headers.host = 'other.example'
      await refusal(verifier(), request, 'signature_invalid', /does not verify/)
    })

    it('a signature that leaves the Host header unsigned', async () => {
      const request = await misskeyDraft({ privateKey: alice.privateKey, keyId, headers: ['(request-target)', 'date', 'digest'] })
      await refusal(verifier(), request, 'signature_invalid', /Host header must be signed/)
    })

    it('a signature without (request-target)', async () => {
      const request = await misskeyDraft({ privateKey: alice.privateKey, keyId, headers: ['host', 'date', 'digest'] })
      await refusal(verifier(), request, 'signature_invalid', /\(request-target\) pseudo-header must be signed/)
    })

    it('a POST whose Digest is not signed', async () => {
      const request = await misskeyDraft({ privateKey: alice.privateKey, keyId, headers: ['(request-target)', 'host', 'date'] })
      await refusal(verifier(), request, 'signature_invalid', /Digest header must be signed/)
    })

    it('a signature with neither Date nor (created)', async () => {
      const request = await misskeyDraft({ privateKey: alice.privateKey, keyId, headers: ['(request-target)', 'host', 'digest'] })
      await refusal(verifier(), request, 'signature_invalid', /Date header or the \(created\)/)
    })

    it('(created) with rsa-sha256', async () => {
      const request = await misskeyDraft({
        privateKey: alice.privateKey,
        keyId,
        algorithm: 'rsa-sha256',
        headers: ['(request-target)', 'host', '(created)', 'digest'],
        created: Math.floor(Date.now() / 1000)
      })
      await refusal(verifier(), request, 'signature_invalid', /only valid with hs2019/)
    })

    it('a Date two hours old', async () => {
      const request = await fedifyCavage(alice.privateKey, keyId)
      await refusal(verifier({ now: () => Date.now() + 2 * 3600_000 }), request, 'signature_expired')
    })

    it('a Date two hours in the future', async () => {
      const request = await fedifyCavage(alice.privateKey, keyId)
      await refusal(verifier({ now: () => Date.now() - 2 * 3600_000 }), request, 'signature_expired', /in the future/)
    })

    it('an RFC 9421 signature created two hours ago, or past its expires', async () => {
      await refusal(verifier({ now: () => Date.now() + 2 * 3600_000 }), await fedifyRfc9421(alice.privateKey, keyId), 'signature_expired')
      const now = Math.floor(Date.now() / 1000)
      const expired = await misskeyRfc9421({ privateKey: aliceEd.privateKey, keyId: edKeyId, created: now - 7200, params: `;expires=${now - 3700}` })
      await refusal(verifier(), expired, 'signature_expired')
    })

    it('an unknown draft-cavage algorithm', async () => {
      const request = await misskeyDraft({ privateKey: alice.privateKey, keyId, algorithm: 'rsa-sha512', hash: 'SHA-512', headers: ['(request-target)', 'host', 'date', 'digest'] })
      await refusal(verifier(), request, 'signature_invalid', /unsupported signature algorithm 'rsa-sha512'/)
    })

    it('an unknown RFC 9421 algorithm', async () => {
      const request = await misskeyRfc9421({ privateKey: aliceEd.privateKey, keyId: edKeyId, params: ';alg="hmac-sha256"' })
      await refusal(verifier(), request, 'signature_invalid', /unsupported algorithm 'hmac-sha256'/)
    })

    it('an RFC 9421 signature whose alg does not fit the key', async () => {
      const request = await misskeyRfc9421({ privateKey: aliceEd.privateKey, keyId: edKeyId, params: ';alg="rsa-v1_5-sha256"' })
      await refusal(verifier(), request, 'signature_invalid', /does not verify/)
    })

    it('an RFC 9421 signature without created, @target-uri or content-digest', async () => {
      const cases: Array<[Rfc9421Options, RegExp]> = [
        [{ privateKey: aliceEd.privateKey, keyId: edKeyId, created: null }, /no created parameter/],
        [{ privateKey: aliceEd.privateKey, keyId: edKeyId, components: '"@method" "@authority" "@path" "content-digest"' }, /@method and @target-uri/],
        [{ privateKey: aliceEd.privateKey, keyId: edKeyId, components: '"@method" "@target-uri"' }, /Content-Digest header must be signed/]
      ]
      for (const [options, message] of cases) await refusal(verifier(), await misskeyRfc9421(options), 'signature_invalid', message)
    })

    it('a key that answers 404', async () => {
      const request = await fedifyCavage(alice.privateKey, `${origin.base}/users/nobody#main-key`)
      const err = await refusal(verifier(), request, 'key_unavailable', /could not be fetched$/)
      assert.ok(err instanceof KeyFetchError)
      assert.match(err.detail, /HTTP 404/, 'why is kept for the log')
    })

    it('a key document that answers for another id', async () => {
      origin.documents.set('/keys/liar', { id: `${origin.base}/keys/other`, owner: actorId, publicKeyPem: pem(stranger.publicKey) })
      const request = await fedifyCavage(stranger.privateKey, `${origin.base}/keys/liar`)
      await refusal(verifier(), request, 'key_unavailable', /answers for .*keys\/other/)
    })

    it('a standalone key whose owner does not list it', async () => {
      const strayId = `${origin.base}/keys/stray`
      origin.documents.set('/keys/stray', { id: strayId, owner: actorId, publicKeyPem: pem(stranger.publicKey) })
      const request = await fedifyCavage(stranger.privateKey, strayId)
      await refusal(verifier(), request, 'key_unavailable', /points elsewhere/)
    })

    it('a key whose owner is on another origin', async () => {
      const foreignId = `${origin.base}/keys/foreign`
      const elsewhere = actorId.replace('127.0.0.1', 'localhost')
      origin.documents.set('/keys/foreign', { id: foreignId, owner: elsewhere, publicKeyPem: pem(stranger.publicKey) })
      const request = await fedifyCavage(stranger.privateKey, foreignId)
      await refusal(verifier(), request, 'key_unavailable', /another origin/)
    })
  })

  describe('key rotation', () => {
    it('refetches a cached key once when the signature does not verify with it', async () => {
      const bob = rsaKeys()
      const rotated = rsaKeys()
      const bobId = `${origin.base}/users/bob`
      const bobKey = `${bobId}#main-key`
      const actor = (key: KeyObject): unknown => ({ id: bobId, type: 'Person', publicKey: { id: bobKey, owner: bobId, publicKeyPem: pem(key) } })
      origin.documents.set('/users/bob', actor(bob.publicKey))
      const v = verifier({ minRefreshMs: 1 })
      await v.verify(await fedifyCavage(bob.privateKey, bobKey))
      assert.equal(origin.hitsOf('/users/bob'), 1)

      origin.documents.set('/users/bob', actor(rotated.publicKey))
      await sleep(5)
      assert.equal((await v.verify(await fedifyCavage(rotated.privateKey, bobKey))).owner, bobId)
      assert.equal(origin.hitsOf('/users/bob'), 2)
      // The old key is gone for good.
      await sleep(5)
      await refusal(v, await fedifyCavage(bob.privateKey, bobKey), 'signature_invalid')
    })

    it('refetches at most once per minRefreshMs, however many bad requests come', async () => {
      const carol = rsaKeys()
      const carolId = `${origin.base}/users/carol`
      const carolKey = `${carolId}#main-key`
      origin.documents.set('/users/carol', { id: carolId, type: 'Person', publicKey: { id: carolKey, owner: carolId, publicKeyPem: pem(carol.publicKey) } })
      const v = verifier({ minRefreshMs: 200 })
      await v.verify(await fedifyCavage(carol.privateKey, carolKey))
      assert.equal(origin.hitsOf('/users/carol'), 1)
      await sleep(250)

      // Signed by a key carol doesn't have: each one would like a refresh.
      const forged = [await fedifyCavage(stranger.privateKey, carolKey), await fedifyCavage(stranger.privateKey, carolKey)]
      await Promise.all(forged.map(async (request) => await refusal(v, request, 'signature_invalid')))
      await refusal(v, forged[0], 'signature_invalid')
      assert.equal(origin.hitsOf('/users/carol'), 2)
    })

    it('does not refetch a key it fetched for this very request', async () => {
      const daveId = `${origin.base}/users/dave`
      const daveKey = `${daveId}#main-key`
      origin.documents.set('/users/dave', { id: daveId, type: 'Person', publicKey: { id: daveKey, owner: daveId, publicKeyPem: pem(rsaKeys().publicKey) } })
      await refusal(verifier(), await fedifyCavage(stranger.privateKey, daveKey), 'signature_invalid')
      assert.equal(origin.hitsOf('/users/dave'), 1)
    })
  })
})
