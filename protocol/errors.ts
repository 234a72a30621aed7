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
  /** Removed by its ActivityPub owner's Delete: 410 on the public paths. */
  | 'gone'
  // the retrieve API
  | 'invalid_digest'
  | 'digest_mismatch'
  | 'invalid_access_key'
  | 'signature_mismatch'
  | 'request_time_skewed'
  | FetchErrorCode

/**
 * Why an outbound fetch (node/fetcher) was refused or failed. Refusals of the
 * guard (`bad_url` … `address_not_allowed`) happen before any byte is sent;
 * the others during or after the exchange. docs/fetcher.md lists them.
 */
export type FetchErrorCode =
  /** Not a URL at all, too long, or a redirect whose Location is not one. */
  | 'bad_url'
  /** Not http: or https:. */
  | 'scheme_not_allowed'
  /** The URL carries credentials (`user@`, `user:pass@`, a bare `@`). */
  | 'userinfo_not_allowed'
  /** The port is not in the allowed ports (80 and 443 unless configured). */
  | 'port_not_allowed'
  /** The host is, or resolves to, an address outside the public internet and outside the allow list. */
  | 'address_not_allowed'
  /** The host name does not resolve. */
  | 'dns_failed'
  /** Resolving, connecting and the TLS handshake took longer than the connect timeout. */
  | 'connect_timeout'
  /** The connection was refused, reset or the TLS handshake failed. */
  | 'connect_failed'
  /** The whole fetch, redirects and body included, took longer than the total timeout. */
  | 'timeout'
  /** The caller's signal aborted the fetch. */
  | 'aborted'
  /** More redirects than allowed (5). */
  | 'too_many_redirects'
  /** A status other than 200/203, or a redirect status without a usable Location. */
  | 'http_status'
  /** The response is not well-formed HTTP, is compressed, or the connection broke mid-body. */
  | 'bad_response'
  /** The body (announced or received) is larger than the size limit. */
  | 'too_large'
  /** The body is shorter or longer than its Content-Length. */
  | 'length_mismatch'
  /** The bytes are not an allowed media type (or, for JSON, the Content-Type is not JSON). */
  | 'media_type_not_allowed'
  /** A JSON document that does not parse. */
  | 'invalid_json'

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
