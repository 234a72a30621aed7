
import type { Logger } from '../log.ts'
import type { MediaStore } from '../store/media-store.ts'
import { removeRef } from '../store/refs.ts'
import type { CidString } from '../../protocol/cid.ts'

export const CACHE_HOLDER = 'swarm'

/** A blob read this recently may still be streaming to a client: it is not evicted yet. */
const IN_USE_MS = 30_000

/**
 * Blobs fetched from peers for gateway reads (`cache` references), kept up
 * to FDN_CACHE_SIZE bytes and evicted least recently read. Eviction drops
 * only the cache reference: a blob that an object, a pin or a replica also
 * holds stays. A blob read in the last IN_USE_MS is kept even past the
 * limit (the cache overshoots until it ages), so a read is never cut short.
 */
export class BlobCache {
  private readonly store: MediaStore
  private readonly maxBytes: number
  private readonly log: Logger
  /** CID → bytes and last use, in order of last use (oldest first). */
  private readonly entries = new Map<string, { size: number, used: number }>()
  private bytes = 0
  private evicting: Promise<void> | undefined
  private retry: NodeJS.Timeout | undefined
  private stopped = false

  constructor (store: MediaStore, maxBytes: number, log: Logger) {
    this.store = store
    this.maxBytes = maxBytes
    this.log = log
  }

  /** Rebuilds the list from the index (the order of use is not kept across restarts). */
  async load (): Promise<void> {
    for await (const [key] of this.store.db.entries('ref')) {
      if (!key.endsWith(`/cache:${CACHE_HOLDER}`)) continue
      const cid = key.slice(0, key.indexOf('/'))
      const blob = await this.store.db.get('blob', cid)
      if (blob != null) this.remember(cid, blob.size, 0)
    }
  }

  has (cid: string): boolean {
    return this.entries.has(cid)
  }

  touch (cid: string): void {
    const entry = this.entries.get(cid)
    if (entry == null) return
    this.entries.delete(cid)
    this.entries.set(cid, { size: entry.size, used: Date.now() })
  }

  /** A blob just fetched into the cache; evicts the least recently used past the limit. */
  added (cid: CidString, size: number): void {
    this.remember(cid, size)
    this.evicting ??= this.evict().finally(() => { this.evicting = undefined })
  }

  /**
   * Cached blobs that something now holds for good (an object, a replica, a
   * tenant's media) leave the cache: their cache reference goes, they stay.
   */
  async settle (cids: readonly string[]): Promise<void> {
    for (const cid of cids) {
      if (!this.entries.has(cid) || this.stopped) continue
      const refs = await this.store.db.refsOf(cid)
      if (!refs.some(ref => ref.kind !== 'cache')) continue
      this.forget(cid)
      await this.store.transact(async tx => { await removeRef(tx, cid as CidString, 'cache', CACHE_HOLDER) })
    }
  }

  /** The cache reference went (the blob was removed, or evicted). */
  forget (cid: string): void {
    const entry = this.entries.get(cid)
    if (entry == null) return
    this.entries.delete(cid)
    this.bytes -= entry.size
  }

  stats (): { blobs: number, bytes: number } {
    return { blobs: this.entries.size, bytes: this.bytes }
  }

  /** Stops evicting (the store is about to close) once a running eviction is done. */
  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.retry)
    await this.evicting
  }

  private remember (cid: string, size: number, used = Date.now()): void {
    this.forget(cid)
    this.entries.set(cid, { size, used })
    this.bytes += size
  }

  private async evict (): Promise<void> {
    while (this.bytes > this.maxBytes && !this.stopped) {
      const [oldest, entry] = this.entries.entries().next().value ?? []
      if (oldest == null || entry == null) return
      if (Date.now() - entry.used < IN_USE_MS) {
        // everything left was read lately: look again once the oldest has aged
        clearTimeout(this.retry)
        this.retry = setTimeout(() => { this.evicting ??= this.evict().finally(() => { this.evicting = undefined }) }, IN_USE_MS - (Date.now() - entry.used))
        this.retry.unref()
        return
      }
      this.forget(oldest)
      try {
        await this.store.transact(async tx => { await removeRef(tx, oldest as CidString, 'cache', CACHE_HOLDER) })
        this.log.debug({ cid: oldest }, 'evicted a cached blob')
      } catch (err) {
        this.log.warn({ err, cid: oldest }, 'could not evict a cached blob')
        return
      }
    }
  }
}

