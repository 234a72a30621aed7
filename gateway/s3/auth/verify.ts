/**
 * AWS Signature Version 4 verification of an S3 request, by `Authorization`
 * header or by presigned query string. Pure: the request as it arrived, a way
 * to find a secret, and the current time in; the authenticated identity and
 * what is needed to verify the body out, or an S3Error.
 *
 * The order of the checks follows what a client can act on: malformed
 * parameters first (nothing else can be read), then unsigned headers, the key,
 * the time, and the signature last.
 */
import { s3Error } from '../errors.ts'
import {
  canonicalQuery, canonicalRequest, canonicalUriCandidates, parseQuery, stringToSign
} from './canonical.ts'
import type { RequestHeaders } from './canonical.ts'
import { authKind, parseAmzDate, parseAuthorizationHeader, parsePresignedQuery, requestTime } from './parse.ts'
import type { AuthKind, AuthParams } from './parse.ts'
import { INVALID_CONTENT_SHA256, UNSIGNED_PAYLOAD, payloadMode } from './payload.ts'
import type { PayloadMode } from './payload.ts'
import { sign, signaturesEqual, signingKey, TERMINATOR } from './signing-key.ts'

/** What the verifier needs of a request, exactly as received. */
export interface SignedRequest {
  readonly method: string
  /** the path as sent on the wire: still percent-encoded, without the query */
  readonly rawPath: string
  /** everything after `?`, as sent (empty string when none) */
  readonly rawQuery: string
  /** node's lower-cased IncomingHttpHeaders */
  readonly headers: RequestHeaders
}

/** Finds a tenant's secret by access key id; undefined when the key is unknown. */
export type SecretLookup = (accessKeyId: string) => Promise<string | undefined> | string | undefined

export interface AuthResult {
  readonly kind: 'header' | 'presigned'
  readonly accessKeyId: string
  /** whatever region the client signed for (fdn has none of its own) */
  readonly region: string
  /** YYYYMMDD of the credential scope */
  readonly date: string
  /** the request time as signed, YYYYMMDD'T'HHMMSS'Z' */
  readonly amzDate: string
  /** `<date>/<region>/s3/aws4_request` */
  readonly scope: string
  readonly signingKey: Buffer
  /** the request's signature: the seed of aws-chunked chunk signatures */
  readonly signature: string
  readonly signedHeaders: readonly string[]
  /** the payload hash as signed: hex, `UNSIGNED-PAYLOAD` or `STREAMING-…` */
  readonly contentSha256: string
  readonly payload: PayloadMode
  /** presigned only: when the URL stops being valid (epoch ms) */
  readonly expiresAt?: number
}

/** S3 accepts a request time up to 15 minutes away from its own clock. */
export const MAX_SKEW_MS = 15 * 60 * 1000

/** Which mechanism a request uses, without verifying it: `none` is an anonymous request. */
export function requestAuthKind (request: Pick<SignedRequest, 'rawQuery' | 'headers'>): AuthKind {
  return authKind(single(request.headers.authorization), parseQuery(request.rawQuery))
}

