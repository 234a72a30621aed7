import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import canonicalize from 'canonicalize'
import { cidString, parseCid } from './cid.ts'
import type { CidString } from './cid.ts'
import { RAW_CODEC, SHA2_256 } from './cid-profile.ts'
import { FdnError } from './errors.ts'
import { MAX_KEY_BYTES, parseTenantName } from './names.ts'

/**
 * Signed records of the swarm: attestations ("hold this blob for me"),
 * releases ("drop it") and tenant manifests (a tenant's index, replicated like
 * a blob so that a node can recover it). A record is signed by its origin's
 * Ed25519 identity over `RECORD_DOMAIN + '\n' + JCS(payload)` (RFC 8785), so
 * its signature does not depend on key order or whitespace.
 */

/** Signature domain separation: no other fdn or libp2p signature covers these bytes. */
export const RECORD_DOMAIN = 'fdn-record-v1'

/** "I, origin, hold this blob and ask you to keep a copy." */
export interface Attestation {
  type: 'fdn/attestation'
  v: 1
  cid: CidString
  size: number
  /** Whole-blob SHA-256, 64 lower-case hex digits. */
  sha256: string
  mediaType: string
  /** Whether the origin lets anyone read it (holders mirror this on their gateway). */
  public: boolean
  /** Copies the origin wants in the swarm, its own included (1 to MAX_REPLICAS). */
  replicas: number
  /** A manifest is a tenant index (below), replicated like a blob. */
  kind: 'blob' | 'manifest'
  /** Set iff kind === 'manifest'. */
  tenant?: string
  /** Set iff kind === 'manifest'. */
  version?: number
  /** Peer id of the signer. */
  origin: string
  /** ISO 8601. */
  time: string
}

/** The origin dropped its last reference to a blob: holders may drop their copy. */
export interface Release {
  type: 'fdn/release'
  v: 1
  cid: CidString
  origin: string
  time: string
}

export interface ManifestObject {
  key: string
  cid: CidString
  size: number
  contentType: string
  acl: 'public-read' | 'private'
  etag: string
  mtime: string
  /** `x-amz-meta-*` values, names without the prefix. */
  meta: Record<string, string>
  /** Other stored response headers (cacheControl, contentDisposition…), by name. */
  headers?: Record<string, string>
  /** Number of parts when written by a multipart upload (1 to 10,000). */
  parts?: number
}

/** A tenant's index as its origin signed it. */
export interface Manifest {
  type: 'fdn/manifest'
  v: 1
  origin: string
  tenant: string
  version: number
  time: string
  /** The tenant as the origin's index holds it (secret sealed), opaque here. */
  tenantRecord: Record<string, unknown>
  objects: ManifestObject[]
}

/** An HTTP request as a node's inbox received it: what a peer needs to check its signature again. */
export interface ForwardedRequest {
  method: string
  /** The scheme and host the request was addressed to (RFC 9421's @target-uri is rebuilt from them). */
  scheme: 'http' | 'https'
  /** Path and query. */
  url: string
  /** Lower-case names; the signature's headers, the digests, Date and Host. */
  headers: Record<string, string>
  /** base64 of the body's exact bytes. */
  body: string
}

/**
 * "An owner signed this Delete and I applied it": the original activity as
 * received, so every peer checks the owner's own signature, and the blobs
 * the origin removed for it (a trusted peer drops its cache copies of them).
 */
export interface Deletion {
  type: 'fdn/deletion'
  v: 1
  origin: string
  time: string
  request: ForwardedRequest
  cids: CidString[]
}

export type SwarmRecord = Attestation | Release | Manifest | Deletion
export type SwarmRecordType = SwarmRecord['type']

export interface Signed<T extends SwarmRecord> {
  payload: T
  /** base64url (no padding) of the 64-byte Ed25519 signature. */
  signature: string
}

