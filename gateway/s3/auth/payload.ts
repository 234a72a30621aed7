/**
 * What `x-amz-content-sha256` says about the body: the SHA-256 of the whole
 * payload (signed, checked against the body once read), `UNSIGNED-PAYLOAD`,
 * or one of the `aws-chunked` streaming forms.
 */

export type PayloadMode =
  /** hex SHA-256 of the body: verified when the body ends */
  | 'signed'
  /** UNSIGNED-PAYLOAD: the body is not covered by the signature (checksums may still be) */
  | 'unsigned'
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked, every chunk signed */
  | 'streaming-signed'
  /** STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER: aws-chunked, chunks and trailer signed */
  | 'streaming-signed-trailer'
  /** STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked, no chunk signatures, trailing checksum */
  | 'streaming-unsigned-trailer'

export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD'
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'

/** S3's own wording when the value is none of these. */
export const INVALID_CONTENT_SHA256 = 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, ' +
  'STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, or a valid sha256 value.'

/** The mode a value of `x-amz-content-sha256` announces, or undefined for anything S3 refuses. */
export function payloadMode (value: string): PayloadMode | undefined {
  switch (value) {
    case UNSIGNED_PAYLOAD: return 'unsigned'
    case STREAMING_SIGNED: return 'streaming-signed'
    case STREAMING_SIGNED_TRAILER: return 'streaming-signed-trailer'
    case STREAMING_UNSIGNED_TRAILER: return 'streaming-unsigned-trailer'
  }
  // the hex digest is signed as written and compared with the body's digest ignoring case
  return /^[0-9a-fA-F]{64}$/.test(value) ? 'signed' : undefined
}

/** Whether the body is aws-chunked framing rather than the object's bytes. */
export function isStreaming (mode: PayloadMode): boolean {
  return mode === 'streaming-signed' || mode === 'streaming-signed-trailer' || mode === 'streaming-unsigned-trailer'
}
