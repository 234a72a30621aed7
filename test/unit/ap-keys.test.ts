// The key resolver: which key documents it accepts (Mastodon's publicKey,
// FEP-521a Multikeys, Misskey's additionalPublicKeys, standalone keys,
// GoToSocial's key stubs), which it refuses and why, and its cache. The
// documents come from an in-memory JsonFetch (the network path is covered by
// http-signatures.test.ts).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { exportMultibaseKey } from '@fedify/vocab-runtime'
import { SignatureError } from '../../node/activitypub/http-signatures.ts'
import { KeyFetchError, KeyResolver } from '../../node/activitypub/keys.ts'
import type { ResolvedKey } from '../../node/activitypub/keys.ts'

const ORIGIN = 'https://social.example'
const ACTOR = `${ORIGIN}/users/alice`
const KEY = `${ACTOR}#main-key`

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 })
const ed = generateKeyPairSync('ed25519')

function pem (key: KeyObject): string {
  return key.export({ type: 'spki', format: 'pem' }).toString()
}

/** Documents by URL, and the URLs fetched, in order. */
class Documents {
  readonly documents = new Map<string, unknown>()
  readonly fetched: string[] = []
  /** When set, fetches wait for it (to overlap concurrent resolves). */
  gate: Promise<void> | undefined

  readonly fetchJson = async (url: string): Promise<unknown> => {
    this.fetched.push(url)
    await this.gate
    if (!this.documents.has(url)) throw new Error('HTTP 404')
    return this.documents.get(url)
  }

  resolver (options: { minRefreshMs?: number, maxEntries?: number } = {}): KeyResolver {
    return new KeyResolver({ fetchJson: this.fetchJson, ...options })
  }
}

function actor (fields: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: ACTOR, type: 'Person', publicKey: { id: KEY, owner: ACTOR, publicKeyPem: pem(rsa.publicKey) }, ...fields }
}

/** A refusal whose reason is in its message, or, for a key that could not be fetched, in the detail kept for the log. */
async function unavailable (resolving: Promise<ResolvedKey>, reason: RegExp): Promise<void> {
  await assert.rejects(resolving, (err: unknown) => {
    assert.ok(err instanceof SignatureError, String(err))
    assert.equal(err.code, 'key_unavailable')
    if (err instanceof KeyFetchError) {
      assert.match(err.message, /could not be fetched$/)
      assert.match(err.detail, reason)
    } else {
      assert.match(err.message, reason)
    }
    return true
  })
}

