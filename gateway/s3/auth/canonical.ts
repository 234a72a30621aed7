/**
 * The SigV4 canonical request and string to sign, rebuilt from the request as
 * it arrived on the wire. The server cannot see what the client hashed, only
 * what it sent, so every step here must map "what a correct client sends" back
 * to "what that client signed", and nothing more.
 */
import { createHash } from 'node:crypto'
import { percentDecode, uriEncodeBytes } from './encoding.ts'

export const ALGORITHM = 'AWS4-HMAC-SHA256'
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

/** Node's `IncomingHttpHeaders` (lower-case names) is one of these. */
export type RequestHeaders = Readonly<Record<string, string | string[] | undefined>>

export function sha256Hex (data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/**
 * Canonical URIs to try, best first. S3 signs the path as the client sent it:
 * no double encoding, no dot-segment normalisation (`/a/../b` is a key, not a
 * path to clean), so the first candidate is the raw path itself. The second,
 * only when it differs, is the same bytes re-encoded strictly (RFC 3986): a
 * client that sends `(` or `!` unescaped but encodes them when it signs
 * (rare, but seen with hand-rolled signers) names the same key either way, so
 * accepting it grants nothing the signature did not cover.
 */
export function canonicalUriCandidates (rawPath: string): string[] {
  const path = rawPath === '' ? '/' : rawPath
  const strict = uriEncodeBytes(percentDecode(path, false), true)
  return strict === path ? [path] : [path, strict]
}

/** One query parameter: as decoded (for reading) and as canonically encoded. */
export interface QueryParam {
  readonly name: string
  readonly value: string
  readonly encodedName: string
  readonly encodedValue: string
}

/**
 * Splits a raw query string (after `?`, still percent-encoded) into
 * parameters. Empty segments (`a=1&&b=2`, a trailing `&`) carry nothing and are
 * dropped; a name with no `=` (`?acl`, `?uploads`) has the empty value, as
 * SigV4 requires (`acl=`). `+` means a space, as S3 reads query strings.
 */
export function parseQuery (rawQuery: string): QueryParam[] {
  const params: QueryParam[] = []
  if (rawQuery === '') return params
  for (const segment of rawQuery.split('&')) {
    if (segment === '') continue
    const eq = segment.indexOf('=')
    const nameBytes = percentDecode(eq === -1 ? segment : segment.slice(0, eq), true)
    const valueBytes = percentDecode(eq === -1 ? '' : segment.slice(eq + 1), true)
    params.push({
      name: nameBytes.toString('utf8'),
      value: valueBytes.toString('utf8'),
      encodedName: uriEncodeBytes(nameBytes, false),
      encodedValue: uriEncodeBytes(valueBytes, false)
    })
  }
  return params
}

/**
 * Canonical query string: every parameter re-encoded strictly, sorted by
 * encoded name then encoded value (byte order; all ASCII by then), joined with
 * `&`. `exclude` drops a parameter by decoded name (`X-Amz-Signature` of a
 * presigned URL, which cannot sign itself).
 */
export function canonicalQuery (params: readonly QueryParam[], exclude?: string): string {
  const pairs: Array<[string, string]> = []
  for (const p of params) {
    if (p.name === exclude) continue
    pairs.push([p.encodedName, p.encodedValue])
  }
  pairs.sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0)
  return pairs.map(([k, v]) => `${k}=${v}`).join('&')
}

/**
 * A header's canonical value: surrounding blanks removed, inner runs of
 * blanks made one space (SigV4 "trimall"; every SDK does the same). A header
 * sent several times arrives as an array from node for a few names only; SigV4
 * joins the values with commas. Node itself joins most repeated headers with
 * ", ", which a client would have signed as "a,b": a repeated signed header
 * other than those is therefore not verifiable from node's parsed headers
 * (none of the S3 clients sends one).
 */
export function canonicalHeaderValue (value: string | readonly string[] | undefined): string {
  if (value === undefined) return ''
  const values = typeof value === 'string' ? [value] : value
  return values.map((v) => v.replace(/[ \t\r\n]+/g, ' ').trim()).join(',')
}

/** The header to read for a signed name: `host` may arrive as HTTP/2's `:authority`. */
export function headerFor (headers: RequestHeaders, name: string): string | string[] | undefined {
  const value = headers[name]
  if (value === undefined && name === 'host') return headers[':authority']
  return value
}

export interface CanonicalRequestParts {
  readonly method: string
  readonly uri: string
  readonly query: string
  readonly headers: RequestHeaders
  /** as the client listed them (lower-case, in its order, normally sorted) */
  readonly signedHeaders: readonly string[]
  readonly payloadHash: string
}

export function canonicalRequest (parts: CanonicalRequestParts): string {
  let headerBlock = ''
  for (const name of parts.signedHeaders) {
    headerBlock += `${name}:${canonicalHeaderValue(headerFor(parts.headers, name))}\n`
  }
  return `${parts.method}\n${parts.uri}\n${parts.query}\n${headerBlock}\n${parts.signedHeaders.join(';')}\n${parts.payloadHash}`
}

export function stringToSign (amzDate: string, scope: string, canonical: string): string {
  return `${ALGORITHM}\n${amzDate}\n${scope}\n${sha256Hex(canonical)}`
}
