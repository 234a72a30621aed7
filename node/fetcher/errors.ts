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

export function isFetchError (err: unknown): err is FetchError {
  return err instanceof FetchError
}