export const MAX_CID_CHARS = 128
export const MAX_MEDIA_TYPE_CHARS = 255
export const MAX_PEER_ID_CHARS = 128
export const MAX_TIME_CHARS = 64
export const MAX_MANIFEST_OBJECTS = 1_000_000
/** A manifest blob's size limit; stays under V8's longest string (2^29 - 24 code units). */
export const MAX_MANIFEST_BYTES = 500 * 1024 * 1024
/** User metadata of one object: S3 allows 2 KB; system headers may be kept here too. */
export const MAX_META_ENTRIES = 64
export const MAX_META_BYTES = 16 * 1024
const MAX_META_NAME_CHARS = 256
export const MAX_HEADERS = 16
export const MAX_HEADER_BYTES = 8 * 1024
export const MAX_PARTS = 10_000
export const MAX_REPLICAS = 16
/** A forwarded Delete's body: an activity this large is no Delete. */
export const MAX_FORWARDED_BODY_BYTES = 16 * 1024
/** Blobs one deletion record names; more go in further records (a record with a full body stays under the 64 KiB message limit). */
export const MAX_DELETION_CIDS = 200

const ED25519_SIGNATURE_BYTES = 64
const SIGNATURE_RE = /^[A-Za-z0-9_-]{86}$/
const SHA256_RE = /^[0-9a-f]{64}$/
const ETAG_RE = /^[0-9a-f]{32}(-[1-9][0-9]{0,4})?$/
const ISO_TIME_RE = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-](\d{2}):(\d{2}))$/

const utf8 = new TextEncoder()

/** The exact bytes a record's signature covers. */
export function recordSigningBytes (payload: SwarmRecord): Uint8Array {
  let canonical: string | undefined
  try {
    canonical = canonicalize(payload)
  } catch (err) {
    throw new FdnError('invalid_request', `record cannot be canonicalised: ${(err as Error).message}`, { cause: err })
  }
  if (canonical == null) throw new FdnError('invalid_request', 'record cannot be canonicalised')
  return utf8.encode(`${RECORD_DOMAIN}\n${canonical}`)
}

/**
 * Signs a record with the origin's key. The payload is validated first and
 * its `origin` must be the peer id of `key`: a node never signs a record it
 * would refuse.
 */
export async function signRecord<T extends SwarmRecord> (key: PrivateKey, payload: T): Promise<Signed<T>> {
  checkPayload(payload, payload?.type)
  if (key.type !== 'Ed25519') throw new FdnError('invalid_request', `records are signed with Ed25519 keys, not ${key.type}`)
  const signer = peerIdFromPrivateKey(key).toString()
  if (payload.origin !== signer) {
    throw new FdnError('invalid_request', `record origin ${payload.origin} is not the signing key's peer id ${signer}`)
  }
  const signature = await key.sign(recordSigningBytes(payload))
  return { payload, signature: Buffer.from(signature).toString('base64url') }
}

/**
 * Checks shape, that payload.origin is an Ed25519 peer id, and the signature
 * by that peer id's public key; `expect.type` must match; `expect.origin`
 * (optional) must equal payload.origin; `expect.maxAgeMs` (optional) bounds
 * |now - time|.
 *
 * Throws FdnError('invalid_request') for a malformed record or one of another
 * type, FdnError('forbidden') for a bad signature, a wrong signer, or a time
 * outside maxAgeMs. Returns the typed payload.
 */
export async function verifyRecord<K extends SwarmRecordType> (
  signed: unknown,
  expect: { type: K, origin?: string, maxAgeMs?: number, now?: number }
): Promise<Extract<SwarmRecord, { type: K }>> {
  const record = checkSigned(signed, expect.type)
  const { payload } = record
  if (expect.origin != null && payload.origin !== expect.origin) {
    throw new FdnError('forbidden', `record is signed by ${payload.origin}, expected ${expect.origin}`)
  }
  if (expect.maxAgeMs != null) {
    const now = expect.now ?? Date.now()
    const skew = Math.abs(now - Date.parse(payload.time))
    if (!(skew <= expect.maxAgeMs)) {
      throw new FdnError('forbidden', `record time ${payload.time} is more than ${expect.maxAgeMs} ms away from now`)
    }
  }
  const publicKey = peerIdFromString(payload.origin).publicKey
  if (publicKey == null) throw new FdnError('invalid_request', 'record origin carries no public key')
  const signature = Buffer.from(record.signature, 'base64url')
  let valid: boolean
  try {
    valid = await publicKey.verify(recordSigningBytes(payload), signature)
  } catch (err) {
    if (err instanceof FdnError) throw err
    valid = false
  }
  if (!valid) throw new FdnError('forbidden', `record signature does not verify against origin ${payload.origin}`)
  return payload
}

