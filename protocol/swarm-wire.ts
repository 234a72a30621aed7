import type { CidString } from './cid.ts'
import { FdnError } from './errors.ts'
import { checkCid, checkSigned, checkTenant, checkVersion, exactObject, isPlainObject, parseJson } from './swarm-records.ts'
import type { Attestation, Deletion, Release, Signed } from './swarm-records.ts'

/**
 * Messages of the node's own libp2p protocols. One request and one response
 * per stream, each a UTF-8 JSON document of at most MAX_MESSAGE_BYTES (the
 * framing, e.g. a length prefix, is the stream's business). Decoders refuse
 * anything malformed, oversize or with unknown fields with
 * FdnError('invalid_request'); signed records inside are only shape-checked:
 * the caller runs verifyRecord.
 */

export const REPLICATE_PROTOCOL = '/fdn/replicate/1.0.0'
export const RECOVER_PROTOCOL = '/fdn/recover/1.0.0'
/** Which blob do you hold: by CID, or by the whole file's SHA-256 (asked by the retrieve API before it goes to an origin). */
export const FIND_PROTOCOL = '/fdn/find/1.0.0'
/** An owner's Delete, forwarded to the swarm. */
export const DELETE_PROTOCOL = '/fdn/delete/1.0.0'
export const MAX_MESSAGE_BYTES = 64 * 1024
/** How many CIDs one 'check' request (and its answer) may carry. */
export const MAX_CHECK_CIDS = 1000

export type ReplicateRequest =
  /** Please fetch, verify, pin, then answer. */
  | { op: 'hold', attestation: Signed<Attestation> }
  /** The origin dropped its last reference: drop your copy. */
  | { op: 'release', release: Signed<Release> }
  /** Do you still hold these (at most MAX_CHECK_CIDS)? */
  | { op: 'check', cids: CidString[] }

export type ReplicateResponse =
  /** held: the answer to 'check', the subset of its CIDs this node holds. */
  | { ok: true, held?: CidString[] }
  | { ok: false, code: RefusalCode, message: string }

export type RefusalCode = 'untrusted' | 'bad_signature' | 'quota_exceeded' | 'not_found' | 'verify_failed' | 'too_large' | 'busy' | 'invalid_request' | 'internal'

export const REFUSAL_CODES: readonly RefusalCode[] = ['untrusted', 'bad_signature', 'quota_exceeded', 'not_found', 'verify_failed', 'too_large', 'busy', 'invalid_request', 'internal']

/** The requester's own latest manifests (served only to the origin that signed them). */
export type RecoverRequest = { op: 'manifests' }

export interface RecoveredManifest { tenant: string, version: number, cid: CidString }

export type RecoverResponse =
  | { ok: true, manifests: RecoveredManifest[] }
  | { ok: false, code: RefusalCode, message: string }

/** Exactly one of `cid` and `sha256` (64 lower-case hex digits). */
export type FindRequest = { op: 'find', cid: CidString } | { op: 'find', sha256: string }

/** `cid`: the blob the asked node holds and serves publicly; absent when it has none. */
export type FindResponse =
  | { ok: true, cid?: CidString }
  | { ok: false, code: RefusalCode, message: string }

export type DeleteRequest = { op: 'deletion', record: Signed<Deletion> }

/** `applied`: the owner's signature checked out and the deletion was carried out here. */
export type DeleteResponse =
  | { ok: true, applied: boolean }
  | { ok: false, code: RefusalCode, message: string }

export type SwarmMessage = ReplicateRequest | ReplicateResponse | RecoverRequest | RecoverResponse | FindRequest | FindResponse | DeleteRequest | DeleteResponse

const utf8 = new TextEncoder()

/** UTF-8 JSON; FdnError('too_large') if the result exceeds MAX_MESSAGE_BYTES. */
export function encodeMessage (m: SwarmMessage): Uint8Array {
  const bytes = utf8.encode(JSON.stringify(m))
  if (bytes.length > MAX_MESSAGE_BYTES) throw new FdnError('too_large', `message of ${bytes.length} bytes exceeds ${MAX_MESSAGE_BYTES}`)
  return bytes
}

export function isRefusalCode (value: unknown): value is RefusalCode {
  return typeof value === 'string' && (REFUSAL_CODES as readonly string[]).includes(value)
}

export function decodeReplicateRequest (bytes: Uint8Array): ReplicateRequest {
  const value = parse(bytes, 'replicate request')
  switch (value.op) {
    case 'hold': {
      const m = exactObject(value, 'hold request', ['op', 'attestation'])
      return { op: 'hold', attestation: checkSigned(m.attestation, 'fdn/attestation') }
    }
    case 'release': {
      const m = exactObject(value, 'release request', ['op', 'release'])
      return { op: 'release', release: checkSigned(m.release, 'fdn/release') }
    }
    case 'check': {
      const m = exactObject(value, 'check request', ['op', 'cids'])
      return { op: 'check', cids: checkCids(m.cids, 'check request cids') }
    }
    default:
      throw unknownOp(value.op, 'replicate request')
  }
}

