/**
 * Error codes shared by every surface. Each surface maps a code to its own
 * protocol (HTTP status and JSON body, S3 XML, CLI exit) in one place.
 */
export type ErrorCode =
  | 'invalid_cid'
  | 'invalid_path'
  | 'invalid_request'
  | 'invalid_range'
  | 'not_found'
  | 'no_such_bucket'
  | 'no_such_key'
  | 'no_such_upload'
  | 'key_too_long'
  | 'quota_exceeded'
  | 'conflict'
  | 'precondition_failed'
  | 'not_modified'
  | 'invalid_part'
  | 'invalid_part_order'
  | 'entity_too_small'
  | 'forbidden'
  | 'unauthorized'
  | 'too_large'
  | 'aborted'
  | 'insufficient_storage'
  | 'corrupt_block'
  | 'unavailable'
  | 'fetch_timeout'
  | 'internal'

export class FdnError extends Error {
  readonly code: ErrorCode
  override readonly cause?: unknown

  constructor (code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message)
    this.name = 'FdnError'
    this.code = code
    this.cause = options?.cause
  }
}


/** The JSON error body of the gateway, the admin API and the retrieve API. */
export interface ErrorBody {
  error: { code: ErrorCode, message: string }
}