/**
 * Shape check of a signed record, without the signature check: exactly
 * `{ payload, signature }`, a well-formed payload of `type`, a well-formed
 * signature. Throws FdnError('invalid_request').
 */
export function checkSigned<K extends SwarmRecordType> (value: unknown, type: K): Signed<Extract<SwarmRecord, { type: K }>> {
  const fields = exactObject(value, 'signed record', ['payload', 'signature'])
  const signature = fields.signature
  if (typeof signature !== 'string' || !SIGNATURE_RE.test(signature)) {
    throw invalid('signature must be the base64url of a 64-byte Ed25519 signature')
  }
  const bytes = Buffer.from(signature, 'base64url')
  if (bytes.length !== ED25519_SIGNATURE_BYTES || bytes.toString('base64url') !== signature) {
    throw invalid('signature is not canonical base64url of 64 bytes')
  }
  const payload = checkPayload(fields.payload, type)
  return { payload, signature }
}

/** Validates a payload of the given type, field by field; unknown fields are refused. */
export function checkPayload<K extends SwarmRecordType> (value: unknown, type: K): Extract<SwarmRecord, { type: K }> {
  if (!isPlainObject(value)) throw invalid('record payload must be an object')
  if (value.type !== type) {
    throw invalid(`record is of type ${describe(value.type)}, expected ${type}`)
  }
  switch (type) {
    case 'fdn/attestation': checkAttestation(value); break
    case 'fdn/release': checkRelease(value); break
    case 'fdn/manifest': checkManifest(value); break
    case 'fdn/deletion': checkDeletion(value); break
    default: throw invalid(`unknown record type ${describe(type)}`)
  }
  return value as unknown as Extract<SwarmRecord, { type: K }>
}

/** The bytes a manifest is stored as (a blob, replicated like any other). Canonical JSON, so equal manifests are equal blobs. */
export function encodeManifest (m: Signed<Manifest>): Uint8Array {
  let text: string | undefined
  try {
    text = canonicalize(m)
  } catch (err) {
    throw new FdnError('invalid_request', `manifest cannot be encoded: ${(err as Error).message}`, { cause: err })
  }
  if (text == null) throw new FdnError('invalid_request', 'manifest cannot be encoded')
  const bytes = utf8.encode(text)
  if (bytes.length > MAX_MANIFEST_BYTES) throw new FdnError('too_large', `manifest is larger than ${MAX_MANIFEST_BYTES} bytes`)
  return bytes
}

/**
 * Parses a manifest blob. Size-checked (FdnError('too_large')) and JSON-parsed
 * (FdnError('invalid_request')); nothing else: verify the result with
 * verifyRecord(…, { type: 'fdn/manifest', origin }).
 */
export function decodeManifest (bytes: Uint8Array): unknown {
  if (bytes.length > MAX_MANIFEST_BYTES) throw new FdnError('too_large', `manifest is larger than ${MAX_MANIFEST_BYTES} bytes`)
  return parseJson(bytes, 'manifest')
}

// ---------------------------------------------------------------------------
// Field checks, shared with swarm-wire.ts.

/** Strict UTF-8 JSON parse; FdnError('invalid_request') on anything else. */
export function parseJson (bytes: Uint8Array, what: string): unknown {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes)
  } catch (err) {
    throw new FdnError('invalid_request', `${what} is not valid UTF-8`, { cause: err })
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new FdnError('invalid_request', `${what} is not valid JSON`, { cause: err })
  }
}

export function isPlainObject (value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

/** An object whose own keys are all of `required` plus any of `optional`, and nothing else. */
export function exactObject (value: unknown, what: string, required: readonly string[], optional: readonly string[] = []): Record<string, unknown> {
  if (!isPlainObject(value)) throw invalid(`${what} must be an object`)
  for (const name of required) {
    if (!Object.hasOwn(value, name) || value[name] === undefined) throw invalid(`${what} lacks ${name}`)
  }
  for (const name of Object.keys(value)) {
    if (!required.includes(name) && !optional.includes(name)) throw invalid(`${what} has an unknown field ${describe(name)}`)
  }
  return value
}

/** A CID in canonical text form (CIDv1 base32) that this node can verify. */
export function checkCid (value: unknown, what: string): CidString {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_CID_CHARS) {
    throw invalid(`${what} must be a CID of at most ${MAX_CID_CHARS} characters`)
  }
  let canonical: CidString
  try {
    canonical = cidString(parseCid(value))
  } catch (err) {
    throw new FdnError('invalid_request', `${what} is not a valid CID: ${(err as Error).message}`, { cause: err })
  }
  if (canonical !== value) throw invalid(`${what} must be in canonical form (${canonical})`)
  return canonical
}

