import { setTimeout as sleep } from 'node:timers/promises'
import { FetchError } from '../fetcher/errors.ts'
import type { RequestSigner, SafeFetcher } from '../fetcher/safe-fetcher.ts'
import type { Logger } from '../log.ts'

export type { RequestSigner }

export interface DeliveryOptions {
  fetcher: SafeFetcher
  /** Signs every request as the node's actor (HTTP Signatures, as Mastodon does). */
  sign: RequestSigner
  log: Logger
  /** Wait before the one retry. Default 1 s. */
  retryDelayMs?: number
}

const RETRY_DELAY_MS = 1000

/**
 * The node's signed ActivityPub traffic: activities POSTed to inboxes and
 * signed GETs of remote documents (actors, keys), both through the SSRF-safe
 * fetcher. A delivery is tried again once, a second later, when the inbox
 * could not be reached or answered 5xx; there is no queue, the caller knows
 * at once whether it arrived.
 */
export class Delivery {
  private readonly fetcher: SafeFetcher
  private readonly sign: RequestSigner
  private readonly log: Logger
  private readonly retryDelayMs: number

  constructor (options: DeliveryOptions) {
    this.fetcher = options.fetcher
    this.sign = options.sign
    this.log = options.log
    this.retryDelayMs = options.retryDelayMs ?? RETRY_DELAY_MS
  }

  /** POSTs `activity` to `inbox`; throws the `FetchError` of the last try. */
  async post (inbox: string, activity: object, signal?: AbortSignal): Promise<void> {
    const send = async (): Promise<void> => { await this.fetcher.postJson(inbox, activity, { sign: this.sign, signal }) }
    try {
      await send()
    } catch (err) {
      if (!(err instanceof FetchError) || !transient(err)) throw err
      this.log.warn({ inbox, err: err.message }, 'delivery failed, trying again once')
      // an abort meanwhile makes the second try fail at once, with the fetcher's `aborted`
      await sleep(this.retryDelayMs)
      await send()
    }
  }

  /** A signed GET of an ActivityPub document (servers in authorized-fetch mode answer only those). A `JsonFetch`: bound, so it can be handed on as it is. */
  readonly fetchJson = async (url: string, signal?: AbortSignal): Promise<unknown> => {
    return (await this.fetcher.fetchJson(url, { sign: this.sign, signal })).data
  }
}

/** Failures a second try may not meet: no connection, or the server's own error. */
function transient (err: FetchError): boolean {
  return err.code === 'connect_failed' || err.code === 'connect_timeout' || (err.code === 'http_status' && (err.status ?? 0) >= 500)
}
