// Linked Data Signatures (RsaSignature2017) made by an independent
// implementation (Fedify's signJsonLd, given the same bundled contexts) and
// by a real Mastodon, verified with keys served by a real HTTP server.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { signJsonLd } from '@fedify/fedify/sig'
import { SignatureError } from '../../node/activitypub/http-signatures.ts'
import type { SignatureErrorCode } from '../../node/activitypub/http-signatures.ts'
import { KeyFetchError, KeyResolver } from '../../node/activitypub/keys.ts'
import type { JsonFetch } from '../../node/activitypub/keys.ts'
import { hasLdSignature, verifyLdSignature } from '../../node/activitypub/ld-signature.ts'
import type { LdSigned } from '../../node/activitypub/ld-signature.ts'
import { DocumentServer } from '../helpers/document-server.ts'

type Json = Record<string, unknown>

const AS = 'https://www.w3.org/ns/activitystreams'
const SECURITY = 'https://w3id.org/security/v1'
const PUBLIC = 'https://www.w3.org/ns/activitystreams#Public'
const CONTEXT_FILES: Record<string, string> = {
  [AS]: 'activitystreams.json',
  [SECURITY]: 'security-v1.json',
  'https://w3id.org/identity/v1': 'identity-v1.json'
}

function rsaKeys (): { publicKey: KeyObject, privateKey: KeyObject } {
  return generateKeyPairSync('rsa', { modulusLength: 2048 })
}

function pem (key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString()
}

/** Fedify's context loader: the bundled contexts, plus any test-only ones; never the network. */
function contextLoader (extra: Record<string, unknown> = {}) {
  return async (url: string) => {
    const file = CONTEXT_FILES[url]
    const document = file != null
      ? JSON.parse(readFileSync(new URL(`../../node/activitypub/contexts/${file}`, import.meta.url), 'utf8'))
      : extra[url]
    if (document == null) throw new Error(`the test loader has no context ${url}`)
    return { contextUrl: null, documentUrl: url, document }
  }
}

async function fedifySign (document: Json, privateKey: KeyObject, keyId: string, extraContexts?: Record<string, unknown>): Promise<Json> {
  const cryptoKey = privateKey.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['sign'])
  return await signJsonLd(document, cryptoKey, new URL(keyId), { contextLoader: contextLoader(extraContexts) }) as Json
}

/** Mastodon's sign! appends security/v1 to the @context after hashing (it adds no triple). */
function withSecurityContext (signed: Json): Json {
  const context = [signed['@context']].flat()
  return { ...signed, '@context': context.includes(SECURITY) ? context : [...context, SECURITY] }
}

async function refusal (activity: Json, keys: KeyResolver, code: SignatureErrorCode, message?: RegExp): Promise<SignatureError> {
  try {
    await verifyLdSignature(activity, keys)
  } catch (err) {
    assert.ok(err instanceof SignatureError, String(err))
    assert.equal(err.code, code, err.message)
    if (message != null) assert.match(err.message, message)
    return err
  }
  assert.fail(`the activity verified; expected ${code}`)
}