/** A canonical Ed25519 peer id (the base58btc `12D3KooW…` form). */
export function checkPeerId (value: unknown, what: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_PEER_ID_CHARS) {
    throw invalid(`${what} must be a peer id`)
  }
  let peerId: ReturnType<typeof peerIdFromString>
  try {
    peerId = peerIdFromString(value)
  } catch (err) {
    throw new FdnError('invalid_request', `${what} is not a valid peer id`, { cause: err })
  }
  if (peerId.type !== 'Ed25519') throw invalid(`${what} must be an Ed25519 peer id, not ${peerId.type}`)
  if (peerId.toString() !== value) throw invalid(`${what} must be in canonical form (${peerId.toString()})`)
  return value
}

/** An ISO 8601 date-time with seconds optional and a time zone (`Z` or `±hh:mm`), on the calendar. */
export function checkTime (value: unknown, what: string): string {
  const match = typeof value === 'string' && value.length <= MAX_TIME_CHARS ? ISO_TIME_RE.exec(value) : null
  if (match == null) throw invalid(`${what} must be an ISO 8601 date-time with a time zone`)
  const n = (group: number): number => Number(match[group] ?? 0)
  const [year, month, day] = [n(1), n(2), n(3)]
  const onCalendar = month >= 1 && month <= 12 && day >= 1 && day <= new Date(Date.UTC(year, month, 0)).getUTCDate() &&
    n(4) <= 23 && n(5) <= 59 && n(6) <= 59 && n(7) <= 23 && n(8) <= 59
  if (!onCalendar || Number.isNaN(Date.parse(value as string))) throw invalid(`${what} is not a valid date-time`)
  return value as string
}

export function checkTenant (value: unknown, what: string): string {
  if (typeof value !== 'string') throw invalid(`${what} must be a tenant name`)
  try {
    return parseTenantName(value)
  } catch (err) {
    throw new FdnError('invalid_request', `${what}: ${(err as Error).message}`, { cause: err })
  }
}

export function checkSize (value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalid(`${what} must be a non-negative safe integer`)
  }
  return value
}

export function checkVersion (value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 1) {
    throw invalid(`${what} must be a positive integer`)
  }
  return value
}

function checkString (value: unknown, what: string, max: number, min = 0): string {
  if (typeof value !== 'string' || value.length < min || value.length > max) {
    throw invalid(`${what} must be a string of ${min} to ${max} characters`)
  }
  if (!value.isWellFormed()) throw invalid(`${what} holds a lone surrogate`)
  return value
}

function checkMediaType (value: unknown, what: string): string {
  const text = checkString(value, what, MAX_MEDIA_TYPE_CHARS, 1)
  // Printable ASCII: it becomes a Content-Type header on every holder's gateway.
  if (!/^[\x20-\x7e]+$/.test(text)) throw invalid(`${what} must be printable ASCII`)
  return text
}

function checkV (value: unknown, what: string): void {
  if (value !== 1) throw invalid(`${what}.v must be 1`)
}

// ---------------------------------------------------------------------------
// Records.

const ATTESTATION_FIELDS = ['type', 'v', 'cid', 'size', 'sha256', 'mediaType', 'public', 'replicas', 'kind', 'origin', 'time']

