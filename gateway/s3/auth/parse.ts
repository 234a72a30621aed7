/**
 * Reading the authentication parameters out of a request: the
 * `Authorization` header, or the `X-Amz-*` parameters of a presigned URL.
 * Only syntax here; what the values must agree with is checked in verify.ts.
 * The error codes and messages are S3's own for each mistake, because SDKs and
 * people debugging a client read them.
 */
import { s3Error } from '../errors.ts'
import type { S3Error } from '../errors.ts'
import { ALGORITHM } from './canonical.ts'
import type { QueryParam } from './canonical.ts'
import { TERMINATOR } from './signing-key.ts'

export interface Credential {
  readonly accessKeyId: string
  readonly date: string
  readonly region: string
  readonly service: string
  readonly terminator: string
}

export interface AuthParams {
  readonly kind: 'header' | 'presigned'
  readonly credential: Credential
  readonly signedHeaders: readonly string[]
  readonly signature: string
}

export interface PresignedParams extends AuthParams {
  readonly kind: 'presigned'
  readonly amzDate: string
  readonly expires: number
}

const HEADER_MALFORMED = 'The authorization header is malformed; '
const CREDENTIAL_MALFORMED = 'the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
const QUERY_PREFIX = 'Error parsing the X-Amz-Credential parameter; '

export const PRESIGN_PARAMS = ['X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature'] as const
/** S3's longest presigned lifetime: seven days. */
export const MAX_EXPIRES = 604800

/** Which mechanism a request authenticates with, before anything is checked. */
export type AuthKind = 'header' | 'presigned' | 'none'

export function authKind (authorization: string | undefined, params: readonly QueryParam[]): AuthKind {
  if (authorization !== undefined) return 'header'
  if (params.some((p) => p.name === 'X-Amz-Algorithm' || p.name === 'X-Amz-Credential' || p.name === 'X-Amz-Signature' ||
    p.name === 'Signature' || p.name === 'AWSAccessKeyId')) return 'presigned'
  return 'none'
}

const UNSUPPORTED_MECHANISM = 'The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.'

function parseCredential (text: string, malformed: (message: string) => S3Error): Credential {
  const parts = text.split('/')
  if (parts.length !== 5 || parts.some((p) => p === '')) throw malformed(CREDENTIAL_MALFORMED)
  const [accessKeyId, date, region, service, terminator] = parts as [string, string, string, string, string]
  if (!/^\d{8}$/.test(date)) throw malformed(CREDENTIAL_MALFORMED)
  if (service !== 's3') throw malformed(`incorrect service "${service}". This endpoint belongs to "s3".`)
  if (terminator !== TERMINATOR) throw malformed(`incorrect terminal "${terminator}". This endpoint uses "${TERMINATOR}".`)
  return { accessKeyId, date, region, service, terminator }
}

/** SignedHeaders=host;range;x-amz-date — names are case-insensitive on the wire. */
function parseSignedHeaders (text: string): string[] {
  return text === '' ? [] : text.split(';').map((h) => h.trim().toLowerCase())
}

/**
 * `AWS4-HMAC-SHA256 Credential=AKID/20130524/us-east-1/s3/aws4_request,
 * SignedHeaders=host;range;x-amz-date, Signature=fe5f…` — components separated
 * by commas, with or without spaces, in any order.
 */
export function parseAuthorizationHeader (header: string): AuthParams {
  const trimmed = header.trim()
  const space = trimmed.indexOf(' ')
  const scheme = space === -1 ? trimmed : trimmed.slice(0, space)
  if (scheme !== ALGORITHM) {
    // SigV2 ("AWS AKID:sig") and SigV4a are S3's, but not supported here
    if (scheme === 'AWS' || scheme.startsWith('AWS4-')) throw s3Error('InvalidRequest', UNSUPPORTED_MECHANISM)
    throw s3Error('InvalidArgument', 'Unsupported Authorization Type', { ArgumentName: 'Authorization', ArgumentValue: header })
  }
  const fields = new Map<string, string>()
  for (const part of trimmed.slice(space + 1).split(',')) {
    const item = part.trim()
    if (item === '') continue
    const eq = item.indexOf('=')
    const name = eq === -1 ? item : item.slice(0, eq)
    if (eq === -1 || fields.has(name)) throw s3Error('AuthorizationHeaderMalformed', `${HEADER_MALFORMED}the authorization component "${item}" is malformed.`)
    fields.set(name, item.slice(eq + 1))
  }
  const credential = fields.get('Credential')
  const signedHeaders = fields.get('SignedHeaders')
  const signature = fields.get('Signature')
  if (credential === undefined || signedHeaders === undefined || signature === undefined) {
    throw s3Error('AuthorizationHeaderMalformed', `${HEADER_MALFORMED}the authorization header requires three components: Credential, SignedHeaders, and Signature.`)
  }
  return {
    kind: 'header',
    credential: parseCredential(credential, (m) => s3Error('AuthorizationHeaderMalformed', HEADER_MALFORMED + m)),
    signedHeaders: parseSignedHeaders(signedHeaders),
    signature
  }
}

