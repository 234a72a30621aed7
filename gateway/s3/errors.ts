/**
 * S3's error codes, their HTTP statuses and default messages, and the XML body
 * S3 answers with. Clients (the AWS SDKs, awscli, Mastodon's Ruby SDK) branch
 * on `<Code>` and on the status (retry on 5xx and on SlowDown, never on 4xx),
 * so both must be exactly S3's.
 *
 * Statuses and messages follow the "Error responses" page of the Amazon S3 API
 * reference and what S3 itself answers; the few codes AWS does not define are
 * marked below.
 */

interface ErrorSpec { readonly status: number, readonly message: string }

const SPECS = {
  AccessDenied: { status: 403, message: 'Access Denied' },
  AuthorizationHeaderMalformed: { status: 400, message: 'The authorization header is malformed.' },
  AuthorizationQueryParametersError: { status: 400, message: 'Error parsing the query-string authentication parameters.' },
  BadDigest: { status: 400, message: 'The Content-MD5 you specified did not match what we received.' },
  BucketAlreadyExists: { status: 409, message: 'The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again.' },
  BucketAlreadyOwnedByYou: { status: 409, message: 'Your previous request to create the named bucket succeeded and you already own it.' },
  BucketNotEmpty: { status: 409, message: 'The bucket you tried to delete is not empty' },
  EntityTooLarge: { status: 400, message: 'Your proposed upload exceeds the maximum allowed size' },
  EntityTooSmall: { status: 400, message: 'Your proposed upload is smaller than the minimum allowed object size.' },
  IncompleteBody: { status: 400, message: 'You did not provide the number of bytes specified by the Content-Length HTTP header' },
  InternalError: { status: 500, message: 'We encountered an internal error. Please try again.' },
  // Not an AWS code: the node's disk is full. MinIO answers 507 here too; a
  // 5xx the SDKs do not retry (they retry 500, 502, 503 and 504), since
  // re-sending the body at once would not find more space.
  InsufficientStorage: { status: 507, message: 'The node has not enough free space to store this upload.' },
  InvalidAccessKeyId: { status: 403, message: 'The AWS Access Key Id you provided does not exist in our records.' },
  InvalidArgument: { status: 400, message: 'Invalid Argument' },
  InvalidBucketName: { status: 400, message: 'The specified bucket is not valid.' },
  // S3 answers 403 here, not 400: the signed-chunk framing is part of the authentication
  InvalidChunkSizeError: { status: 403, message: 'Only the last chunk is allowed to have a size less than 8192 bytes' },
  InvalidDigest: { status: 400, message: 'The Content-MD5 you specified was invalid.' },
  InvalidPart: { status: 400, message: 'One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part\'s entity tag.' },
  InvalidPartOrder: { status: 400, message: 'The list of parts was not in ascending order. Parts must be ordered by part number.' },
  InvalidPartNumber: { status: 416, message: 'The requested partnumber is not satisfiable' },
  InvalidRange: { status: 416, message: 'The requested range is not satisfiable' },
  InvalidRequest: { status: 400, message: 'Invalid Request' },
  InvalidURI: { status: 400, message: 'Couldn\'t parse the specified URI.' },
  KeyTooLongError: { status: 400, message: 'Your key is too long' },
  MalformedACLError: { status: 400, message: 'The XML you provided was not well-formed or did not validate against our published schema.' },
  MalformedTrailerError: { status: 400, message: 'The request contained trailing data that was not well-formed or did not conform to our published schema.' },
  MalformedXML: { status: 400, message: 'The XML you provided was not well-formed or did not validate against our published schema' },
  // S3's answer to a request document over its size limit (with <MaxMessageLengthBytes>)
  MaxMessageLengthExceeded: { status: 400, message: 'Your request was too big.' },
  MetadataTooLarge: { status: 400, message: 'Your metadata headers exceed the maximum allowed metadata size.' },
  MethodNotAllowed: { status: 405, message: 'The specified method is not allowed against this resource.' },
  MissingContentLength: { status: 411, message: 'You must provide the Content-Length HTTP header.' },
  MissingSecurityHeader: { status: 400, message: 'Your request is missing a required header.' },
  NoSuchBucket: { status: 404, message: 'The specified bucket does not exist' },
  NoSuchKey: { status: 404, message: 'The specified key does not exist.' },
  /** Not S3's: a public read of a key its ActivityPub owner deleted (docs/activitypub.md). */
  Gone: { status: 410, message: 'The media at this key was deleted by its owner.' },
  NoSuchUpload: { status: 404, message: 'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.' },
  NotImplemented: { status: 501, message: 'A header you provided implies functionality that is not implemented' },
  // S3 sends 304 with an empty body: the code is here so conditional reads can
  // throw it like any other outcome, but s3ErrorXml must not be sent with it
  NotModified: { status: 304, message: 'Not Modified' },
  OperationAborted: { status: 409, message: 'A conflicting conditional operation is currently in progress against this resource. Please try again.' },
  PreconditionFailed: { status: 412, message: 'At least one of the pre-conditions you specified did not hold' },
  // Not an AWS code (AWS has no per-bucket quota). Ceph RGW, the best-known
  // S3-compatible server that has quotas, answers `QuotaExceeded` with 403;
  // fdn does the same. A 4xx also keeps the SDKs from retrying the upload,
  // which they would do (three times, re-sending the whole body) on a 507.
  QuotaExceeded: { status: 403, message: 'The upload would exceed the bucket\'s storage quota.' },
  RequestTimeout: { status: 400, message: 'Your socket connection to the server was not read from or written to within the timeout period.' },
  RequestTimeTooSkewed: { status: 403, message: 'The difference between the request time and the current time is too large.' },
  ServiceUnavailable: { status: 503, message: 'Please reduce your request rate.' },
  SignatureDoesNotMatch: { status: 403, message: 'The request signature we calculated does not match the signature you provided. Check your key and signing method.' },
  SlowDown: { status: 503, message: 'Please reduce your request rate.' },
  XAmzContentSHA256Mismatch: { status: 400, message: 'The provided \'x-amz-content-sha256\' header does not match what was computed.' }
} as const satisfies Record<string, ErrorSpec>

