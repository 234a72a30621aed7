import type { FetchErrorCode } from '../../protocol/errors.ts'

export type { FetchErrorCode }

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

/**
 * The message for someone outside the node (a tenant of the retrieve API):
 * what the node's resolver and address policy said about a host (what a name
 * resolves to, that an address is loopback or private) stays in the node, so
 * its internal names cannot be mapped from outside. Other failures say why.
 */
export function publicMessage (err: FetchError): string {
  // the URL a redirect came from is the caller's own, or a public server's
  const redirect = / \(redirected from [^()]*\)$/.exec(err.reason)?.[0] ?? ''
  if (err.code === 'address_not_allowed') return `cannot fetch ${urlForMessage(err.url)}: its host is not at a public address (refused unless FDN_FETCH_ALLOW covers it)${redirect}`
  if (err.code === 'dns_failed') return `cannot fetch ${urlForMessage(err.url)}: its host does not resolve to a usable address${redirect}`
  return err.message
}

export function isFetchError (err: unknown): err is FetchError {
  return err instanceof FetchError
}
