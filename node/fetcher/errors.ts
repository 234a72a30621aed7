/**
 * Why an outbound fetch was refused or failed. Refusals of the guard
 * (`scheme_not_allowed` … `address_not_allowed`) happen before any byte is
 * sent; the others during or after the exchange. docs/fetcher.md lists them.
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

const MAX_URL_IN_MESSAGE = 200

/** Shortens a URL for a message; URLs are attacker-chosen and may be huge. */
export function urlForMessage (url: string): string {
  return url.length <= MAX_URL_IN_MESSAGE ? url : `${url.slice(0, MAX_URL_IN_MESSAGE)}…`
}

export class FetchError extends Error {
  readonly code: FetchErrorCode
  /** The URL refused or that failed (after redirects: the hop concerned). */
  readonly url: string
  /** The message without the URL. */
  readonly reason: string
  /** The HTTP status, for `http_status`. */
  readonly status: number | undefined
  override readonly cause?: unknown

  constructor (code: FetchErrorCode, url: string, reason: string, options?: { status?: number, cause?: unknown }) {
    super(`cannot fetch ${urlForMessage(url)}: ${reason}`)
    this.name = 'FetchError'
    this.code = code
    this.url = url
    this.reason = reason
    this.status = options?.status
    this.cause = options?.cause
  }
}

export function isFetchError (err: unknown): err is FetchError {
  return err instanceof FetchError
}