function checkAttestation (value: Record<string, unknown>): void {
  const a = exactObject(value, 'attestation', ATTESTATION_FIELDS, ['tenant', 'version'])
  checkV(a.v, 'attestation')
  const cid = checkCid(a.cid, 'attestation.cid')
  checkSize(a.size, 'attestation.size')
  if (typeof a.sha256 !== 'string' || !SHA256_RE.test(a.sha256)) throw invalid('attestation.sha256 must be 64 lower-case hex digits')
  checkMediaType(a.mediaType, 'attestation.mediaType')
  if (typeof a.public !== 'boolean') throw invalid('attestation.public must be a boolean')
  if (typeof a.replicas !== 'number' || !Number.isInteger(a.replicas) || a.replicas < 1 || a.replicas > MAX_REPLICAS) {
    throw invalid(`attestation.replicas must be an integer from 1 to ${MAX_REPLICAS}`)
  }
  if (a.kind === 'manifest') {
    if (a.tenant === undefined || a.version === undefined) throw invalid('a manifest attestation needs tenant and version')
    checkTenant(a.tenant, 'attestation.tenant')
    checkVersion(a.version, 'attestation.version')
  } else if (a.kind === 'blob') {
    if (Object.hasOwn(a, 'tenant') || Object.hasOwn(a, 'version')) throw invalid('a blob attestation has no tenant or version')
  } else {
    throw invalid("attestation.kind must be 'blob' or 'manifest'")
  }
  checkPeerId(a.origin, 'attestation.origin')
  checkTime(a.time, 'attestation.time')
  // A raw sha2-256 CID is the blob's own SHA-256: the two must agree.
  const parsed = parseCid(cid)
  if (parsed.code === RAW_CODEC && parsed.multihash.code === SHA2_256 &&
      Buffer.from(parsed.multihash.digest).toString('hex') !== a.sha256) {
    throw invalid('attestation.sha256 disagrees with the digest of its raw CID')
  }
}

function checkRelease (value: Record<string, unknown>): void {
  const r = exactObject(value, 'release', ['type', 'v', 'cid', 'origin', 'time'])
  checkV(r.v, 'release')
  checkCid(r.cid, 'release.cid')
  checkPeerId(r.origin, 'release.origin')
  checkTime(r.time, 'release.time')
}

function checkDeletion (value: Record<string, unknown>): void {
  const d = exactObject(value, 'deletion', ['type', 'v', 'origin', 'time', 'request', 'cids'])
  checkV(d.v, 'deletion')
  checkPeerId(d.origin, 'deletion.origin')
  checkTime(d.time, 'deletion.time')
  const r = exactObject(d.request, 'deletion.request', ['method', 'scheme', 'url', 'headers', 'body'])
  if (r.method !== 'POST') throw invalid('deletion.request.method must be POST')
  if (r.scheme !== 'http' && r.scheme !== 'https') throw invalid('deletion.request.scheme must be http or https')
  if (typeof r.url !== 'string' || !r.url.startsWith('/') || r.url.length > 2048) throw invalid('deletion.request.url must be a path of at most 2048 characters')
  if (!isPlainObject(r.headers)) throw invalid('deletion.request.headers must be an object')
  const headers = Object.entries(r.headers)
  if (headers.length > MAX_HEADERS) throw invalid(`deletion.request.headers has more than ${MAX_HEADERS} entries`)
  for (const [name, header] of headers) {
    if (!/^[a-z0-9-]{1,64}$/.test(name) || typeof header !== 'string' || header.length > MAX_HEADER_BYTES) throw invalid(`deletion.request.headers.${name.slice(0, 64)} is not a header of at most ${MAX_HEADER_BYTES} bytes`)
  }
  if (typeof r.body !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(r.body) || r.body.length > Math.ceil(MAX_FORWARDED_BODY_BYTES / 3) * 4) throw invalid(`deletion.request.body must be the base64 of at most ${MAX_FORWARDED_BODY_BYTES} bytes`)
  if (!Array.isArray(d.cids) || d.cids.length > MAX_DELETION_CIDS) throw invalid(`deletion.cids must be an array of at most ${MAX_DELETION_CIDS} CIDs`)
  d.cids.forEach((cid: unknown, i: number) => checkCid(cid, `deletion.cids[${i}]`))
}

const MANIFEST_FIELDS = ['type', 'v', 'origin', 'tenant', 'version', 'time', 'tenantRecord', 'objects']
const OBJECT_FIELDS = ['key', 'cid', 'size', 'contentType', 'acl', 'etag', 'mtime', 'meta']

