/**
 * What an S3 request names, read from the request exactly as it arrived: the
 * bucket (from the path, or from the Host of a virtual-host request), the key
 * (percent-decoded bytes of the path, as S3 reads it: `+` stays `+`), and the
 * query parameters (S3 reads those as form-encoded: `+` is a space).
 *
 * The wire URL matters twice: SigV4 signs it as sent, and fastify's
 * `rewriteUrl` (which routes `{bucket}.{domain}/{key}` to `/{bucket}/{key}`)
 * leaves the original in `req.originalUrl`.
 */
import { randomBytes } from 'node:crypto'
import type { IncomingMessage } from 'node:http'
import { MAX_KEY_BYTES } from '../../protocol/names.ts'
import { parseQuery } from './auth/canonical.ts'
import type { QueryParam } from './auth/canonical.ts'
import { percentDecode } from './auth/encoding.ts'
import { s3Error } from './errors.ts'

export interface S3Request {
  /** `x-amz-request-id` of the answer, and `<RequestId>` of an error body */
  readonly id: string
  readonly method: string
  /** the path as sent, still percent-encoded, without the query */
  readonly rawPath: string
  /** everything after `?`, as sent */
  readonly rawQuery: string
  readonly params: readonly QueryParam[]
  /** the first value of each query parameter, decoded */
  readonly query: ReadonlyMap<string, string>
  readonly style: 'path' | 'virtual-host'
  /** undefined for service requests (`GET /`, ListBuckets) */
  readonly bucket: string | undefined
  /** undefined for bucket requests */
  readonly key: string | undefined
  /** what error bodies name in `<Resource>` */
  readonly resource: string
  readonly headers: IncomingMessage['headers']
}

export function newRequestId (): string {
  return randomBytes(8).toString('hex').toUpperCase()
}

/** The URL as it came off the wire, whatever `rewriteUrl` made of `req.url` for the router. */
export function wireUrl (raw: IncomingMessage): string {
  return (raw as IncomingMessage & { originalUrl?: string }).originalUrl ?? raw.url ?? '/'
}

/** The lower-case host name of a request, without its port. */
export function hostName (headers: IncomingMessage['headers']): string | undefined {
  const host = headers.host ?? (headers[':authority'] as string | undefined)
  if (host == null || host === '') return undefined
  const bare = host.startsWith('[') ? host.slice(0, host.indexOf(']') + 1) : host.replace(/:\d*$/, '')
  return bare.toLowerCase()
}

/**
 * The bucket a virtual-host request names: `{bucket}.{s3Domain}` with a
 * single label before the domain (fdn's bucket names have no dots).
 */
export function virtualHostBucket (headers: IncomingMessage['headers'], s3Domain: string | undefined): string | undefined {
  if (s3Domain == null) return undefined
  const host = hostName(headers)
  if (host == null || !host.endsWith(`.${s3Domain}`)) return undefined
  const label = host.slice(0, host.length - s3Domain.length - 1)
  return label === '' || label.includes('.') ? undefined : label
}

/**
 * fastify's `rewriteUrl` for the public listener: a virtual-host request
 * `{bucket}.{s3Domain}/{key}` is routed as `/{bucket}/{key}`, so that keys
 * such as `ipfs/…` or `healthz` reach the S3 routes, not the gateway's. The
 * original URL stays in `req.originalUrl` for the signature.
 */
export function virtualHostRewrite (s3Domain: string | undefined): ((req: IncomingMessage) => string) | undefined {
  if (s3Domain == null) return undefined
  return (req) => {
    const url = req.url ?? '/'
    const bucket = virtualHostBucket(req.headers, s3Domain)
    return bucket == null || !url.startsWith('/') ? url : `/${bucket}${url}`
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true })

/** A percent-encoded path component as text; bytes that are not UTF-8 are refused as S3 does. */
function decodePathPart (raw: string): string {
  try {
    return utf8.decode(percentDecode(raw, false))
  } catch {
    throw s3Error('InvalidURI')
  }
}

/** Reads what an S3 request names. Throws InvalidURI, KeyTooLongError, InvalidArgument (NUL in a key). */
export function parseS3Request (raw: IncomingMessage, s3Domain: string | undefined, id: string): S3Request {
  const url = wireUrl(raw)
  const q = url.indexOf('?')
  const rawPath = q === -1 ? url : url.slice(0, q)
  const rawQuery = q === -1 ? '' : url.slice(q + 1)
  const params = parseQuery(rawQuery)
  const query = new Map<string, string>()
  for (const p of params) if (!query.has(p.name)) query.set(p.name, p.value)

  let bucket: string | undefined = virtualHostBucket(raw.headers, s3Domain)
  let keyPart: string
  const style = bucket == null ? 'path' : 'virtual-host'
  if (bucket == null) {
    const path = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath
    const slash = path.indexOf('/')
    const bucketPart = slash === -1 ? path : path.slice(0, slash)
    keyPart = slash === -1 ? '' : path.slice(slash + 1)
    bucket = bucketPart === '' ? undefined : decodePathPart(bucketPart)
  } else {
    keyPart = rawPath.startsWith('/') ? rawPath.slice(1) : rawPath
  }
  const key = keyPart === '' ? undefined : decodePathPart(keyPart)
  const resource = bucket == null ? '/' : key == null ? `/${bucket}` : `/${bucket}/${key}`
  const request: S3Request = { id, method: raw.method ?? 'GET', rawPath, rawQuery, params, query, style, bucket, key, resource, headers: raw.headers }
  if (key != null) checkKey(key)
  return request
}

/** S3's limit on a key, 1024 UTF-8 bytes, and fdn's refusal of NUL (protocol/names.ts). */
export function checkKey (key: string): void {
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    throw s3Error('KeyTooLongError', undefined, { Size: String(Buffer.byteLength(key, 'utf8')), MaxSizeAllowed: String(MAX_KEY_BYTES) })
  }
  if (key.includes('\0')) throw s3Error('InvalidArgument', 'Object key must not contain a NUL character', { ArgumentName: 'key' })
}

/** Whether a query parameter is present (`?acl` has the empty value). */
export function has (request: S3Request, name: string): boolean {
  return request.query.has(name)
}

/** A single request header as a string (node gives arrays for a few names). */
export function header (request: Pick<S3Request, 'headers'>, name: string): string | undefined {
  const value = request.headers[name]
  return Array.isArray(value) ? value.join(',') : value
}