describe('KeyResolver: key documents', () => {
  it('finds the publicKey of the actor the keyId points into', async () => {
    const docs = new Documents()
    docs.documents.set(ACTOR, actor())
    const key = await docs.resolver().resolve(KEY)
    assert.equal(key.id, KEY)
    assert.equal(key.owner, ACTOR)
    assert.equal(key.type, 'rsa')
    assert.ok(key.key.equals(rsa.publicKey))
    assert.deepEqual(docs.fetched, [ACTOR])
  })

  it('picks the right key of several (publicKey array, additionalPublicKeys, assertionMethod)', async () => {
    const docs = new Documents()
    const rsaMultikey = generateKeyPairSync('rsa', { modulusLength: 2048 })
    docs.documents.set(ACTOR, actor({
      publicKey: [
        { id: `${ACTOR}#other`, owner: ACTOR, publicKeyPem: pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey) },
        { id: KEY, owner: ACTOR, publicKeyPem: pem(rsa.publicKey) }
      ],
      additionalPublicKeys: [{ id: `${ACTOR}#ed25519-key`, type: 'Key', owner: ACTOR, publicKeyPem: pem(ed.publicKey) }],
      assertionMethod: [
        { id: `${ACTOR}#multikey-ed`, type: 'Multikey', controller: ACTOR, publicKeyMultibase: await exportMultibaseKey(ed.publicKey.toCryptoKey('Ed25519', true, ['verify'])) },
        {
          id: `${ACTOR}#multikey-rsa`,
          type: 'Multikey',
          controller: ACTOR,
          publicKeyMultibase: await exportMultibaseKey(rsaMultikey.publicKey.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']))
        }
      ]
    }))
    const resolver = docs.resolver()
    assert.ok((await resolver.resolve(KEY)).key.equals(rsa.publicKey))
    const misskey = await resolver.resolve(`${ACTOR}#ed25519-key`)
    assert.equal(misskey.type, 'ed25519')
    const multikey = await resolver.resolve(`${ACTOR}#multikey-ed`)
    assert.equal(multikey.type, 'ed25519')
    assert.ok(multikey.key.equals(ed.publicKey))
    const rsaKey = await resolver.resolve(`${ACTOR}#multikey-rsa`)
    assert.equal(rsaKey.type, 'rsa')
    assert.ok(rsaKey.key.equals(rsaMultikey.publicKey))
  })

  it('accepts a standalone key document whose owner lists it', async () => {
    const docs = new Documents()
    const keyId = `${ORIGIN}/keys/1`
    docs.documents.set(keyId, { id: keyId, type: 'Key', owner: ACTOR, publicKeyPem: pem(ed.publicKey) })
    docs.documents.set(ACTOR, actor({ publicKey: keyId }))
    const key = await docs.resolver().resolve(keyId)
    assert.deepEqual([key.owner, key.type], [ACTOR, 'ed25519'])
    assert.deepEqual(docs.fetched, [keyId, ACTOR])
  })

  it('follows a GoToSocial-style key stub to the actor it names', async () => {
    const docs = new Documents()
    const keyId = `${ACTOR}/main-key`
    docs.documents.set(keyId, { id: ACTOR, type: 'Person', publicKey: { id: keyId, owner: ACTOR, publicKeyPem: pem(generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey) } })
    docs.documents.set(ACTOR, actor({ publicKey: { id: keyId, owner: ACTOR, publicKeyPem: pem(rsa.publicKey) } }))
    const key = await docs.resolver().resolve(keyId)
    assert.ok(key.key.equals(rsa.publicKey), 'the key comes from the actor\'s own document')
    assert.deepEqual(docs.fetched, [keyId, ACTOR])
  })

  const refusals: Array<[string, string, Record<string, unknown> | undefined, RegExp]> = [
    ['a keyId that is not an http(s) URL', 'acct:alice@social.example', undefined, /not usable/],
    ['a keyId with credentials', 'https://user:pw@social.example/users/alice#main-key', undefined, /credentials/],
    ['a keyId that is not a URL', 'main-key', undefined, /not usable/],
    ['an over-long keyId', `${ORIGIN}/${'k'.repeat(1024)}`, undefined, /longer than 1024/],
    ['a key that cannot be fetched', `${ORIGIN}/users/nobody#main-key`, undefined, /HTTP 404/],
    ['a document that is not an object', KEY, { [ACTOR]: ['not', 'an', 'object'] }, /not a JSON object/],
    ['an actor that does not list the key', `${ACTOR}#other-key`, { [ACTOR]: actor() }, /does not list this key/],
    ['a key whose owner is another actor', KEY, { [ACTOR]: actor({ publicKey: { id: KEY, owner: `${ORIGIN}/users/bob`, publicKeyPem: pem(rsa.publicKey) } }) }, /owner is .*bob, not the actor/],
    ['a key without an owner', KEY, { [ACTOR]: actor({ publicKey: { id: KEY, publicKeyPem: pem(rsa.publicKey) } }) }, /owner is missing/],
    ['a key listed by reference only', KEY, { [ACTOR]: actor({ publicKey: KEY }) }, /without its material/],
    ['an RSA key under 2048 bits', KEY, { [ACTOR]: actor({ publicKey: { id: KEY, owner: ACTOR, publicKeyPem: pem(generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey) } }) }, /1024 bits/],
    ['an EC key', KEY, { [ACTOR]: actor({ publicKey: { id: KEY, owner: ACTOR, publicKeyPem: pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey) } }) }, /type ec are not supported/],
    ['a PEM that is no key', KEY, { [ACTOR]: actor({ publicKey: { id: KEY, owner: ACTOR, publicKeyPem: '-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----' } }) }, /not a public key/],
    ['an over-long PEM', KEY, { [ACTOR]: actor({ publicKey: { id: KEY, owner: ACTOR, publicKeyPem: `${pem(rsa.publicKey)}${' '.repeat(17 * 1024)}` } }) }, /no publicKeyPem/],
    ['a key list over 32 entries', KEY, { [ACTOR]: actor({ publicKey: Array.from({ length: 33 }, () => ({ id: KEY, owner: ACTOR, publicKeyPem: pem(rsa.publicKey) })) }) }, /does not list this key/],
    ['a Multikey that is not base58btc', KEY, { [ACTOR]: actor({ publicKey: undefined, assertionMethod: { id: KEY, controller: ACTOR, publicKeyMultibase: 'mAAAA' } }) }, /not base58btc/],
    ['a Multikey of another key type', KEY, { [ACTOR]: actor({ publicKey: undefined, assertionMethod: { id: KEY, controller: ACTOR, publicKeyMultibase: 'z6LSbysY2xFMRpGMhb7tFTLMpeuPRaqaWM1yECx2AtzE3KCc' } }) }, /neither an Ed25519 nor an RSA/],
    ['a standalone key answering for another id', `${ORIGIN}/keys/1`, { [`${ORIGIN}/keys/1`]: { id: `${ORIGIN}/keys/2`, owner: ACTOR, publicKeyPem: pem(rsa.publicKey) }, [ACTOR]: actor({ publicKey: `${ORIGIN}/keys/2` }) }, /answers for .*keys\/2/],
    ['a standalone key whose owner does not list it', `${ORIGIN}/keys/1`, { [`${ORIGIN}/keys/1`]: { id: `${ORIGIN}/keys/1`, owner: ACTOR, publicKeyPem: pem(rsa.publicKey) }, [ACTOR]: actor() }, /points elsewhere/],
    ['a standalone key without owner', `${ORIGIN}/keys/1`, { [`${ORIGIN}/keys/1`]: { id: `${ORIGIN}/keys/1`, publicKeyPem: pem(rsa.publicKey) } }, /names no owner/],
    ['a standalone key owned from another origin', `${ORIGIN}/keys/1`, { [`${ORIGIN}/keys/1`]: { id: `${ORIGIN}/keys/1`, owner: 'https://evil.example/users/alice', publicKeyPem: pem(rsa.publicKey) } }, /another origin/],
    ['a standalone key whose owner document has another id', `${ORIGIN}/keys/1`, { [`${ORIGIN}/keys/1`]: { id: `${ORIGIN}/keys/1`, owner: ACTOR, publicKeyPem: pem(rsa.publicKey) }, [ACTOR]: actor({ id: `${ORIGIN}/users/bob`, publicKey: `${ORIGIN}/keys/1` }) }, /answers for .*bob/],
    ['a key stub naming an actor on another origin', `${ACTOR}/main-key`, { [`${ACTOR}/main-key`]: { id: 'https://evil.example/users/alice', publicKey: { id: `${ACTOR}/main-key` } } }, /another origin/],
    ['a key stub whose actor answers for another id', `${ACTOR}/main-key`, { [`${ACTOR}/main-key`]: { id: ACTOR }, [ACTOR]: actor({ id: `${ORIGIN}/users/bob` }) }, /answers for another id/]
  ]
  it('tells the sender only that a key could not be fetched, not what the fetcher said about its host', async () => {
    const resolver = new KeyResolver({ fetchJson: async () => { throw new Error('cannot fetch http://intranet/actor: intranet resolves to 10.0.0.7, a private address') } })
    await assert.rejects(resolver.resolve('http://intranet/actor#key'), (err: unknown) => {
      assert.ok(err instanceof KeyFetchError)
      assert.equal(err.message, 'key http://intranet/actor#key is unavailable: its document at http://intranet/actor could not be fetched')
      assert.match(err.detail, /resolves to 10\.0\.0\.7/)
      return true
    })
  })

  for (const [name, keyId, documents, reason] of refusals) {
    it(`refuses ${name}`, async () => {
      const docs = new Documents()
      for (const [url, document] of Object.entries(documents ?? {})) docs.documents.set(url, document)
      await unavailable(docs.resolver().resolve(keyId), reason)
      assert.ok(docs.fetched.length <= 2, `${docs.fetched.length} fetches`)
      if (documents == null && !reason.source.includes('404')) assert.deepEqual(docs.fetched, [], 'refused before any fetch')
    })
  }
})

