/**
 * The retrieve API on the public listener (`/api/v1/…`): an instance asks its
 * media server for a remote attachment by URL, or adds and checks media by
 * hash. Requests are signed with the tenant's S3 credentials (AWS SigV4,
 * service `s3`); errors are `{"error":{"code","message"}}` (ErrorBody).
 * Pure definitions and parsers; docs/retrieve.md is the user's page.
 */
import { CID } from 'multiformats/cid'
import { base58btc } from 'multiformats/bases/base58'
import { bases } from 'multiformats/basics'
import * as Digest from 'multiformats/hashes/digest'
import { RAW_CODEC, SHA2_256 } from './cid-profile.ts'
import { cidString, parseCid } from './cid.ts'
import type { CidString } from './cid.ts'
import { isHttpUri } from './activitypub.ts'
import { FdnError } from './errors.ts'
import { parseObjectKey } from './names.ts'
import type { ObjectKey } from './names.ts'
import { exactObject } from './swarm-records.ts'

export const RETRIEVE_ROUTE = '/api/v1/retrieve'
/** `HEAD` (exists by hash) and `PUT` (add by hash) of `/api/v1/blobs/{cid}`. */
export const BLOBS_PREFIX = '/api/v1/blobs/'
/** Largest JSON body of a retrieve request. */
export const MAX_RETRIEVE_BODY = 16 * 1024
/** Longest URL (the media's, the actor's, the status's) a request may name. */
export const MAX_API_URL_LENGTH = 4096

/** Where the media came from: this node's store, a swarm peer, or the origin server. */
export type RetrieveSource = 'local' | 'swarm' | 'origin'

export interface RetrieveRequest {
  /** The attachment's URL (http or https). */
  url: string
  /** Store the media under this key of the caller's bucket, as a public-read PutObject would. */
  key?: ObjectKey
  /** The ActivityPub actor (its id URL) the media belongs to. */
  actor?: string
  /** The status (Note, its id URL) the media is attached to. */
  status?: string
  /** The attachment's `digestMultibase` (FEP-ef61): a multibase SHA-256 multihash the media must match. */
  digestMultibase?: string
}

/** What the API says of a blob: its identity, digests, detected type and gateway URL. */
export interface MediaFacts {
  cid: CidString
  size: number
  /** Detected from the bytes (never from the origin's Content-Type). */
  mediaType: string
  /** Hex SHA-256 of the whole file. */
  sha256: string
  /** The same digest as a base58btc multihash (`z…`), what FEP-ef61 attachments carry. */
  digestMultibase: string
  /** The blob's public gateway URL: `{FDN_PUBLIC_URL}/ipfs/{cid}`. */
  url: string
}

export interface RetrieveResponse extends MediaFacts {
  source: RetrieveSource
  /** The key it is stored under, when the request gave one. */
  key?: ObjectKey
}

/** What `PUT /api/v1/blobs/{cid}` answers. */
export interface AddBlobResponse extends MediaFacts {
  /** false: the node had the blob already; the body was not read (Expect: 100-continue) or was discarded. */
  created: boolean
}

/** The facts of a blob, its gateway URL made from the node's public base URL. */
export function mediaFacts (blob: { cid: CidString, size: number, mediaType: string, sha256: string }, publicUrl: string): MediaFacts {
  return {
    cid: blob.cid,
    size: blob.size,
    mediaType: blob.mediaType,
    sha256: blob.sha256,
    digestMultibase: digestMultibaseOf(blob.sha256),
    url: `${publicUrl}/ipfs/${blob.cid}`
  }
}

/** Checks a retrieve request body; FdnError('invalid_request' | 'key_too_long' | 'invalid_digest') naming the field. */
export function parseRetrieveRequest (value: unknown): RetrieveRequest {
  const body = exactObject(value, 'the request body', ['url'], ['key', 'actor', 'status', 'digestMultibase'])
  const request: RetrieveRequest = { url: httpUrlField(body.url, 'url') }
  if (body.key !== undefined) {
    if (typeof body.key !== 'string') throw new FdnError('invalid_request', 'key must be a string')
    request.key = parseObjectKey(body.key)
  }
  if (body.actor !== undefined) request.actor = activityPubId(body.actor, 'actor')
  if (body.status !== undefined) request.status = activityPubId(body.status, 'status')
  if (body.digestMultibase !== undefined) {
    if (typeof body.digestMultibase !== 'string') throw new FdnError('invalid_digest', 'digestMultibase must be a string')
    parseDigestMultibase(body.digestMultibase)
    request.digestMultibase = body.digestMultibase
  }
  return request
}