export type S3ErrorCode = keyof typeof SPECS

/** HTTP status S3 answers each code with. */
export function s3Status (code: S3ErrorCode): number {
  return SPECS[code].status
}

/**
 * An S3 error: its code, its HTTP status, a message, and the extra elements S3
 * puts in some error bodies (`HeadersNotSigned`, `StringToSign`,
 * `ServerTime`…), written after `<Message>` in insertion order.
 */
export class S3Error extends Error {
  override readonly name = 'S3Error'
  readonly code: S3ErrorCode
  readonly status: number
  readonly extra: Readonly<Record<string, string>>

  constructor (code: S3ErrorCode, message?: string, extra: Record<string, string> = {}) {
    super(message ?? SPECS[code].message)
    this.code = code
    this.status = SPECS[code].status
    this.extra = extra
  }
}

export function isS3Error (err: unknown): err is S3Error {
  return err instanceof S3Error
}

/** Shorthand used throughout the S3 surface: `throw s3Error('NoSuchKey')`. */
export function s3Error (code: S3ErrorCode, message?: string, extra?: Record<string, string>): S3Error {
  return new S3Error(code, message, extra)
}

// XML 1.0 cannot carry most C0 controls (not even escaped), nor lone
// surrogates or U+FFFE/U+FFFF; an S3 key may hold them (a NUL in a key is
// refused, but the refusal names the key), so they become U+FFFD.
// eslint-disable-next-line no-control-regex
const XML_INVALID = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g
const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&apos;' }

/** Text safe inside an XML element or attribute. */
export function xmlEscape (text: string): string {
  return text.replace(XML_INVALID, '\uFFFD').replace(/[&<>"']/g, (c) => XML_ESCAPES[c] ?? c)
}

// element names come from code, but an extra's name must still be a name
const XML_NAME = /^[A-Za-z_][A-Za-z0-9._-]*$/

/**
 * The error body S3 sends:
 * `<?xml version="1.0" encoding="UTF-8"?><Error><Code>…</Code><Message>…</Message>[extras]<Resource>…</Resource><RequestId>…</RequestId></Error>`.
 * `resource` is the path the request named (e.g. `/bucket/key`). Not for
 * `NotModified`, which S3 answers with an empty body.
 */
export function s3ErrorXml (err: S3Error, resource: string, requestId: string, hostId?: string): string {
  let xml = `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${err.code}</Code><Message>${xmlEscape(err.message)}</Message>`
  for (const [name, value] of Object.entries(err.extra)) {
    if (!XML_NAME.test(name)) continue
    xml += `<${name}>${xmlEscape(value)}</${name}>`
  }
  xml += `<Resource>${xmlEscape(resource)}</Resource><RequestId>${xmlEscape(requestId)}</RequestId>`
  if (hostId !== undefined) xml += `<HostId>${xmlEscape(hostId)}</HostId>`
  return xml + '</Error>'
}