function single (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function iso (ms: number): string {
  return new Date(ms).toISOString()
}

/**
 * Verifies a request's SigV4 signature. Resolves with the identity and the
 * signing material; rejects with an S3Error: AccessDenied (no or expired
 * authentication, unsigned headers), InvalidAccessKeyId, SignatureDoesNotMatch,
 * RequestTimeTooSkewed, AuthorizationHeaderMalformed,
 * AuthorizationQueryParametersError, InvalidRequest, InvalidArgument.
 */
export async function verifyRequest (request: SignedRequest, lookupSecret: SecretLookup, now: number | Date = Date.now()): Promise<AuthResult> {
  const nowMs = typeof now === 'number' ? now : now.getTime()
  const { headers } = request
  const params = parseQuery(request.rawQuery)
  const authorization = single(headers.authorization)
  const kind = authKind(authorization, params)
  if (kind === 'none') throw s3Error('AccessDenied')
  if (kind === 'header' && params.some((p) => p.name === 'X-Amz-Algorithm' || p.name === 'X-Amz-Signature' || p.name === 'Signature')) {
    throw s3Error('InvalidArgument', 'Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query string parameter or the Authorization header should be specified',
      { ArgumentName: 'Authorization' })
  }

  // --- parameters, time and scope
  let auth: AuthParams
  let amzDate: string
  let timeMs: number
  let rawTime: string
  let expires = 0
  if (kind === 'header') {
    auth = parseAuthorizationHeader(authorization!)
    const time = requestTime(single(headers['x-amz-date']), single(headers.date))
    if (time === undefined) throw s3Error('AccessDenied', 'AWS authentication requires a valid Date or x-amz-date header')
    ;({ amzDate, ms: timeMs, raw: rawTime } = time)
    if (auth.credential.date !== amzDate.slice(0, 8)) {
      throw s3Error('AuthorizationHeaderMalformed', `The authorization header is malformed; Invalid credential date "${auth.credential.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`)
    }
  } else {
    const presigned = parsePresignedQuery(params)
    auth = presigned
    amzDate = rawTime = presigned.amzDate
    timeMs = parseAmzDate(amzDate)! // parsePresignedQuery checked it
    expires = presigned.expires
    if (auth.credential.date !== amzDate.slice(0, 8)) {
      throw s3Error('AuthorizationQueryParametersError', `Error parsing the X-Amz-Credential parameter; Invalid credential date "${auth.credential.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`)
    }
  }
  const { accessKeyId, date, region } = auth.credential

  // --- the payload hash line and what it says about the body
  const headerSha = single(headers['x-amz-content-sha256'])
  /** the payload hash line of the canonical request */
  let payloadHash: string
  /** the value that decides how the body is read and checked */
  let declared: string
  if (kind === 'header') {
    // S3 requires the header on every header-signed request (InvalidRequest,
    // "Missing required header for this request: x-amz-content-sha256")
    if (headerSha === undefined) throw s3Error('InvalidRequest', 'Missing required header for this request: x-amz-content-sha256')
    payloadHash = declared = headerSha
  } else {
    // A presigned URL signs UNSIGNED-PAYLOAD, unless the presigner put a hash
    // in the URL itself (the JS SDK hoists x-amz-content-sha256 into the
    // query): then that signed value rules, and an unsigned header cannot
    // lift it. Without one, a header sent with the URL may still ask for more
    // checking of the body (a hash to verify, aws-chunked framing).
    const queryHash = params.find((p) => p.name.toLowerCase() === 'x-amz-content-sha256')?.value
    payloadHash = queryHash ?? UNSIGNED_PAYLOAD
    declared = queryHash ?? headerSha ?? UNSIGNED_PAYLOAD
  }
  const mode = payloadMode(declared)
  if (mode === undefined) {
    throw s3Error('InvalidArgument', INVALID_CONTENT_SHA256, { ArgumentName: 'x-amz-content-sha256', ArgumentValue: declared })
  }

  // --- what must be signed. S3 refuses any x-amz-* header the signature does
  // not cover (it could change what the request does: ACL, copy source,
  // metadata), except x-amz-content-sha256, whose value is the last line of
  // the canonical request anyway. `host` binds the request to this endpoint.
  const signed = new Set(auth.signedHeaders)
  const notSigned: string[] = []
  if (!signed.has('host')) notSigned.push('host')
  for (const name of Object.keys(headers)) {
    if (name.startsWith('x-amz-') && name !== 'x-amz-content-sha256' && !signed.has(name) && headers[name] !== undefined) notSigned.push(name)
  }
  if (notSigned.length > 0) {
    throw s3Error('AccessDenied', 'There were headers present in the request which were not signed', { HeadersNotSigned: notSigned.join(', ') })
  }

  // --- who
  const secret = await lookupSecret(accessKeyId)
  if (secret === undefined) throw s3Error('InvalidAccessKeyId', undefined, { AWSAccessKeyId: accessKeyId })

  // --- when
  let expiresAt: number | undefined
  if (kind === 'header') {
    if (Math.abs(nowMs - timeMs) > MAX_SKEW_MS) {
      throw s3Error('RequestTimeTooSkewed', undefined, { RequestTime: rawTime, ServerTime: iso(nowMs), MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS) })
    }
  } else {
    // a URL signed by a clock a little ahead is usable at once, as with header auth
    if (timeMs - nowMs > MAX_SKEW_MS) throw s3Error('AccessDenied', 'Request is not yet valid', { 'X-Amz-Date': amzDate, ServerTime: iso(nowMs) })
    expiresAt = timeMs + expires * 1000
    if (nowMs > expiresAt) {
      throw s3Error('AccessDenied', 'Request has expired', { 'X-Amz-Expires': String(expires), Expires: iso(expiresAt), ServerTime: iso(nowMs) })
    }
  }

  // --- the signature
  const scope = `${date}/${region}/s3/${TERMINATOR}`
  const key = signingKey(secret, date, region)
  const query = canonicalQuery(params, kind === 'presigned' ? 'X-Amz-Signature' : undefined)
  let firstAttempt: { canonical: string, toSign: string } | undefined
  for (const uri of canonicalUriCandidates(request.rawPath)) {
    const canonical = canonicalRequest({ method: request.method, uri, query, headers, signedHeaders: auth.signedHeaders, payloadHash })
    const toSign = stringToSign(amzDate, scope, canonical)
    if (signaturesEqual(sign(key, toSign), auth.signature)) {
      return {
        kind,
        accessKeyId,
        region,
        date,
        amzDate,
        scope,
        signingKey: key,
        signature: auth.signature,
        signedHeaders: auth.signedHeaders,
        contentSha256: declared,
        payload: mode,
        ...(expiresAt === undefined ? {} : { expiresAt })
      }
    }
    firstAttempt ??= { canonical, toSign }
  }
  // S3 tells what it signed, so a client author can diff it with theirs
  throw s3Error('SignatureDoesNotMatch', undefined, {
    AWSAccessKeyId: accessKeyId,
    StringToSign: firstAttempt!.toSign,
    SignatureProvided: auth.signature,
    CanonicalRequest: firstAttempt!.canonical
  })
}
