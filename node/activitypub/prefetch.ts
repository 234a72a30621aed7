/**
 * Prefetch of the media of posts that relays deliver: a bounded queue between
 * the inbox and the retrieve pipeline. The inbox offers a post and returns at
 * once; downloads start later, within four limits an admin sets:
 * - a type filter on the declared media type (the download checks the bytes);
 * - a daily byte budget (UTC days), after which attachments are skipped (a
 *   budget of 0 skips them all);
 * - a rate of download starts per minute (a token bucket: queued attachments
 *   wait for a token, they are not dropped);
 * - a queue length (attachments beyond it are dropped, as a relay can send far
 *   more than a node should fetch) and a number of parallel downloads.
 * The download itself (URL cache, store, swarm, then origin, digest check and
 * owner record) is injected.
 */
import type { Logger } from '../log.ts'
import { mediaTypeEssence, topLevelOf } from '../../protocol/ap-attachments.ts'
import type { Attachment, RelayedPost } from '../../protocol/ap-attachments.ts'
import type { PrefetchCounts } from '../../protocol/admin-api.ts'

export type { PrefetchCounts }

export interface PrefetchLimits {
  /** The most bytes to take: min(maxSize, what is left of the day's budget). */
  maxSize: number
  /** Aborted by `stop()`. */
  signal: AbortSignal
}

export type PrefetchOwner = Pick<RelayedPost, 'actor' | 'status'>

export type PrefetchDownload = (attachment: Attachment, owner: PrefetchOwner, limits: PrefetchLimits) => Promise<{ size: number }>

export interface PrefetcherOptions {
  download: PrefetchDownload
  /** Largest attachment fetched, in bytes. */
  maxSize: number
  /** Allowed declared types: top-level (`image`) or full (`video/mp4`). An attachment that declares none is queued. */
  types: readonly string[]
  /** Bytes fetched per UTC day; 0 turns prefetching off (as FDN_PREFETCH_BUDGET=0 does). */
  dailyBudget: number
  /** Download starts per minute; 0 = no rate limit. */
  ratePerMinute: number
  /** Attachments waiting at most (default 1000). */
  queueMax?: number
  /** Parallel downloads (default 2). */
  concurrency?: number
  log: Logger
  /** Milliseconds since the epoch (default Date.now). */
  now?: () => number
}

interface Job {
  attachment: Attachment
  owner: PrefetchOwner
}

const DAY_MS = 86_400_000
const MINUTE_MS = 60_000

export class Prefetcher {
  private readonly download: PrefetchDownload
  private readonly maxSize: number
  private readonly types: ReadonlySet<string>
  private readonly dailyBudget: number
  private readonly queueMax: number
  private readonly concurrency: number
  private readonly log: Logger
  private readonly now: () => number
  private readonly bucket: TokenBucket | undefined
  private readonly counts: PrefetchCounts = { offered: 0, queued: 0, fetched: 0, bytes: 0, skipped: 0, failed: 0, dropped: 0 }
  private readonly queue: Job[] = []
  /** URLs queued or being fetched: an attachment offered again meanwhile is fetched once. */
  private readonly pending = new Set<string>()
  private readonly running = new Set<Promise<void>>()
  private readonly abort = new AbortController()
  private readonly idlers: Array<() => void> = []
  /** The UTC day (days since the epoch) `spentToday` counts. */
  private day: number
  private spentToday = 0
  private wake: NodeJS.Timeout | undefined
  /** Drops not yet logged, and when the last drop message went out. */
  private unloggedDrops = 0
  private lastDropLog = -Infinity
  private stopped = false

  constructor (options: PrefetcherOptions) {
    this.download = options.download
    this.maxSize = options.maxSize
    this.types = new Set(options.types.map(mediaTypeEssence))
    this.dailyBudget = options.dailyBudget
    this.queueMax = options.queueMax ?? 1000
    this.concurrency = Math.max(1, options.concurrency ?? 2)
    this.log = options.log
    this.now = options.now ?? Date.now
    this.day = dayOf(this.now())
    this.bucket = options.ratePerMinute > 0 ? new TokenBucket(options.ratePerMinute, this.now()) : undefined
  }

  /**
   * Queues the post's attachments that pass the type filter and returns how
   * many were queued. Never blocks: downloads start after it returns.
   */
  offer (post: RelayedPost): number {
    if (this.stopped) return 0
    const owner = { actor: post.actor, status: post.status }
    let queued = 0
    for (const attachment of post.attachments) {
      this.counts.offered++
      if (!this.allows(attachment) || this.pending.has(attachment.url) || this.budgetLeft() === 0) {
        this.counts.skipped++
      } else if (this.queue.length >= this.queueMax) {
        this.dropped()
      } else {
        this.queue.push({ attachment, owner })
        this.pending.add(attachment.url)
        this.counts.queued++
        queued++
      }
    }
    if (queued > 0) queueMicrotask(() => { this.pump() })
    return queued
  }

