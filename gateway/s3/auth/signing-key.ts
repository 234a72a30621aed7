/**
 * SigV4 signing keys: HMAC chain secret → date → region → service →
 * "aws4_request", and the HMACs made with them. A key is valid for a whole day
 * and region, and a busy tenant signs thousands of requests with the same
 * one, so the last few are kept: four HMACs saved per request.
 */
import { createHmac, createSecretKey, timingSafeEqual } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

export const TERMINATOR = 'aws4_request'

const MAX_CACHED = 256
// Map keeps insertion order: re-inserting on a hit makes it an LRU
const cache = new Map<string, Buffer>()

export function hmacSha256 (key: Uint8Array | string, data: string | Uint8Array): Buffer {
  return createHmac('sha256', key).update(data).digest()
}

/** The signing key for `<date>/<region>/<service>/aws4_request` (date is YYYYMMDD). */
export function signingKey (secret: string, date: string, region: string, service = 's3'): Buffer {
  // the secret is part of the cache key, so a rotated secret never meets a stale key
  const id = `${date}\n${region}\n${service}\n${secret}`
  const hit = cache.get(id)
  if (hit !== undefined) {
    cache.delete(id)
    cache.set(id, hit)
    return hit
  }
  const kDate = hmacSha256('AWS4' + secret, date)
  const kRegion = hmacSha256(kDate, region)
  const kService = hmacSha256(kRegion, service)
  const key = hmacSha256(kService, TERMINATOR)
  cache.set(id, key)
  if (cache.size > MAX_CACHED) cache.delete(cache.keys().next().value!)
  return key
}

/**
 * Signing keys as KeyObjects, made once per key: node imports a raw key on
 * every `createHmac` (about 8 µs), a KeyObject costs nothing more (about
 * 1 µs). A request signs once, an aws-chunked body once per chunk.
 */
const keyObjects = new WeakMap<Uint8Array, KeyObject>()

function keyObjectOf (key: Uint8Array): KeyObject | Uint8Array {
  if (key.length === 0) return key
  let object = keyObjects.get(key)
  if (object === undefined) {
    object = createSecretKey(key)
    keyObjects.set(key, object)
  }
  return object
}

/** Hex HMAC-SHA256 of a string to sign: a signature. */
export function sign (key: Uint8Array, stringToSign: string): string {
  return createHmac('sha256', keyObjectOf(key)).update(stringToSign).digest('hex')
}

/**
 * Whether a signature the client sent equals the one computed, in time that
 * does not depend on where they differ (a signature oracle must not leak a
 * prefix). Lengths are public: a 64-hex signature is expected.
 */
export function signaturesEqual (computed: string, provided: string): boolean {
  const a = Buffer.from(computed, 'latin1')
  const b = Buffer.from(provided, 'latin1')
  return a.length === b.length && timingSafeEqual(a, b)
}