function queryError (message: string): S3Error {
  return s3Error('AuthorizationQueryParametersError', message)
}

/** The `X-Amz-*` parameters of a presigned URL (SigV4 query-string authentication). */
export function parsePresignedQuery (params: readonly QueryParam[]): PresignedParams {
  if (!params.some((p) => p.name === 'X-Amz-Algorithm') && params.some((p) => p.name === 'Signature' || p.name === 'AWSAccessKeyId')) {
    throw s3Error('InvalidRequest', UNSUPPORTED_MECHANISM) // a SigV2 presigned URL
  }
  const values = new Map<string, string>()
  for (const p of params) {
    if (!(PRESIGN_PARAMS as readonly string[]).includes(p.name)) continue
    if (values.has(p.name)) throw queryError(`${p.name} was given more than once.`)
    values.set(p.name, p.value)
  }
  if (PRESIGN_PARAMS.some((name) => !values.has(name))) {
    throw queryError('Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.')
  }
  if (values.get('X-Amz-Algorithm') !== ALGORITHM) throw queryError(`X-Amz-Algorithm only supports "${ALGORITHM}"`)
  const amzDate = values.get('X-Amz-Date')!
  if (parseAmzDate(amzDate) === undefined) throw queryError('X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"')
  const expiresText = values.get('X-Amz-Expires')!
  if (!/^-?\d+$/.test(expiresText)) throw queryError('X-Amz-Expires should be a number')
  const expires = Number(expiresText)
  if (expires < 0) throw queryError('X-Amz-Expires must be non-negative')
  if (expires > MAX_EXPIRES) throw queryError(`X-Amz-Expires must be less than a week (in seconds) that is; ${MAX_EXPIRES}`)
  return {
    kind: 'presigned',
    credential: parseCredential(values.get('X-Amz-Credential')!, (m) => queryError(QUERY_PREFIX + m)),
    signedHeaders: parseSignedHeaders(values.get('X-Amz-SignedHeaders')!),
    signature: values.get('X-Amz-Signature')!,
    amzDate,
    expires
  }
}

/** `20130524T000000Z` → epoch milliseconds, or undefined when not that format or not a real time. */
export function parseAmzDate (text: string): number | undefined {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text)
  if (m === null) return undefined
  const [y, mo, d, h, mi, s] = m.slice(1).map(Number) as [number, number, number, number, number, number]
  const ms = Date.UTC(y, mo - 1, d, h, mi, s)
  const back = new Date(ms)
  // Date.UTC rolls 20130231 over to March: refuse what is not a real date
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d ||
    h > 23 || mi > 59 || s > 59) return undefined
  return ms
}

/** Epoch milliseconds → `20130524T000000Z`. */
export function formatAmzDate (ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')
}

/**
 * The request time of a header-signed request: `x-amz-date` (ISO 8601 basic)
 * or, without it, `Date` (an HTTP date; some signers also put the basic format
 * there). Returns the time and the form used in the string to sign, which is
 * always the basic format.
 */
export function requestTime (xAmzDate: string | undefined, date: string | undefined): { ms: number, amzDate: string, raw: string } | undefined {
  if (xAmzDate !== undefined) {
    const ms = parseAmzDate(xAmzDate)
    return ms === undefined ? undefined : { ms, amzDate: xAmzDate, raw: xAmzDate }
  }
  if (date === undefined) return undefined
  const basic = parseAmzDate(date)
  if (basic !== undefined) return { ms: basic, amzDate: date, raw: date }
  // an HTTP date (RFC 7231 IMF-fixdate, or the obsolete forms Date.parse reads)
  if (!/^[A-Za-z]{3},? /.test(date.trim())) return undefined
  const ms = Date.parse(date)
  return Number.isNaN(ms) ? undefined : { ms, amzDate: formatAmzDate(ms), raw: date }
}
