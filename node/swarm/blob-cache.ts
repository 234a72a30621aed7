
import type { Logger } from '../log.ts'
import type { MediaStore } from '../store/media-store.ts'
import { removeRef } from '../store/refs.ts'
import type { CidString } from '../../protocol/cid.ts'

export const CACHE_HOLDER = 'swarm'

/**
 * Blobs fetched from peers for gateway reads (`cache` references), kept up
 * to FDN_CACHE_SIZE bytes and evicted least recently read. Eviction drops
 * only the cache reference: a blob that an object, a pin or a replica also
 * holds stays.
 */
export class BlobCache {
  private readonly store: MediaStore
  private readonly maxBytes: number
  private readonly log: Logger
  /** CID → bytes, in order of last use (oldest first). */
  private readonly entries = new Map<string, number>()
  private bytes = 0
  private evicting: Promise<void> | undefined

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
      if (blob != null) this.remember(cid, blob.size)
    }
  }

  has (cid: string): boolean {
    return this.entries.has(cid)
  }

  touch (cid: string): void {
    const size = this.entries.get(cid)
    if (size == null) return
    this.entries.delete(cid)
    this.entries.set(cid, size)
  }

  /** A blob just fetched into the cache; evicts the least recently used past the limit. */
  added (cid: CidString, size: number): void {
    this.remember(cid, size)
    this.evicting ??= this.evict().finally(() => { this.evicting = undefined })
  }

  /** The cache reference went (the blob was removed, or evicted). */
  forget (cid: string): void {
    const size = this.entries.get(cid)
    if (size == null) return
    this.entries.delete(cid)
    this.bytes -= size
  }

  stats (): { blobs: number, bytes: number } {
    return { blobs: this.entries.size, bytes: this.bytes }
  }

  async settled (): Promise<void> {
    await this.evicting
  }

  private remember (cid: string, size: number): void {
    this.forget(cid)
    this.entries.set(cid, size)
    this.bytes += size
  }

  private async evict (): Promise<void> {
    while (this.bytes > this.maxBytes) {
      const oldest = this.entries.keys().next().value
      if (oldest == null) return
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