function checkManifest (value: Record<string, unknown>): void {
  const m = exactObject(value, 'manifest', MANIFEST_FIELDS)
  checkV(m.v, 'manifest')
  checkPeerId(m.origin, 'manifest.origin')
  checkTenant(m.tenant, 'manifest.tenant')
  checkVersion(m.version, 'manifest.version')
  checkTime(m.time, 'manifest.time')
  if (!isPlainObject(m.tenantRecord)) throw invalid('manifest.tenantRecord must be an object')
  const objects = m.objects
  if (!Array.isArray(objects)) throw invalid('manifest.objects must be an array')
  if (objects.length > MAX_MANIFEST_OBJECTS) throw invalid(`manifest holds more than ${MAX_MANIFEST_OBJECTS} objects`)
  const keys = new Set<string>()
  for (let i = 0; i < objects.length; i++) {
    const key = checkManifestObject(objects[i], `manifest.objects[${i}]`)
    if (keys.has(key)) throw invalid(`manifest.objects[${i}].key repeats ${describe(key)}`)
    keys.add(key)
  }
}

function checkManifestObject (value: unknown, what: string): string {
  const o = exactObject(value, what, OBJECT_FIELDS, ['headers', 'parts'])
  const key = checkString(o.key, `${what}.key`, MAX_KEY_BYTES, 1)
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw invalid(`${what}.key is longer than ${MAX_KEY_BYTES} bytes`)
  if (key.includes('\0')) throw invalid(`${what}.key contains a NUL character`)
  checkCid(o.cid, `${what}.cid`)
  checkSize(o.size, `${what}.size`)
  checkMediaType(o.contentType, `${what}.contentType`)
  if (o.acl !== 'public-read' && o.acl !== 'private') throw invalid(`${what}.acl must be 'public-read' or 'private'`)
  if (typeof o.etag !== 'string' || !ETAG_RE.test(o.etag)) throw invalid(`${what}.etag must be an MD5 hex ETag, optionally with -N`)
  checkTime(o.mtime, `${what}.mtime`)
  if (!isPlainObject(o.meta)) throw invalid(`${what}.meta must be an object`)
  const entries = Object.entries(o.meta)
  if (entries.length > MAX_META_ENTRIES) throw invalid(`${what}.meta has more than ${MAX_META_ENTRIES} entries`)
  let bytes = 0
  for (const [name, entry] of entries) {
    checkString(name, `${what}.meta name`, MAX_META_NAME_CHARS, 1)
    checkString(entry, `${what}.meta[${describe(name)}]`, MAX_META_BYTES)
    bytes += Buffer.byteLength(name, 'utf8') + Buffer.byteLength(entry as string, 'utf8')
  }
  if (bytes > MAX_META_BYTES) throw invalid(`${what}.meta is larger than ${MAX_META_BYTES} bytes`)
  if (o.headers !== undefined) checkHeaders(o.headers, `${what}.headers`)
  if (o.parts !== undefined && (typeof o.parts !== 'number' || !Number.isInteger(o.parts) || o.parts < 1 || o.parts > MAX_PARTS)) {
    throw invalid(`${what}.parts must be an integer from 1 to ${MAX_PARTS}`)
  }
  return key
}

/** Header values are replayed as HTTP response headers: names are identifiers, values hold no control characters. */
function checkHeaders (value: unknown, what: string): void {
  if (!isPlainObject(value)) throw invalid(`${what} must be an object`)
  const entries = Object.entries(value)
  if (entries.length > MAX_HEADERS) throw invalid(`${what} has more than ${MAX_HEADERS} entries`)
  let bytes = 0
  for (const [name, entry] of entries) {
    if (!/^[A-Za-z][A-Za-z0-9-]{0,63}$/.test(name)) throw invalid(`${what} has an invalid name ${describe(name)}`)
    const text = checkString(entry, `${what}.${name}`, MAX_HEADER_BYTES)
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(text)) throw invalid(`${what}.${name} contains a control character`)
    bytes += name.length + Buffer.byteLength(text, 'utf8')
  }
  if (bytes > MAX_HEADER_BYTES) throw invalid(`${what} is larger than ${MAX_HEADER_BYTES} bytes`)
}

function invalid (message: string): FdnError {
  return new FdnError('invalid_request', message)
}

function describe (value: unknown): string {
  if (typeof value === 'string') return `'${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`
  return typeof value
}
