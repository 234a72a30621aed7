/**
 * Between HTTP headers and what an object keeps: the system metadata a client
 * may set (Content-Type, Cache-Control…), `x-amz-meta-*`, the canned ACL; and
 * back to the response headers of GetObject/HeadObject.
 */
import type { FastifyReply } from 'fastify'
import type { Acl, ObjectRecord, StoredHeaders } from '../../node/objects/types.ts'
import { storedContentEncoding } from './auth/index.ts'
import { header } from './context.ts'
import type { S3Request } from './context.ts'
import { s3Error } from './errors.ts'
import { contentDisposition, inlineMediaType, isAttachment } from '../public/safety.ts'

/** S3's default type for an object stored without one. */
export const DEFAULT_CONTENT_TYPE = 'binary/octet-stream'
/** S3 limits user metadata (names and values of x-amz-meta-*) to 2 KB. */
const MAX_METADATA_BYTES = 2048

/** The system metadata a PutObject, CreateMultipartUpload or CopyObject (REPLACE) sets. */
export function storedHeaders (request: Pick<S3Request, 'headers'>): StoredHeaders {
  const stored: StoredHeaders = {}
  const contentType = header(request, 'content-type')
  if (contentType !== undefined && contentType !== '') stored.contentType = contentType
  const cacheControl = header(request, 'cache-control')
  if (cacheControl !== undefined) stored.cacheControl = cacheControl
  const disposition = header(request, 'content-disposition')
  if (disposition !== undefined) stored.contentDisposition = disposition
  const encoding = storedContentEncoding(header(request, 'content-encoding'))
  if (encoding !== undefined) stored.contentEncoding = encoding
  const language = header(request, 'content-language')
  if (language !== undefined) stored.contentLanguage = language
  const expires = header(request, 'expires')
  if (expires !== undefined) stored.expires = expires
  return stored
}

/** `x-amz-meta-*` headers: names lower-cased without the prefix, values as received. */
export function userMetadata (request: Pick<S3Request, 'headers'>): Record<string, string> {
  const metadata: Record<string, string> = {}
  let bytes = 0
  for (const name of Object.keys(request.headers)) {
    if (!name.startsWith('x-amz-meta-')) continue
    const value = header(request, name) ?? ''
    const short = name.slice('x-amz-meta-'.length)
    metadata[short] = value
    bytes += Buffer.byteLength(short) + Buffer.byteLength(value, 'latin1')
  }
  if (bytes > MAX_METADATA_BYTES) throw s3Error('MetadataTooLarge', undefined, { Size: String(bytes), MaxSizeAllowed: String(MAX_METADATA_BYTES) })
  return metadata
}

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers'

/**
 * The ACL a request asks for. fdn has two: `public-read` (anyone may read
 * the object through the alias path) and `private`. Canned ACLs that let
 * everyone read map to the first, every other canned ACL to the second; a
 * `x-amz-grant-read` (or `-full-control`) naming the AllUsers group is
 * public-read. Without any, `fallback` (S3's default is private).
 */
export function requestedAcl (request: Pick<S3Request, 'headers'>, fallback: Acl | undefined): Acl | undefined {
  const canned = header(request, 'x-amz-acl')
  const grants = ['x-amz-grant-read', 'x-amz-grant-full-control', 'x-amz-grant-read-acp', 'x-amz-grant-write-acp', 'x-amz-grant-write']
    .map((name) => [name, header(request, name)] as const)
    .filter(([, value]) => value !== undefined)
  if (canned !== undefined && grants.length > 0) throw s3Error('InvalidRequest', 'Specifying both Canned ACLs and Header Grants is not allowed')
  if (canned !== undefined) return cannedAcl(canned)
  if (grants.length > 0) {
    const publicRead = grants.some(([name, value]) => (name === 'x-amz-grant-read' || name === 'x-amz-grant-full-control') && value!.includes(ALL_USERS))
    return publicRead ? 'public-read' : 'private'
  }
  return fallback
}

export function cannedAcl (value: string): Acl {
  switch (value.trim()) {
    case 'public-read':
    case 'public-read-write':
      return 'public-read'
    case 'private':
    case 'authenticated-read':
    case 'bucket-owner-read':
    case 'bucket-owner-full-control':
    case 'aws-exec-read':
    case 'log-delivery-write':
      return 'private'
    default:
      throw s3Error('InvalidArgument', undefined, { ArgumentName: 'x-amz-acl', ArgumentValue: value })
  }
}

/** An HTTP date (IMF-fixdate) of an ISO time. */
export function httpDate (iso: string): string {
  return new Date(iso).toUTCString()
}

/** `ETag` header value: S3's ETags are quoted. */
export function quotedEtag (etag: string): string {
  return `"${etag}"`
}

// eslint-disable-next-line no-control-regex
const HEADER_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/

/** Per-request overrides S3 allows on signed GETs (`response-content-type=…`). */
const OVERRIDES = {
  'response-content-type': 'content-type',
  'response-content-language': 'content-language',
  'response-expires': 'expires',
  'response-cache-control': 'cache-control',
  'response-content-disposition': 'content-disposition',
  'response-content-encoding': 'content-encoding'
} as const

export function hasResponseOverrides (request: S3Request): boolean {
  return Object.keys(OVERRIDES).some((name) => request.query.has(name))
}

/**
 * Who will read the answer. A header-signed request (an SDK or a tool) gets
 * the object's headers exactly as stored, as from S3. A presigned URL or a
 * public alias URL can be opened by a browser: then only allow-listed
 * passive media go out inline, under the type's essence, anything else as an
 * attachment typed `application/octet-stream` (gateway/public/safety.ts),
 * whatever the uploader declared.
 */
export type Audience = 'client' | 'browser'

/**
 * The response headers of GetObject/HeadObject for an object: validators,
 * system metadata (with the request's overrides), user metadata.
 */
export function setObjectHeaders (reply: FastifyReply, record: ObjectRecord, request: S3Request, audience: Audience, cacheControl?: string): void {
  const { headers } = record
  const values: Record<string, string | undefined> = {
    'content-type': headers.contentType ?? DEFAULT_CONTENT_TYPE,
    'content-language': headers.contentLanguage,
    expires: headers.expires,
    'cache-control': headers.cacheControl ?? cacheControl,
    'content-disposition': headers.contentDisposition,
    'content-encoding': headers.contentEncoding
  }
  for (const [param, name] of Object.entries(OVERRIDES)) {
    const value = request.query.get(param)
    if (value === undefined) continue
    // a query value is decoded text: it must still be a valid header value (no CR/LF, Latin-1)
    if (!HEADER_VALUE.test(value)) throw s3Error('InvalidArgument', `Invalid ${param}`, { ArgumentName: param, ArgumentValue: value })
    values[name] = value
  }
  if (audience === 'browser') {
    const inline = inlineMediaType(values['content-type'])
    values['content-type'] = inline ?? 'application/octet-stream'
    if (inline === undefined && !isAttachment(values['content-disposition'])) values['content-disposition'] = contentDisposition('attachment', undefined)
  }
  for (const [name, value] of Object.entries(values)) if (value !== undefined) reply.header(name, value)
  reply.header('etag', quotedEtag(record.etag))
  reply.header('last-modified', httpDate(record.mtime))
  for (const [name, value] of Object.entries(record.metadata)) reply.header(`x-amz-meta-${name}`, value)
  if (record.parts !== undefined && request.query.has('partNumber')) reply.header('x-amz-mp-parts-count', String(record.parts))
}