  counters (): PrefetchCounts {
    return { ...this.counts }
  }

  /** Resolves when nothing is queued or being fetched. */
  async idle (): Promise<void> {
    if (this.isIdle()) return
    await new Promise<void>(resolve => { this.idlers.push(resolve) })
  }

  /** Forgets the queue, aborts the downloads under way and waits for them to settle. */
  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.wake)
    this.wake = undefined
    for (const job of this.queue) this.pending.delete(job.attachment.url)
    this.queue.length = 0
    this.abort.abort()
    await Promise.all(this.running)
    this.settleIdlers()
  }

  /** Starts what the limits allow now; when the rate holds the next start back, wakes up for it. */
  private pump (): void {
    while (!this.stopped && this.running.size < this.concurrency && this.queue.length > 0) {
      const left = this.budgetLeft()
      if (left === 0) {
        this.skipHead()
        continue
      }
      const wait = this.bucket?.take(this.now()) ?? 0
      if (wait > 0) {
        this.wake ??= setTimeout(() => {
          this.wake = undefined
          this.pump()
        }, wait)
        return
      }
      const job = this.queue.shift()
      if (job !== undefined) this.start(job, Math.min(this.maxSize, left))
    }
    this.settleIdlers()
  }

  private start (job: Job, maxSize: number): void {
    const run = this.fetch(job, maxSize).finally(() => {
      this.running.delete(run)
      this.pending.delete(job.attachment.url)
      this.pump()
    })
    this.running.add(run)
  }

  private async fetch (job: Job, maxSize: number): Promise<void> {
    const { url } = job.attachment
    try {
      const { size } = await this.download(job.attachment, job.owner, { maxSize, signal: this.abort.signal })
      this.counts.fetched++
      this.counts.bytes += size
      this.rollDay()
      this.spentToday += size
      this.log.debug({ url, size, status: job.owner.status }, 'prefetched an attachment')
    } catch (err) {
      this.counts.failed++
      const code = codeOf(err)
      // Origins that are down, refuse or send too much are routine; an error without a code is not.
      if (code !== undefined) this.log.debug({ url, code }, 'prefetch failed')
      else this.log.info({ url, err }, 'prefetch failed')
    }
  }

  /** Declared type allowed, or none declared (the download checks the real bytes). */
  private allows (attachment: Attachment): boolean {
    if (attachment.mediaType === undefined) return true
    const essence = mediaTypeEssence(attachment.mediaType)
    return this.types.has(essence) || this.types.has(topLevelOf(essence))
  }

  /** Bytes the day's budget still allows. */
  private budgetLeft (): number {
    this.rollDay()
    return Math.max(0, this.dailyBudget - this.spentToday)
  }

  private rollDay (): void {
    const today = dayOf(this.now())
    if (today === this.day) return
    this.day = today
    this.spentToday = 0
  }

  private skipHead (): void {
    const job = this.queue.shift()
    if (job === undefined) return
    this.pending.delete(job.attachment.url)
    this.counts.skipped++
  }

  /** Counts a drop; says so at most once a minute, with the drops since the last message. */
  private dropped (): void {
    this.counts.dropped++
    this.unloggedDrops++
    const now = this.now()
    if (now - this.lastDropLog < MINUTE_MS) return
    this.log.warn({ dropped: this.unloggedDrops, queueMax: this.queueMax }, 'prefetch queue full: attachments dropped')
    this.lastDropLog = now
    this.unloggedDrops = 0
  }

  private isIdle (): boolean {
    return this.queue.length === 0 && this.running.size === 0
  }

  private settleIdlers (): void {
    if (!this.isIdle()) return
    for (const resolve of this.idlers.splice(0)) resolve()
  }
}

/**
 * `ratePerMinute` starts a minute, with bursts of up to as many. Counted in
 * token-milliseconds (a token is MINUTE_MS of them, a millisecond adds
 * `ratePerMinute`) so that integer clocks give exact, drift-free waits.
 */
class TokenBucket {
  private readonly rate: number
  private readonly capacity: number
  private level: number
  private last: number

  constructor (ratePerMinute: number, now: number) {
    this.rate = ratePerMinute
    this.capacity = ratePerMinute * MINUTE_MS
    this.level = this.capacity
    this.last = now
  }

  /** Takes a token and returns 0, or returns the milliseconds until one is there. */
  take (now: number): number {
    // A clock set back adds nothing, and does not hold the bucket back either.
    this.level = Math.min(this.capacity, this.level + Math.max(0, now - this.last) * this.rate)
    this.last = now
    if (this.level >= MINUTE_MS) {
      this.level -= MINUTE_MS
      return 0
    }
    return Math.ceil((MINUTE_MS - this.level) / this.rate)
  }
}

function dayOf (time: number): number {
  return Math.floor(time / DAY_MS)
}

function codeOf (err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined
  return typeof err.code === 'string' ? err.code : undefined
}