describe('LD signatures', () => {
  const origin = new DocumentServer()
  const alice = rsaKeys()
  const bob = rsaKeys()
  let aliceId = ''
  let aliceKey = ''
  let bobId = ''
  let bobKey = ''
  let fetched: string[] = []

  const countingFetch: JsonFetch = async (url, signal) => {
    fetched.push(url)
    const res = await fetch(url, { signal, headers: { accept: 'application/activity+json' } })
    if (!res.ok) throw new Error(`HTTP ${res.status}`)
    return await res.json()
  }

  function resolver (minRefreshMs?: number): KeyResolver {
    return new KeyResolver({ fetchJson: countingFetch, minRefreshMs })
  }

  function actor (id: string, keyId: string, publicKey: KeyObject): Json {
    return { '@context': [AS, SECURITY], id, type: 'Person', inbox: `${id}/inbox`, publicKey: { id: keyId, owner: id, publicKeyPem: pem(publicKey) } }
  }

  /** Mastodon's DeleteSerializer: a Tombstone with the ostatus atomUri extension. */
  function deleteStatus (status = `${aliceId}/statuses/1`): Json {
    return {
      '@context': [AS, { ostatus: 'http://ostatus.org#', atomUri: 'ostatus:atomUri' }],
      id: `${status}#delete`,
      type: 'Delete',
      actor: aliceId,
      to: [PUBLIC],
      object: { id: status, type: 'Tombstone', atomUri: status }
    }
  }

  /** Mastodon's DeleteActorSerializer. */
  function deleteActor (): Json {
    return { '@context': [AS, SECURITY], id: `${aliceId}#delete`, type: 'Delete', actor: aliceId, to: [PUBLIC], object: aliceId }
  }

  before(async () => {
    await origin.start()
    aliceId = `${origin.base}/users/alice`
    aliceKey = `${aliceId}#main-key`
    bobId = `${origin.base}/users/bob`
    bobKey = `${bobId}#main-key`
    origin.documents.set('/users/alice', actor(aliceId, aliceKey, alice.publicKey))
    origin.documents.set('/users/bob', actor(bobId, bobKey, bob.publicKey))
  })
  after(async () => await origin.stop())

  it('hasLdSignature: an RsaSignature2017 object only', async () => {
    const signed = await fedifySign(deleteActor(), alice.privateKey, aliceKey)
    assert.equal(hasLdSignature(signed), true)
    assert.equal(hasLdSignature(deleteActor()), false)
    assert.equal(hasLdSignature({ ...deleteActor(), signature: 'x' }), false)
    assert.equal(hasLdSignature({ ...deleteActor(), signature: [signed.signature] }), false)
    assert.equal(hasLdSignature({ ...deleteActor(), signature: { ...signed.signature as Json, type: 'Ed25519Signature2020' } }), false)
    await refusal(deleteActor(), resolver(), 'signature_missing')
  })

  describe('accepts', () => {
    it('a Mastodon-shaped Delete of a status (Tombstone, ostatus context, security/v1 appended after signing)', async () => {
      const signed = withSecurityContext(await fedifySign(deleteStatus(), alice.privateKey, aliceKey))
      assert.deepEqual(signed['@context'], [AS, { ostatus: 'http://ostatus.org#', atomUri: 'ostatus:atomUri' }, SECURITY])
      const result = await verifyLdSignature(signed, resolver())
      assert.deepEqual(result, { keyId: aliceKey, owner: aliceId } satisfies LdSigned)
    })

    it('a Delete of an actor', async () => {
      const signed = await fedifySign(deleteActor(), alice.privateKey, aliceKey)
      assert.deepEqual(await verifyLdSignature(signed, resolver()), { keyId: aliceKey, owner: aliceId })
    })

    it('a signature by another actor\'s key: its owner is returned, for the caller to compare with the actor', async () => {
      const signed = await fedifySign(deleteStatus(), bob.privateKey, bobKey)
      assert.deepEqual(await verifyLdSignature(signed, resolver()), { keyId: bobKey, owner: bobId })
    })

    it('a signature whose key was rotated: the key is refetched once', async () => {
      const keys = resolver(1)
      const rotated = rsaKeys()
      const path = '/users/carol'
      const carolId = `${origin.base}${path}`
      const carolKey = `${carolId}#main-key`
      const carol = rsaKeys()
      origin.documents.set(path, actor(carolId, carolKey, carol.publicKey))
      const first = { ...deleteActor(), actor: carolId, object: carolId, id: `${carolId}#delete` }
      await verifyLdSignature(await fedifySign(first, carol.privateKey, carolKey), keys)
      origin.documents.set(path, actor(carolId, carolKey, rotated.publicKey))
      await sleep(5)
      fetched = []
      const result = await verifyLdSignature(await fedifySign(first, rotated.privateKey, carolKey), keys)
      assert.equal(result.owner, carolId)
      assert.deepEqual(fetched, [carolId])
    })

    it('a real Mastodon Create (activitypub.academy, from Fedify\'s test vectors) with its published key', async () => {
      const keyId = 'https://activitypub.academy/users/brauca_darradiul#main-key'
      const owner = 'https://activitypub.academy/users/brauca_darradiul'
      const documents = new Map<string, unknown>([[owner, {
        '@context': [AS, SECURITY],
        id: owner,
        type: 'Person',
        publicKey: { id: keyId, owner, publicKeyPem: MASTODON_PEM }
      }]])
      const keys = new KeyResolver({ fetchJson: async (url) => documents.get(url) ?? Promise.reject(new Error('HTTP 404')) })
      assert.deepEqual(await verifyLdSignature(MASTODON_CREATE, keys), { keyId, owner })
      const tampered = structuredClone(MASTODON_CREATE)
      ;(tampered.object as Json).content = '<p>Test!</p>'
      await refusal(tampered, keys, 'signature_invalid', /does not verify/)
    })
  })

  describe('refuses', () => {
    it('a tampered object id', async () => {
      const signed = await fedifySign(deleteStatus(), alice.privateKey, aliceKey)
      const tampered = { ...signed, object: { ...signed.object as Json, id: `${aliceId}/statuses/2` } }
      await refusal(tampered, resolver(), 'signature_invalid', /does not verify/)
    })

    it('tampered signature options (created)', async () => {
      const signed = await fedifySign(deleteActor(), alice.privateKey, aliceKey)
      const tampered = { ...signed, signature: { ...signed.signature as Json, created: '2020-01-01T00:00:00Z' } }
      await refusal(tampered, resolver(), 'signature_invalid', /does not verify/)
    })

    it('an unknown remote context, without fetching it or anything else', async () => {
      const contextUrl = `${origin.base}/contexts/extra.jsonld`
      const extra = { '@context': { emoji: 'http://example.org/ns#emoji' } }
      origin.documents.set('/contexts/extra.jsonld', extra)
      // Fedify could sign it (its loader knows the context): a verifier that fetched it would accept.
      const signed = await fedifySign({ ...deleteActor(), '@context': [AS, contextUrl] }, alice.privateKey, aliceKey, { [contextUrl]: extra })
      const before = origin.hits.length
      fetched = []
      await refusal(signed, resolver(), 'signature_invalid', new RegExp(`unknown JSON-LD context ${contextUrl}`))
      assert.deepEqual(origin.hits.slice(before), [])
      assert.deepEqual(fetched, [])
    })

    it('an activity over 64 KiB, or with over 2000 JSON values, before any fetch', async () => {
      const big = await fedifySign({ ...deleteStatus(), object: { ...deleteStatus().object as Json, atomUri: 'x'.repeat(70_000) } }, alice.privateKey, aliceKey)
      const wide = { ...deleteStatus(), to: Array.from({ length: 2500 }, (_, i) => `f${i}`), signature: (await fedifySign(deleteStatus(), alice.privateKey, aliceKey)).signature }
      const before = origin.hits.length
      fetched = []
      await refusal(big, resolver(), 'signature_invalid', /bytes, more than the 65536/)
      await refusal(wide, resolver(), 'signature_invalid', /more than 2000 JSON values/)
      assert.deepEqual(origin.hits.slice(before), [])
      assert.deepEqual(fetched, [])
    })

    it('a "poison" graph (a ring of look-alike blank nodes) at once, without fetching the key', async () => {
      const signature = (await fedifySign(deleteActor(), alice.privateKey, aliceKey)).signature
      const ring = Array.from({ length: 64 }, (_, i) => ({ id: `_:b${i}`, type: 'Note', inReplyTo: [`_:b${(i + 1) % 64}`, `_:b${(i + 63) % 64}`] }))
      const started = performance.now()
      fetched = []
      await refusal({ ...deleteActor(), object: ring, signature }, resolver(), 'signature_invalid', /Maximum deep iterations exceeded/)
      assert.ok(performance.now() - started < 1000)
      assert.deepEqual(fetched, [])
    })

    it('a creator whose key is gone (404): key_unavailable', async () => {
      const ghostKey = `${origin.base}/users/ghost#main-key`
      const signed = await fedifySign(deleteActor(), alice.privateKey, ghostKey)
      const err = await refusal(signed, resolver(), 'key_unavailable', /could not be fetched$/)
      assert.ok(err instanceof KeyFetchError)
      assert.match(err.detail, /HTTP 404/, 'why is kept for the log')
    })

    it('a malformed signature value', async () => {
      const signed = await fedifySign(deleteActor(), alice.privateKey, aliceKey)
      await refusal({ ...signed, signature: { ...signed.signature as Json, signatureValue: '!!not base64!!' } }, resolver(), 'signature_invalid', /not base64/)
      await refusal({ ...signed, signature: { ...signed.signature as Json, creator: undefined } }, resolver(), 'signature_invalid', /no creator/)
    })

    it('a property the contexts do not define (safe mode: it was never signed)', async () => {
      const signed = await fedifySign(deleteActor(), alice.privateKey, aliceKey)
      await refusal({ ...signed, unsigned: 'x' }, resolver(), 'signature_invalid', /cannot be canonicalised: .*unsigned/)
    })

    // The signature covers the RDF dataset; these keep the dataset and change what the JSON says.
    it('an inline context giving a standard term another meaning (an Announce made to read as a Delete)', async () => {
      const announce = { '@context': [AS], id: `${aliceId}/statuses/1/activity`, type: 'Announce', actor: aliceId, to: [PUBLIC], object: `${aliceId}/statuses/1` }
      const signed = await fedifySign(announce, alice.privateKey, aliceKey)
      assert.deepEqual(await verifyLdSignature(signed, resolver()), { keyId: aliceKey, owner: aliceId })
      const forged = { ...signed, '@context': [AS, { Delete: 'as:Announce' }], type: 'Delete' }
      await refusal(forged, resolver(), 'signature_invalid', /gives a standard term another meaning/)
      const swapped = { ...signed, '@context': [AS, { actor: { '@id': 'as:object', '@type': '@id' }, object: { '@id': 'as:actor', '@type': '@id' } }], actor: signed.object, object: signed.actor }
      await refusal(swapped, resolver(), 'signature_invalid', /another meaning/)
    })

    it('a node hoisted out of its wrapper with @graph, @included or @reverse (an Undo{Announce} read as an Announce)', async () => {
      const announce = { id: `${aliceId}/statuses/1/activity`, type: 'Announce', actor: aliceId, to: [PUBLIC], object: `${bobId}/statuses/9` }
      const undo = { '@context': [AS], id: `${aliceId}#announces/1/undo`, type: 'Undo', actor: aliceId, to: [PUBLIC], object: announce }
      const signed = await fedifySign(undo, alice.privateKey, aliceKey)
      const hoisted = (extra: Json): Json => ({ '@context': [AS], ...announce, ...extra, signature: signed.signature })
      const undoByReference = { id: undo.id, type: 'Undo', actor: aliceId, to: [PUBLIC], object: announce.id }
      await refusal(hoisted({ '@included': [undoByReference] }), resolver(), 'signature_invalid', /keyword @included/)
      await refusal(hoisted({ '@graph': [undoByReference] }), resolver(), 'signature_invalid', /keyword @graph/)
      await refusal(hoisted({ '@reverse': { object: { id: undo.id, type: 'Undo', actor: aliceId, to: [PUBLIC] } } }), resolver(), 'signature_invalid', /keyword @reverse/)
      const aliased = { '@context': [AS, { also: '@included' }], ...announce, also: [undoByReference], signature: signed.signature }
      await refusal(aliased, resolver(), 'signature_invalid', /aliases the keyword @included/)
    })

    it('nested contexts, context keywords and IRI-named properties', async () => {
      const signed = await fedifySign(deleteStatus(), alice.privateKey, aliceKey)
      const nested = { ...signed, object: { '@context': { id: 'as:url' }, ...signed.object as Json } }
      await refusal(nested, resolver(), 'signature_invalid', /keyword @context/)
      await refusal({ ...signed, '@context': [AS, { '@vocab': 'http://evil.example/' }] }, resolver(), 'signature_invalid', /'@vocab' is a keyword/)
      await refusal({ ...signed, '@context': [AS, { x: { '@id': 'as:x', '@context': {} } }] }, resolver(), 'signature_invalid', /uses @context/)
      const { object, ...rest } = signed
      await refusal({ ...rest, 'as:object': object }, resolver(), 'signature_invalid', /'as:object' is not a term/)
      await refusal({ ...signed, '@context': 'https://w3id.org/security/v1' }, resolver(), 'signature_invalid', /does not include/)
    })
  })
})

