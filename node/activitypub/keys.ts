import { createPublicKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { LRUCache } from 'lru-cache'
import { base58btc } from 'multiformats/bases/base58'
import { urlForMessage } from '../fetcher/errors.ts'
import { checkUrlForm } from '../fetcher/target.ts'
import { SignatureError } from './http-signatures.ts'

/**
 * Finds the public key an HTTP signature names by its `keyId`, the way
 * Mastodon does (ActivityPub::FetchRemoteKeyService): the key is listed by
 * its actor, and the actor is the key's owner. Key documents are attacker
 * input, so every value read from them is bounded. Results are cached; a
 * key is refetched on demand (key rotation) at most once per minRefreshMs.
 */

/** Fetches and parses a JSON document. The lead passes the SSRF-safe fetcher (a signed GET); tests a plain fetch. */
export type JsonFetch = (url: string, signal?: AbortSignal) => Promise<unknown>

export interface ResolvedKey {
  /** The keyId, as the signature named it. */
  id: string
  /** The actor's id: the key's owner (controller). */
  owner: string
  key: KeyObject
  type: 'rsa' | 'ed25519'
}

export interface KeyResolverOptions {
  fetchJson: JsonFetch
  /** Keys (and recent failures) kept. Default 10 000. */
  maxEntries?: number
  /** How long a fetched key is trusted without a refetch. Default 24 h. */
  ttlMs?: number
  /** A keyId is fetched at most once in this time: refreshes and failures wait it out. Default 60 s. */
  minRefreshMs?: number
}

/** Arrays longer than this are ignored (an actor lists a handful of keys). */
const MAX_ENTRIES = 32
/** Strings longer than this are ignored (an RSA-4096 PEM is ~800 characters). */
const MAX_STRING = 16 * 1024
/** Real keyIds are under 200 characters; the cache holds up to maxEntries of them. */
const MAX_KEY_ID = 1024
const MIN_RSA_BITS = 2048
/** Multicodec prefixes (unsigned varints) of the public keys a Multikey may hold. */
const ED25519_PUB = [0xed, 0x01]
const RSA_PUB = [0x85, 0x24]

interface CacheEntry {
  result: ResolvedKey | SignatureError
  /** Date.now() of the last fetch attempt, for the refresh rate limit. */
  attemptedAt: number
}

type JsonObject = Record<string, unknown>

export class KeyResolver {
  private readonly fetchJson: JsonFetch
  private readonly minRefreshMs: number
  private readonly cache: LRUCache<string, CacheEntry>
  private readonly inflight = new Map<string, Promise<ResolvedKey>>()

  constructor (options: KeyResolverOptions) {
    this.fetchJson = options.fetchJson
    const maxEntries = positive('maxEntries', options.maxEntries ?? 10_000)
    const ttlMs = positive('ttlMs', options.ttlMs ?? 24 * 3600_000)
    this.minRefreshMs = positive('minRefreshMs', options.minRefreshMs ?? 60_000)
    this.cache = new LRUCache({ max: maxEntries, ttl: ttlMs })
  }

  /**
   * The public key named by keyId; `refresh` refetches it (at most once per
   * minRefreshMs per keyId; concurrent callers share one fetch). Throws
   * SignatureError('key_unavailable') on any failure, its message says why.
   */
  async resolve (keyId: string, options: { refresh?: boolean } = {}): Promise<ResolvedKey> {
    // Malformed keyIds are refused before the cache: they cost nothing, and must not fill it.
    if (keyId.length > MAX_KEY_ID) throw unavailable(keyId, `the keyId is longer than ${MAX_KEY_ID} characters`)
    const keyUrl = httpUrl(keyId, keyId, 'the keyId')
    const pending = this.inflight.get(keyId)
    if (pending != null) return await pending
    const cached = this.cache.get(keyId)
    if (cached != null && (options.refresh !== true || Date.now() - cached.attemptedAt < this.minRefreshMs)) {
      if (cached.result instanceof SignatureError) throw cached.result
      return cached.result
    }
    const fetching = this.fetchKey(keyId, keyUrl).then(
      (key) => {
        this.cache.set(keyId, { result: key, attemptedAt: Date.now() })
        return key
      },
      (err: unknown) => {
        const error = err instanceof SignatureError ? err : unavailable(keyId, errorMessage(err))
        if (cached != null && !(cached.result instanceof SignatureError)) {
          // A failed refresh keeps the key we had (until its own expiry): the
          // remote may be briefly down, and the next refresh waits anyway.
          const ttl = Math.max(1, this.cache.getRemainingTTL(keyId))
          this.cache.set(keyId, { result: cached.result, attemptedAt: Date.now() }, { ttl })
        } else {
          // Remembered briefly, so a flood of requests naming a bad keyId costs one fetch.
          this.cache.set(keyId, { result: error, attemptedAt: Date.now() }, { ttl: this.minRefreshMs })
        }
        throw error
      }
    ).finally(() => this.inflight.delete(keyId))
    this.inflight.set(keyId, fetching)
    return await fetching
  }

  /** Fetches and checks the key: at most two documents (the key's and its owner's). */
  private async fetchKey (keyId: string, keyUrl: URL): Promise<ResolvedKey> {
    const fetchedUrl = withoutFragment(keyUrl)
    const document = await this.fetchObject(keyId, fetchedUrl)
    if (isStandaloneKey(document)) return await this.fromStandaloneKey(keyId, keyUrl, document)

    let actor = document
    const actorId = stringOf(actor.id)
    if (actorId == null) throw unavailable(keyId, 'the key document has no id')
    if (actorId !== fetchedUrl) {
      // GoToSocial serves a stub of the actor at the key's URL; like Mastodon,
      // trust only the actor's own document, fetched at its id.
      sameOrigin(keyId, keyUrl, actorId)
      actor = await this.fetchObject(keyId, actorId)
      if (actor.id !== actorId) throw unavailable(keyId, `the actor document at ${urlForMessage(actorId)} answers for another id`)
    }
    const entry = findListedKey(actor, keyId)
    if (entry == null) throw unavailable(keyId, `the actor ${urlForMessage(actorId)} does not list this key`)
    if (typeof entry === 'string') throw unavailable(keyId, `the actor ${urlForMessage(actorId)} lists this key without its material`)
    const owner = controllerOf(entry)
    if (owner !== actorId) throw unavailable(keyId, `the key's owner is ${owner == null ? 'missing' : urlForMessage(owner)}, not the actor ${urlForMessage(actorId)} that lists it`)
    sameOrigin(keyId, keyUrl, actorId)
    return { id: keyId, owner: actorId, ...keyMaterial(keyId, entry) }
  }

  /** A key document of its own (`{ id, owner, publicKeyPem }` or a Multikey): its owner must list it back. */
  private async fromStandaloneKey (keyId: string, keyUrl: URL, document: JsonObject): Promise<ResolvedKey> {
    if (document.id !== keyId) throw unavailable(keyId, `the key document answers for ${describeId(document.id)}, not for this keyId`)
    const owner = controllerOf(document)
    if (owner == null) throw unavailable(keyId, 'the key document names no owner')
    const ownerUrl = httpUrl(keyId, owner, 'the key\'s owner')
    sameOrigin(keyId, keyUrl, owner)
    const material = keyMaterial(keyId, document)
    const actor = await this.fetchObject(keyId, withoutFragment(ownerUrl))
    if (actor.id !== owner) throw unavailable(keyId, `the owner document at ${urlForMessage(owner)} answers for ${describeId(actor.id)}`)
    if (findListedKey(actor, keyId) == null) {
      throw unavailable(keyId, `the key document points elsewhere: its owner ${urlForMessage(owner)} does not list this key`)
    }
    return { id: keyId, owner, ...material }
  }

  private async fetchObject (keyId: string, url: string): Promise<JsonObject> {
    let document: unknown
    try {
      document = await this.fetchJson(url)
    } catch (err) {
      throw new KeyFetchError(keyId, url, errorMessage(err))
    }
    const object = objectOf(document)
    if (object == null) throw unavailable(keyId, `${urlForMessage(url)} is not a JSON object`)
    return object
  }
}

/**
 * A key whose document could not be fetched. Anyone may make the node fetch
 * a keyId, so the message, which goes back to the sender, says only that;
 * why (the fetcher's verdict on the host: what a name resolves to, that an
 * address is loopback or private, a refused connection) is the `detail`, for
 * the node's log, so the inbox cannot be used to map internal names.
 */
export class KeyFetchError extends SignatureError {
  readonly detail: string

  constructor (keyId: string, url: string, detail: string) {
    super('key_unavailable', `key ${urlForMessage(keyId)} is unavailable: its document at ${urlForMessage(url)} could not be fetched`)
    this.detail = detail
  }
}

function unavailable (keyId: string, reason: string): SignatureError {
  return new SignatureError('key_unavailable', `key ${urlForMessage(keyId)} is unavailable: ${reason}`)
}

function positive (name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new TypeError(`${name} must be a positive integer, not ${value}`)
  return value
}

function errorMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/** An http(s) URL without credentials (the fetcher's own form checks). */
function httpUrl (keyId: string, raw: string, what: string): URL {
  try {
    return checkUrlForm(raw).url
  } catch (err) {
    throw unavailable(keyId, `${what} ${urlForMessage(raw)} is not usable: ${errorMessage(err)}`)
  }
}

function withoutFragment (url: URL): string {
  const copy = new URL(url.href)
  copy.hash = ''
  return copy.href
}

/** Like Mastodon, a key and its owner live on the same origin (scheme, host and port). */
function sameOrigin (keyId: string, keyUrl: URL, owner: string): void {
  let ownerOrigin: string
  try {
    ownerOrigin = new URL(owner).origin
  } catch {
    throw unavailable(keyId, `the owner ${urlForMessage(owner)} is not a URL`)
  }
  if (ownerOrigin !== keyUrl.origin) throw unavailable(keyId, `the owner ${urlForMessage(owner)} is on another origin than the key`)
}

function objectOf (value: unknown): JsonObject | undefined {
  return typeof value === 'object' && value != null && !Array.isArray(value) ? value as JsonObject : undefined
}

function stringOf (value: unknown): string | undefined {
  return typeof value === 'string' && value.length <= MAX_STRING ? value : undefined
}

/** A property that may hold one value or an array; over-long arrays are ignored. */
function listOf (value: unknown): unknown[] {
  if (value == null) return []
  if (Array.isArray(value)) return value.length <= MAX_ENTRIES ? value : []
  return [value]
}

/** A link: a string, or an object with a string id. */
function idOf (value: unknown): string | undefined {
  return stringOf(value) ?? stringOf(objectOf(value)?.id)
}

function describeId (value: unknown): string {
  const id = idOf(value)
  return id == null ? 'no id' : urlForMessage(id)
}

function controllerOf (entry: JsonObject): string | undefined {
  return idOf(entry.owner) ?? idOf(entry.controller)
}

function isStandaloneKey (document: JsonObject): boolean {
  return document.publicKeyPem != null || document.publicKeyMultibase != null
}

/**
 * The entry (an object, or a bare id) of the actor's keys whose id is keyId:
 * `publicKey` (Mastodon), `assertionMethod` (FEP-521a Multikeys) and
 * `additionalPublicKeys` (Misskey).
 */
function findListedKey (actor: JsonObject, keyId: string): JsonObject | string | undefined {
  for (const property of ['publicKey', 'assertionMethod', 'additionalPublicKeys']) {
    for (const entry of listOf(actor[property])) {
      if (idOf(entry) !== keyId) continue
      return objectOf(entry) ?? keyId
    }
  }
  return undefined
}

/** The key a key object holds: a PEM (SPKI, RSA or Ed25519) or a Multikey's `publicKeyMultibase`. */
function keyMaterial (keyId: string, entry: JsonObject): Pick<ResolvedKey, 'key' | 'type'> {
  const pem = stringOf(entry.publicKeyPem)
  const multibase = stringOf(entry.publicKeyMultibase)
  let key: KeyObject
  if (pem != null) {
    try {
      key = createPublicKey({ key: pem, format: 'pem' })
    } catch (err) {
      throw unavailable(keyId, `publicKeyPem is not a public key: ${errorMessage(err)}`)
    }
  } else if (multibase != null) {
    key = multikey(keyId, multibase)
  } else {
    throw unavailable(keyId, 'the key has no publicKeyPem or publicKeyMultibase')
  }
  return { key, type: keyType(keyId, key) }
}

/** FEP-521a: 'z' + base58btc of a multicodec-prefixed public key. */
function multikey (keyId: string, multibase: string): KeyObject {
  let bytes: Uint8Array
  try {
    bytes = base58btc.decode(multibase)
  } catch (err) {
    throw unavailable(keyId, `publicKeyMultibase is not base58btc ('z…'): ${errorMessage(err)}`)
  }
  try {
    if (hasPrefix(bytes, ED25519_PUB) && bytes.length === ED25519_PUB.length + 32) {
      const x = Buffer.from(bytes.subarray(ED25519_PUB.length)).toString('base64url')
      return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x }, format: 'jwk' })
    }
    if (hasPrefix(bytes, RSA_PUB)) {
      return createPublicKey({ key: Buffer.from(bytes.subarray(RSA_PUB.length)), format: 'der', type: 'pkcs1' })
    }
  } catch (err) {
    throw unavailable(keyId, `publicKeyMultibase does not hold a valid key: ${errorMessage(err)}`)
  }
  throw unavailable(keyId, 'publicKeyMultibase holds neither an Ed25519 nor an RSA public key')
}

function hasPrefix (bytes: Uint8Array, prefix: number[]): boolean {
  return prefix.every((byte, index) => bytes[index] === byte)
}

function keyType (keyId: string, key: KeyObject): ResolvedKey['type'] {
  if (key.asymmetricKeyType === 'ed25519') return 'ed25519'
  if (key.asymmetricKeyType === 'rsa') {
    const bits = key.asymmetricKeyDetails?.modulusLength ?? 0
    if (bits < MIN_RSA_BITS) throw unavailable(keyId, `the RSA key has ${bits} bits, fewer than ${MIN_RSA_BITS}`)
    return 'rsa'
  }
  throw unavailable(keyId, `keys of type ${key.asymmetricKeyType ?? 'unknown'} are not supported (only RSA and Ed25519)`)
}