export function decodeReplicateResponse (bytes: Uint8Array): ReplicateResponse {
  const value = parse(bytes, 'replicate response')
  if (value.ok === true) {
    const m = exactObject(value, 'replicate response', ['ok'], ['held'])
    return m.held === undefined ? { ok: true } : { ok: true, held: checkCids(m.held, 'replicate response held') }
  }
  return refusal(value, 'replicate response')
}

export function decodeRecoverRequest (bytes: Uint8Array): RecoverRequest {
  const value = parse(bytes, 'recover request')
  if (value.op !== 'manifests') throw unknownOp(value.op, 'recover request')
  exactObject(value, 'recover request', ['op'])
  return { op: 'manifests' }
}

export function decodeRecoverResponse (bytes: Uint8Array): RecoverResponse {
  const value = parse(bytes, 'recover response')
  if (value.ok === true) {
    const m = exactObject(value, 'recover response', ['ok', 'manifests'])
    if (!Array.isArray(m.manifests)) throw invalid('recover response manifests must be an array')
    const manifests = m.manifests.map((entry: unknown, i: number): RecoveredManifest => {
      const what = `recover response manifests[${i}]`
      const e = exactObject(entry, what, ['tenant', 'version', 'cid'])
      return { tenant: checkTenant(e.tenant, `${what}.tenant`), version: checkVersion(e.version, `${what}.version`), cid: checkCid(e.cid, `${what}.cid`) }
    })
    return { ok: true, manifests }
  }
  return refusal(value, 'recover response')
}

export function decodeFindRequest (bytes: Uint8Array): FindRequest {
  const value = parse(bytes, 'find request')
  if (value.op !== 'find') throw unknownOp(value.op, 'find request')
  if (Object.hasOwn(value, 'cid')) {
    const m = exactObject(value, 'find request', ['op', 'cid'])
    return { op: 'find', cid: checkCid(m.cid, 'find request cid') }
  }
  const m = exactObject(value, 'find request', ['op', 'sha256'])
  if (typeof m.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(m.sha256)) throw invalid('find request sha256 must be 64 lower-case hex digits')
  return { op: 'find', sha256: m.sha256 }
}

export function decodeFindResponse (bytes: Uint8Array): FindResponse {
  const value = parse(bytes, 'find response')
  if (value.ok === true) {
    const m = exactObject(value, 'find response', ['ok'], ['cid'])
    return m.cid === undefined ? { ok: true } : { ok: true, cid: checkCid(m.cid, 'find response cid') }
  }
  return refusal(value, 'find response')
}

/** Shape only: the record's and the owner's signatures are checked by the receiver. */
export function decodeDeleteRequest (bytes: Uint8Array): DeleteRequest {
  const value = parse(bytes, 'delete request')
  if (value.op !== 'deletion') throw unknownOp(value.op, 'delete request')
  const m = exactObject(value, 'delete request', ['op', 'record'])
  return { op: 'deletion', record: checkSigned(m.record, 'fdn/deletion') }
}

export function decodeDeleteResponse (bytes: Uint8Array): DeleteResponse {
  const value = parse(bytes, 'delete response')
  if (value.ok === true) {
    const m = exactObject(value, 'delete response', ['ok', 'applied'])
    if (typeof m.applied !== 'boolean') throw invalid('delete response applied must be a boolean')
    return { ok: true, applied: m.applied }
  }
  return refusal(value, 'delete response')
}

function parse (bytes: Uint8Array, what: string): Record<string, unknown> {
  if (bytes.length > MAX_MESSAGE_BYTES) throw invalid(`${what} of ${bytes.length} bytes exceeds ${MAX_MESSAGE_BYTES}`)
  const value = parseJson(bytes, what)
  if (!isPlainObject(value)) throw invalid(`${what} must be a JSON object`)
  return value
}

function refusal (value: Record<string, unknown>, what: string): { ok: false, code: RefusalCode, message: string } {
  const m = exactObject(value, what, ['ok', 'code', 'message'])
  if (m.ok !== false) throw invalid(`${what} ok must be a boolean`)
  if (!isRefusalCode(m.code)) throw invalid(`${what} has an unknown refusal code`)
  if (typeof m.message !== 'string') throw invalid(`${what} message must be a string`)
  return { ok: false, code: m.code, message: m.message }
}

function checkCids (value: unknown, what: string): CidString[] {
  if (!Array.isArray(value)) throw invalid(`${what} must be an array`)
  if (value.length > MAX_CHECK_CIDS) throw invalid(`${what} holds more than ${MAX_CHECK_CIDS} CIDs`)
  return value.map((cid: unknown, i: number) => checkCid(cid, `${what}[${i}]`))
}

function unknownOp (op: unknown, what: string): FdnError {
  return invalid(`${what} has an unknown op ${typeof op === 'string' ? `'${op.slice(0, 40)}'` : typeof op}`)
}

function invalid (message: string): FdnError {
  return new FdnError('invalid_request', message)
}