describe('KeyResolver: cache', () => {
  it('fetches a key once, and shares one fetch between concurrent callers', async () => {
    const docs = new Documents()
    docs.documents.set(ACTOR, actor())
    const resolver = docs.resolver()
    let open = (): void => {}
    docs.gate = new Promise((resolve) => { open = resolve })
    const both = Promise.all([resolver.resolve(KEY), resolver.resolve(KEY, { refresh: true })])
    open()
    const [first, second] = await both
    assert.equal(first, second)
    assert.equal(await resolver.resolve(KEY), first)
    assert.deepEqual(docs.fetched, [ACTOR])
  })

  it('refetches on refresh at most once per minRefreshMs', async () => {
    const docs = new Documents()
    docs.documents.set(ACTOR, actor())
    const resolver = docs.resolver({ minRefreshMs: 100 })
    const first = await resolver.resolve(KEY)
    assert.equal(await resolver.resolve(KEY, { refresh: true }), first, 'fetched moments ago')
    await sleep(120)
    const rotated = generateKeyPairSync('ed25519')
    docs.documents.set(ACTOR, actor({ publicKey: { id: KEY, owner: ACTOR, publicKeyPem: pem(rotated.publicKey) } }))
    const refreshed = await resolver.resolve(KEY, { refresh: true })
    assert.ok(refreshed.key.equals(rotated.publicKey))
    assert.equal(await resolver.resolve(KEY, { refresh: true }), refreshed)
    assert.equal(docs.fetched.length, 2)
  })

  it('remembers a failure for minRefreshMs', async () => {
    const docs = new Documents()
    const resolver = docs.resolver({ minRefreshMs: 100 })
    await unavailable(resolver.resolve(KEY), /HTTP 404/)
    await unavailable(resolver.resolve(KEY), /HTTP 404/)
    await unavailable(resolver.resolve(KEY, { refresh: true }), /HTTP 404/)
    assert.equal(docs.fetched.length, 1)
    docs.documents.set(ACTOR, actor())
    await sleep(120)
    assert.equal((await resolver.resolve(KEY)).owner, ACTOR)
    assert.equal(docs.fetched.length, 2)
  })

  it('keeps the key it has when a refresh fails', async () => {
    const docs = new Documents()
    docs.documents.set(ACTOR, actor())
    const resolver = docs.resolver({ minRefreshMs: 50 })
    const key = await resolver.resolve(KEY)
    docs.documents.delete(ACTOR)
    await sleep(60)
    await unavailable(resolver.resolve(KEY, { refresh: true }), /HTTP 404/)
    assert.equal(await resolver.resolve(KEY), key)
    assert.equal(await resolver.resolve(KEY, { refresh: true }), key, 'the failed refresh counts for the rate limit')
    assert.equal(docs.fetched.length, 2)
  })

  it('holds at most maxEntries keys', async () => {
    const docs = new Documents()
    docs.documents.set(ACTOR, actor({ publicKey: [{ id: KEY, owner: ACTOR, publicKeyPem: pem(rsa.publicKey) }, { id: `${ACTOR}#2`, owner: ACTOR, publicKeyPem: pem(ed.publicKey) }] }))
    const resolver = docs.resolver({ maxEntries: 1 })
    await resolver.resolve(KEY)
    await resolver.resolve(`${ACTOR}#2`)
    await resolver.resolve(KEY)
    assert.equal(docs.fetched.length, 3)
  })

  it('refuses options that are not positive integers', () => {
    const fetchJson = async (): Promise<unknown> => ({})
    assert.throws(() => new KeyResolver({ fetchJson, minRefreshMs: 0 }), TypeError)
    assert.throws(() => new KeyResolver({ fetchJson, ttlMs: -1 }), TypeError)
    assert.throws(() => new KeyResolver({ fetchJson, maxEntries: 1.5 }), TypeError)
  })
})
