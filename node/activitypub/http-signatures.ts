import { constants, createHash, sign, timingSafeEqual, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { cavage, httpbis } from 'http-message-signatures'
import { isInnerList, parseDictionary, serializeItem, serializeList } from 'structured-headers'
import type { Dictionary, InnerList, Item } from 'structured-headers'
import { urlForMessage } from '../fetcher/errors.ts'
import type { KeyResolver, ResolvedKey } from './keys.ts'

/**
 * HTTP signatures of ActivityPub requests, with Mastodon's rules
 * (app/lib/signed_request.rb, app/controllers/concerns/signature_verification.rb):
 * incoming draft-cavage (`rsa-sha256`, `hs2019`) and RFC 9421
 * (`rsa-v1_5-sha256`, `ed25519`) signatures are checked — signed components,
 * body digest, clock window — before the key is fetched, then verified, and
 * verified once more with a refetched key (key rotation). Outgoing requests
 * are signed like Mastodon signs them.
 */

export interface IncomingSignedRequest {
  /** 'POST', 'GET', … */
  method: string
  /** Path and query as received, e.g. '/inbox'. */
  url: string
  /** Node's IncomingHttpHeaders (lower-case names), Host included. */
  headers: Record<string, string | string[] | undefined>
  /** The raw body bytes of a POST. */
  body?: Uint8Array
}

export type SignatureScheme = 'draft-cavage' | 'rfc9421'

export interface VerifiedSignature {
  keyId: string
  /** The key owner's actor id. */
  owner: string
  scheme: SignatureScheme
  /** As the signature declares it ('rsa-sha256', 'hs2019', 'rsa-v1_5-sha256', 'ed25519'), or as the key implies it when an RFC 9421 signature has no `alg`. */
  algorithm: string
}

export type SignatureErrorCode = 'signature_missing' | 'signature_invalid' | 'signature_expired' | 'digest_mismatch' | 'key_unavailable'

/** Every failure is a 401, as Mastodon answers (the caller maps an owner that isn't the activity's actor to 403 itself). */
export class SignatureError extends Error {
  readonly code: SignatureErrorCode
  readonly status = 401 as const

  constructor (code: SignatureErrorCode, message: string) {
    super(message)
    this.name = 'SignatureError'
    this.code = code
  }
}

export interface VerifierOptions {
  keys: KeyResolver
  /** Milliseconds since the epoch. Default Date.now. */
  now?: () => number
  /** The scheme the node is reached by (from FDN_PUBLIC_URL), to rebuild RFC 9421's @target-uri. Default 'https'. */
  publicScheme?: 'http' | 'https'
}

/** Mastodon's SignedRequest constants. */
const CLOCK_SKEW_MARGIN_MS = 3600_000
const EXPIRATION_WINDOW_LIMIT_MS = 12 * 3600_000
const DEFAULT_VALIDITY_MS = 5 * 60_000
/** More signed headers than any sender uses; bounds the work on a hostile header. */
const MAX_COMPONENTS = 32

/** How a signature's bytes are checked: a fixed algorithm, or whatever the key's type implies. */
type KeyAlgorithm = 'rsa' | 'ed25519' | 'by-key'

/** A signature parsed and checked, ready for its key. */
interface ParsedSignature {
  scheme: SignatureScheme
  keyId: string
  algorithm: string | undefined
  keyAlgorithm: KeyAlgorithm
  signature: Buffer
  /** The signed strings to try (draft-cavage: with, then without, the query). */
  bases: string[]
}

export class SignatureVerifier {
  private readonly keys: KeyResolver
  private readonly now: () => number
  private readonly publicScheme: 'http' | 'https'

  constructor (options: VerifierOptions) {
    this.keys = options.keys
    this.now = options.now ?? Date.now
    this.publicScheme = options.publicScheme ?? 'https'
  }

  /** Verifies the request's signature (RFC 9421 when Signature-Input is present, else draft-cavage `Signature` or `Authorization: Signature`); throws SignatureError. */
  async verify (request: IncomingSignedRequest): Promise<VerifiedSignature> {
    const parsed = headerValue(request.headers, 'signature-input') != null
      ? parseRfc9421(request, this.now(), this.publicScheme)
      : parseCavage(request, this.now())
    let key = await this.keys.resolve(parsed.keyId)
    if (!verifiesWith(parsed, key)) {
      // Key rotation: like Mastodon, refetch the key once and try again. The
      // resolver returns the same key when it fetched it moments ago.
      let fresh: ResolvedKey
      try {
        fresh = await this.keys.resolve(parsed.keyId, { refresh: true })
      } catch (err) {
        throw new SignatureError('signature_invalid', `the signature does not verify with key ${urlForMessage(parsed.keyId)}, and refreshing the key failed: ${(err as Error).message}`)
      }
      if (fresh === key || !verifiesWith(parsed, fresh)) {
        throw new SignatureError('signature_invalid', `the signature does not verify with key ${urlForMessage(parsed.keyId)}`)
      }
      key = fresh
    }
    return {
      keyId: parsed.keyId,
      owner: key.owner,
      scheme: parsed.scheme,
      algorithm: parsed.algorithm ?? (key.type === 'rsa' ? 'rsa-v1_5-sha256' : 'ed25519')
    }
  }
}

function verifiesWith (parsed: ParsedSignature, key: ResolvedKey): boolean {
  if (parsed.keyAlgorithm !== 'by-key' && parsed.keyAlgorithm !== key.type) return false
  return parsed.bases.some((base) => verifyBytes(key, Buffer.from(base), parsed.signature))
}

function verifyBytes (key: ResolvedKey, data: Buffer, signature: Buffer): boolean {
  try {
    return key.type === 'rsa'
      ? verify('sha256', data, { key: key.key, padding: constants.RSA_PKCS1_PADDING }, signature)
      : verify(null, data, key.key, signature)
  } catch {
    return false
  }
}

function invalid (message: string): SignatureError {
  return new SignatureError('signature_invalid', message)
}

/** One header's value; repeated headers joined with ', ' (RFC 9110 §5.3). */
function headerValue (headers: IncomingSignedRequest['headers'], name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** Mastodon's clock window: not over an hour in the future, and not past min(expires, created + 12 h) by over an hour. */
function checkClock (createdMs: number, expiresMs: number | undefined, nowMs: number): void {
  if (createdMs > nowMs + CLOCK_SKEW_MARGIN_MS) {
    throw new SignatureError('signature_expired', `the signature was created ${timeText(createdMs)}, over an hour in the future`)
  }
  const expires = Math.min(expiresMs ?? createdMs + DEFAULT_VALIDITY_MS, createdMs + EXPIRATION_WINDOW_LIMIT_MS)
  if (nowMs > expires + CLOCK_SKEW_MARGIN_MS) {
    throw new SignatureError('signature_expired', `the signature expired ${timeText(expires)} (created ${timeText(createdMs)}), outside the acceptable time window`)
  }
}

/** Largest time a Date holds (ECMA-262): an RFC 9421 created or expires of up to 15 digits is beyond it. */
const MAX_DATE_MS = 8.64e15

/** A time for a message: ISO 8601, or seconds since the epoch when no Date can hold it (toISOString would throw). */
function timeText (ms: number): string {
  return Math.abs(ms) <= MAX_DATE_MS ? new Date(ms).toISOString() : `${ms / 1000} s after the epoch`
}

function sha256 (body: Uint8Array | undefined): Buffer {
  return createHash('sha256').update(body ?? new Uint8Array()).digest()
}

function sameBytes (a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b)
}

// ---------------------------------------------------------------------------
// draft-cavage-http-signatures

/** `name="quoted"` or `name=token`, comma-separated. */
const CAVAGE_PARAM = /\s*([A-Za-z]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s",]*))\s*(?:,|$)/y

function parseCavageParams (raw: string): Map<string, string> {
  const params = new Map<string, string>()
  CAVAGE_PARAM.lastIndex = 0
  while (CAVAGE_PARAM.lastIndex < raw.length) {
    const start = CAVAGE_PARAM.lastIndex
    const match = CAVAGE_PARAM.exec(raw)
    if (match == null || CAVAGE_PARAM.lastIndex === start) throw invalid('the Signature header cannot be parsed')
    const [, name, quoted, token] = match
    if (params.has(name)) throw invalid(`the Signature header repeats '${name}'`)
    params.set(name, quoted != null ? quoted.replace(/\\(.)/g, '$1') : token)
  }
  return params
}

/** A (created)/(expires) value: seconds since the epoch. */
function cavageSeconds (params: Map<string, string>, name: string): number | undefined {
  const raw = params.get(name)
  if (raw == null) return undefined
  if (!/^\d{1,12}(\.\d+)?$/.test(raw)) throw invalid(`the signature's ${name} '${raw.slice(0, 40)}' is not a time in seconds`)
  return Math.floor(Number(raw)) * 1000
}

function parseCavage (request: IncomingSignedRequest, nowMs: number): ParsedSignature {
  let raw = headerValue(request.headers, 'signature')
  if (raw == null) {
    const authorization = headerValue(request.headers, 'authorization')
    if (authorization != null && /^signature\s/i.test(authorization)) raw = authorization.replace(/^signature\s+/i, '')
  }
  if (raw == null || raw.trim() === '') throw new SignatureError('signature_missing', 'the request is not signed (no Signature, Signature-Input or Authorization: Signature header)')
  const params = parseCavageParams(raw)
  const keyId = params.get('keyId')
  const signature = params.get('signature')
  if (keyId == null || keyId === '' || signature == null || signature === '') throw invalid('the signature lacks keyId or signature')

  const algorithm = (params.get('algorithm') ?? 'hs2019').toLowerCase()
  if (algorithm !== 'rsa-sha256' && algorithm !== 'hs2019') {
    throw invalid(`unsupported signature algorithm '${algorithm.slice(0, 40)}' (only rsa-sha256 and hs2019 are supported)`)
  }
  const hs2019 = algorithm === 'hs2019'
  const signed = (params.get('headers') ?? (hs2019 ? '(created)' : 'date')).toLowerCase().split(/\s+/).filter((name) => name !== '')
  if (signed.length > MAX_COMPONENTS) throw invalid(`the signature covers more than ${MAX_COMPONENTS} headers`)

  // What must be signed: Mastodon's verify_signature_strength!, plus the Host header on every request.
  if (!signed.includes('(request-target)')) throw invalid('the (request-target) pseudo-header must be signed')
  if (!signed.includes('host')) throw invalid('the Host header must be signed')
  if (!signed.includes('date') && !signed.includes('(created)')) throw invalid('the Date header or the (created) pseudo-header must be signed')
  if (request.method.toUpperCase() === 'POST' && !signed.includes('digest')) throw invalid('the Digest header must be signed on a POST')

  // (created)/(expires) exist in hs2019 only (Mastodon refuses them with rsa-sha256).
  const created = cavageSeconds(params, 'created')
  const expires = cavageSeconds(params, 'expires')
  for (const pseudo of ['(created)', '(expires)']) {
    if (!signed.includes(pseudo)) continue
    if (!hs2019) throw invalid(`the ${pseudo} pseudo-header is only valid with hs2019`)
    if (!params.has(pseudo.slice(1, -1))) throw invalid(`the ${pseudo} pseudo-header is signed but the signature has no ${pseudo.slice(1, -1)} parameter`)
  }

  const createdMs = hs2019 && created != null ? created : dateHeader(request)
  if (createdMs == null) throw invalid('the request has neither a Date header nor a created parameter')
  checkClock(createdMs, expires, nowMs)

  const lines = (target: string): string => signed.map((name) => {
    switch (name) {
      case '(request-target)': return `(request-target): ${request.method.toLowerCase()} ${target}`
      case '(created)':
      case '(expires)': return `${name}: ${params.get(name.slice(1, -1)) ?? ''}`
      default: {
        const value = headerValue(request.headers, name)
        if (value == null) throw invalid(`the signed header '${name.slice(0, 40)}' is missing`)
        return `${name}: ${value.trim()}`
      }
    }
  }).join('\n')
  // Mastodon also accepts (request-target) without the query: senders long omitted it.
  const path = request.url.split('?')[0]
  const bases = path === request.url ? [lines(request.url)] : [lines(request.url), lines(path)]

  if (signed.includes('digest')) checkDigest(request)
  return {
    scheme: 'draft-cavage',
    keyId,
    algorithm,
    keyAlgorithm: hs2019 ? 'by-key' : 'rsa',
    signature: Buffer.from(signature, 'base64'),
    bases
  }
}

function dateHeader (request: IncomingSignedRequest): number | undefined {
  const date = headerValue(request.headers, 'date')
  if (date == null) return undefined
  const ms = Date.parse(date)
  if (Number.isNaN(ms)) throw invalid(`the Date header '${date.slice(0, 40)}' is not a date`)
  return ms
}

/** RFC 3230 `Digest: SHA-256=<base64>` must match the body (Mastodon's verify_body_digest!). */
function checkDigest (request: IncomingSignedRequest): void {
  const header = headerValue(request.headers, 'digest') ?? ''
  const digests = new Map(header.split(',').map((part) => {
    const at = part.indexOf('=')
    return at === -1 ? [part.trim().toLowerCase(), ''] : [part.slice(0, at).trim().toLowerCase(), part.slice(at + 1).trim()]
  }))
  const given = digests.get('sha-256')
  if (given == null) {
    throw new SignatureError('digest_mismatch', `only SHA-256 is supported in the Digest header; offered: ${[...digests.keys()].join(', ').slice(0, 100) || 'none'}`)
  }
  const computed = sha256(request.body)
  if (!sameBytes(Buffer.from(given, 'base64'), computed)) {
    throw new SignatureError('digest_mismatch', `the Digest header does not match the body (computed SHA-256=${computed.toString('base64')})`)
  }
}

// ---------------------------------------------------------------------------
// RFC 9421 HTTP Message Signatures

const RFC9421_ALGORITHMS = new Map<string, KeyAlgorithm>([['rsa-v1_5-sha256', 'rsa'], ['ed25519', 'ed25519']])
const CONTENT_DIGESTS = new Map([['sha-256', 'sha256'], ['sha-512', 'sha512']])

function parseDictionaryHeader (request: IncomingSignedRequest, name: string): Dictionary | undefined {
  const raw = headerValue(request.headers, name)
  if (raw == null) return undefined
  try {
    return parseDictionary(raw)
  } catch (err) {
    throw invalid(`the ${name} header is not a structured dictionary: ${(err as Error).message}`)
  }
}

interface ChosenSignature {
  label: string
  input: InnerList
  keyId: string
  /** Seconds since the epoch. */
  created: number
  expires: number | undefined
  alg: string | undefined
  keyAlgorithm: KeyAlgorithm
  signature: ArrayBuffer
}

/** A Signature-Input member with Mastodon's requirements met, or why it falls short. */
function examine (label: string, input: InnerList | Item, signature: Item | InnerList | undefined, post: boolean): ChosenSignature | string {
  if (!isInnerList(input)) return 'it is not an inner list'
  const bytes = signature?.[0]
  if (!(bytes instanceof ArrayBuffer)) return 'the Signature header has no byte sequence for it'
  const [items, params] = input
  if (items.length > MAX_COMPONENTS) return `it covers more than ${MAX_COMPONENTS} components`
  if (!items.every(([name]) => typeof name === 'string')) return 'a component name is not a string'
  const components = items.map(([name]) => name)
  const keyId = params.get('keyid')
  const created = params.get('created')
  const expires = params.get('expires')
  const alg = params.get('alg')
  if (typeof keyId !== 'string' || keyId === '') return 'it has no keyid'
  if (typeof created !== 'number' || !Number.isInteger(created)) return 'it has no created parameter'
  if (expires != null && (typeof expires !== 'number' || !Number.isInteger(expires))) return 'its expires parameter is not an integer'
  if (!components.includes('@method') || !components.includes('@target-uri')) return 'the @method and @target-uri components must be signed'
  if (post && !components.includes('content-digest')) return 'the Content-Digest header must be signed on a POST'
  if (alg != null && typeof alg !== 'string') return 'its alg parameter is not a string'
  const keyAlgorithm = alg == null ? 'by-key' : RFC9421_ALGORITHMS.get(alg)
  if (keyAlgorithm == null) return `unsupported algorithm '${String(alg).slice(0, 40)}' (only rsa-v1_5-sha256 and ed25519 are supported)`
  return { label, input, keyId, created, expires, alg, keyAlgorithm, signature: bytes }
}

function parseRfc9421 (request: IncomingSignedRequest, nowMs: number, scheme: string): ParsedSignature {
  const inputs = parseDictionaryHeader(request, 'signature-input')
  const signatures = parseDictionaryHeader(request, 'signature')
  if (inputs == null || inputs.size === 0) throw new SignatureError('signature_missing', 'the Signature-Input header is empty')
  if (signatures == null) throw invalid('the request has a Signature-Input header but no Signature header')

  // The first member Mastodon's rules accept (a request may carry several signatures).
  let chosen: ChosenSignature | undefined
  let firstRefusal: string | undefined
  for (const [label, input] of inputs) {
    const verdict = examine(label, input, signatures.get(label), request.method.toUpperCase() === 'POST')
    if (typeof verdict !== 'string') {
      chosen = verdict
      break
    }
    firstRefusal ??= `signature '${label}' is not acceptable: ${verdict}`
  }
  if (chosen == null) throw invalid(firstRefusal ?? 'no acceptable signature')

  const items = chosen.input[0]
  checkClock(chosen.created * 1000, chosen.expires == null ? undefined : chosen.expires * 1000, nowMs)

  const host = headerValue(request.headers, 'host')
  if (host == null) throw invalid('the request has no Host header')
  const headers: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(request.headers)) if (value != null) headers[name] = value
  // Signed components are read by the library; a header it cannot find (or a
  // response-only component) makes the signature unverifiable.
  let base: string
  try {
    const message = { method: request.method, url: `${scheme}://${host}${request.url}`, headers }
    const signatureBase = httpbis.createSignatureBase({ fields: items.map((item) => serializeItem(item)) }, message)
    signatureBase.push(['"@signature-params"', [serializeList([chosen.input])]])
    base = httpbis.formatSignatureBase(signatureBase)
  } catch (err) {
    throw invalid(`signature '${chosen.label}' cannot be checked: ${(err as Error).message}`)
  }

  if (items.some(([name]) => name === 'content-digest')) checkContentDigest(request)
  return {
    scheme: 'rfc9421',
    keyId: chosen.keyId,
    algorithm: chosen.alg,
    keyAlgorithm: chosen.keyAlgorithm,
    signature: Buffer.from(chosen.signature),
    bases: [base]
  }
}

/** RFC 9530 `Content-Digest: sha-256=:<base64>:` (or sha-512): every supported digest offered must match the body. */
function checkContentDigest (request: IncomingSignedRequest): void {
  const digests = parseDictionaryHeader(request, 'content-digest')
  if (digests == null) throw invalid('the signed Content-Digest header is missing')
  let checked = 0
  for (const [name, member] of digests) {
    const hash = CONTENT_DIGESTS.get(name)
    if (hash == null) continue
    const given = member[0]
    if (!(given instanceof ArrayBuffer)) throw new SignatureError('digest_mismatch', `the Content-Digest ${name} value is not a byte sequence`)
    const computed = createHash(hash).update(request.body ?? new Uint8Array()).digest()
    if (!sameBytes(new Uint8Array(given), computed)) {
      throw new SignatureError('digest_mismatch', `the Content-Digest header does not match the body (computed ${name}=:${computed.toString('base64')}:)`)
    }
    checked++
  }
  if (checked === 0) {
    throw new SignatureError('digest_mismatch', `only sha-256 and sha-512 are supported in Content-Digest; offered: ${[...digests.keys()].join(', ').slice(0, 100) || 'none'}`)
  }
}

// ---------------------------------------------------------------------------
// Outgoing requests

export interface SigningKey {
  keyId: string
  /** An RSA private key. */
  privateKey: KeyObject
}

/**
 * Mastodon's outgoing signature (draft-cavage, rsa-sha256): returns the
 * headers to send — host, date, digest (when there is a body) and signature.
 * GET signs '(request-target) host date'; with a body, '(request-target) host date digest'.
 */
export function signRequest (request: { method: string, url: URL, body?: Uint8Array }, key: SigningKey, now: Date = new Date()): Record<string, string> {
  if (key.privateKey.type !== 'private' || key.privateKey.asymmetricKeyType !== 'rsa') throw new TypeError('signRequest needs an RSA private key')
  if (/["\\]/.test(key.keyId)) throw new TypeError('a keyId cannot contain quotes or backslashes')
  const headers: Record<string, string> = { host: request.url.host, date: now.toUTCString() }
  if (request.body != null) headers.digest = `SHA-256=${sha256(request.body).toString('base64')}`
  const fields = ['@request-target', 'host', 'date', ...(request.body != null ? ['digest'] : [])]
  const signatureBase = cavage.createSignatureBase(fields, { method: request.method, url: request.url, headers }, new Map())
  const signature = sign('sha256', Buffer.from(cavage.formatSignatureBase(signatureBase)), { key: key.privateKey, padding: constants.RSA_PKCS1_PADDING })
  const names = signatureBase.map(([name]) => name).join(' ')
  headers.signature = `keyId="${key.keyId}",algorithm="rsa-sha256",headers="${names}",signature="${signature.toString('base64')}"`
  return headers
}