// A Create signed by Mastodon at activitypub.academy on 2024-09-12, and the
// key it was signed with; as published in Fedify's test suite (MIT).
const MASTODON_PEM = '-----BEGIN PUBLIC KEY-----\n' + [
  'MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA5W/9rYXddIjKo9Ury/LK',
  'XqQYbj0cOx/c+T1uRHJzced8JbvXdiBCNZXVVrIaygy3G/MOvxMW4kbA1bqeiSYY',
  'V9TXBMI6gVVDnl5VG64uGxswcvUWqQU5Q1mwuwyGCPhexAq3BKe/7uH64AZgx11e',
  'KLl3W3WcIMKmunYn8+z6hm0003hMensXMNpMVfqLoXaeuro7pYnwOSWoHFS3AxWK',
  'llMwAoa5waulgai8gD7/uA5Y9Hvguk/OBYBh9YnIX5N5jScsmY/EYuesNIH2Ct9s',
  'E3aVkTjZUt55JtXnk8Q9eTnrcB/98RtLWH4pJTKJhzxv19i3aZT3yDApPk0Q/biI',
  'JQIDAQAB'
].join('\n') + '\n-----END PUBLIC KEY-----\n'

const MASTODON_CREATE: Json = {
  '@context': ['https://www.w3.org/ns/activitystreams', {
    ostatus: 'http://ostatus.org#',
    atomUri: 'ostatus:atomUri',
    inReplyToAtomUri: 'ostatus:inReplyToAtomUri',
    conversation: 'ostatus:conversation',
    sensitive: 'as:sensitive',
    toot: 'http://joinmastodon.org/ns#',
    votersCount: 'toot:votersCount'
  }],
  id: 'https://activitypub.academy/users/brauca_darradiul/statuses/113125611605598678/activity',
  type: 'Create',
  actor: 'https://activitypub.academy/users/brauca_darradiul',
  published: '2024-09-12T16:50:45Z',
  to: ['https://www.w3.org/ns/activitystreams#Public'],
  cc: ['https://activitypub.academy/users/brauca_darradiul/followers'],
  object: {
    id: 'https://activitypub.academy/users/brauca_darradiul/statuses/113125611605598678',
    type: 'Note',
    summary: null,
    inReplyTo: null,
    published: '2024-09-12T16:50:45Z',
    url: 'https://activitypub.academy/@brauca_darradiul/113125611605598678',
    attributedTo: 'https://activitypub.academy/users/brauca_darradiul',
    to: ['https://www.w3.org/ns/activitystreams#Public'],
    cc: ['https://activitypub.academy/users/brauca_darradiul/followers'],
    sensitive: false,
    atomUri: 'https://activitypub.academy/users/brauca_darradiul/statuses/113125611605598678',
    inReplyToAtomUri: null,
    conversation: 'tag:activitypub.academy,2024-09-12:objectId=187606:objectType=Conversation',
    content: '<p>Test</p>',
    contentMap: { en: '<p>Test</p>' },
    attachment: [],
    tag: [],
    replies: {
      id: 'https://activitypub.academy/users/brauca_darradiul/statuses/113125611605598678/replies',
      type: 'Collection',
      first: {
        type: 'CollectionPage',
        next: 'https://activitypub.academy/users/brauca_darradiul/statuses/113125611605598678/replies?only_other_accounts=true&page=true',
        partOf: 'https://activitypub.academy/users/brauca_darradiul/statuses/113125611605598678/replies',
        items: []
      }
    }
  },
  signature: {
    type: 'RsaSignature2017',
    creator: 'https://activitypub.academy/users/brauca_darradiul#main-key',
    created: '2024-09-12T16:50:46Z',
    signatureValue: 'osp9n4Pubp8XFvBi0iwrpCjDkIpuuUr2klp+r8Jp289ISqRNlUPeHVvNrQSE2vqNm4j/cJGuQruIqZPTAmTjjB3HtqgawoAG11DA7OPpY6mJLruKnbqadV1cy5V0DJI9CRJXEBuEmMTJRO9gi1cyzlM4QxK30YrjmtQNLoU9th97da4lumsl+a5cAue38MDuJZvLWDOTZ1EGixwhLP8FevdnZ+jqwctGu9KrgDImBIpBkQaqHFTTGrbE7FlXsj1pneOUQTuRDa9zlk2DmgXeEBWN2OJZDjgJ4iBsF2JHtCn6PccKbuI9s2VLhnobPtLB8YdHYKqIPLmv0UOjAM8XrQ=='
  }
}