/**
 * A string that parses as an absolute URL. Only the form is checked here:
 * the scheme, credentials, port and address of `url` are the fetcher's to
 * refuse, each with its own code, and only when the origin must be asked.
 */
function httpUrlField (value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '') throw new FdnError('invalid_request', `${name} must be a non-empty string`)
  if (value.length > MAX_API_URL_LENGTH) throw new FdnError('invalid_request', `${name} is longer than ${MAX_API_URL_LENGTH} characters`)
  if (!URL.canParse(value)) throw new FdnError('invalid_request', `${name} is not an absolute URL`)
  return value
}

/** An actor's or status's ID: the http(s) URI the owner's Delete will name. */
function activityPubId (value: unknown, name: string): string {
  const url = httpUrlField(value, name)
  if (!isHttpUri(url)) throw new FdnError('invalid_request', `${name} must be an http(s) URI without credentials, spaces or control characters`)
  return url
}

/**
 * The hex SHA-256 a `digestMultibase` names: a multibase (any base
 * multiformats knows; FEP-ef61 uses base58btc `z…`) of a sha2-256 multihash.
 */
export function parseDigestMultibase (text: string): string {
  const base = Object.values(bases).find(candidate => candidate.prefix === text[0])
  let bytes: Uint8Array
  try {
    if (base == null) throw new Error(`unknown multibase prefix '${text.slice(0, 1)}'`)
    bytes = base.decoder.decode(text)
  } catch (err) {
    throw new FdnError('invalid_digest', `digestMultibase is not a multibase string: ${(err as Error).message}`)
  }
  let digest: Digest.Digest<number, number>
  try {
    digest = Digest.decode(bytes)
  } catch {
    throw new FdnError('invalid_digest', 'digestMultibase is not a multihash')
  }
  if (digest.code !== SHA2_256 || digest.digest.length !== 32) {
    throw new FdnError('invalid_digest', `digestMultibase must be a sha2-256 multihash (code 0x12, 32 bytes), not code 0x${digest.code.toString(16)} of ${digest.digest.length} bytes`)
  }
  return Buffer.from(digest.digest).toString('hex')
}

/** The base58btc sha2-256 multihash of a hex SHA-256: an attachment's `digestMultibase`. */
export function digestMultibaseOf (sha256: string): string {
  return base58btc.encode(Digest.create(SHA2_256, Buffer.from(sha256, 'hex')).bytes)
}

/**
 * The CID a file of at most one chunk (1 MiB) has under the CID profile: a
 * raw block whose multihash is the file's SHA-256. Larger files have another
 * CID (their DAG root), which the digest alone does not give.
 */
export function rawCidOfSha256 (sha256: string): CidString {
  return cidString(CID.createV1(RAW_CODEC, Digest.create(SHA2_256, Buffer.from(sha256, 'hex'))))
}

/**
 * The CID a URL names, if any: a path gateway's `/ipfs/{cid}[/…]` on any
 * host, or a subdomain gateway's `{cid}.ipfs.{host}`. A segment that is not
 * a CID this node can verify names none.
 */
export function cidInUrl (url: URL): CID | undefined {
  const path = /^\/ipfs\/([^/?#]+)/.exec(url.pathname)
  const label = /^([^.]+)\.ipfs\./.exec(url.hostname)
  const candidate = path?.[1] ?? label?.[1]
  if (candidate == null) return undefined
  try {
    const cid = parseCid(decodeURIComponent(candidate))
    return cid.multihash.code === SHA2_256 ? cid : undefined
  } catch {
    return undefined
  }
}

/**
 * The form a URL is cached under: WHATWG-parsed (scheme and host lower case,
 * default port dropped, dot segments resolved, percent-encoding normalised)
 * without its fragment, which never reaches the server.
 */
export function normaliseUrl (url: string): string {
  const parsed = new URL(url)
  parsed.hash = ''
  return parsed.href
}
