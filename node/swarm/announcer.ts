import { CID } from 'multiformats/cid'
import type { Logger } from '../log.ts'
import type { MediaStore } from '../store/media-store.ts'
import type { SwarmNode } from './swarm-node.ts'

/** A provider record lives 48 h (kad-dht's default validity); it is renewed well before. */
export const REPROVIDE_AFTER_MS = 20 * 60 * 60 * 1000
/** How often the schedule is walked for records due. */
const SWEEP_INTERVAL_MS = 60 * 60 * 1000
/** Provides in flight at once: each is a DHT lookup and ~20 ADD_PROVIDER messages. */
const CONCURRENCY = 4

/**
 * Announces in the DHT every public blob this node holds (for itself, for a
 * peer, or as cache; never a private blob, nor parts of unfinished uploads,
 * which are private), and renews each
 * announcement before it expires, on fdn's own schedule: when it was last
 * provided is kept in the index (`provided` table), so a restart renews
 * only what is due, and the sweep is a paced walk that never holds more
 * than CONCURRENCY roots in memory. kad-dht's own re-provider is configured
 * to renew nothing (swarm-node.ts): its queue blocks the event loop above
 * ~16k roots (docs/scale.md). A blob that goes has its own provider record
 * removed, so nothing renews it.
 */
export class Announcer {
  private readonly node: SwarmNode
  private readonly store: MediaStore
  private readonly log: Logger
  private readonly queue: string[] = []
  private readonly queued = new Set<string>()
  private active = 0
  private idleWaiters: Array<() => void> = []
  private timer: NodeJS.Timeout | undefined
  private sweeping: Promise<void> | undefined
  private stopped = false
  /** Aborts the provides in flight at shutdown (a lone node's would wait out their timeout). */
  private readonly shutdown = new AbortController()

  constructor (node: SwarmNode, store: MediaStore, log: Logger) {
    this.node = node
    this.store = store
    this.log = log
  }

  start (): void {
    this.store.onChange(changes => {
      for (const cid of changes.touched) this.announce(cid)
      for (const cid of changes.removed) void this.withdraw(cid)
    })
    this.timer = setInterval(() => { void this.sweep() }, SWEEP_INTERVAL_MS)
    this.timer.unref()
    // blobs stored while the node was down, or whose records are due
    void this.sweep()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.shutdown.abort()
    clearInterval(this.timer)
    this.queue.length = 0
    this.queued.clear()
    await this.sweeping
    await this.idle()
  }

  /** Provides `cid` unless it was provided less than REPROVIDE_AFTER_MS ago. */
  announce (cid: string): void {
    if (this.stopped || this.queued.has(cid)) return
    this.queued.add(cid)
    this.queue.push(cid)
    this.pump()
  }

  private pump (): void {
    while (this.active < CONCURRENCY && this.queue.length > 0) {
      const cid = this.queue.shift() as string
      this.active++
      void this.provide(cid).finally(() => {
        this.queued.delete(cid)
        this.active--
        if (this.active === 0 && this.queue.length === 0) for (const wake of this.idleWaiters.splice(0)) wake()
        this.pump()
      })
    }
  }

  private async idle (): Promise<void> {
    if (this.active === 0 && this.queue.length === 0) return
    await new Promise<void>(resolve => { this.idleWaiters.push(resolve) })
  }

  private async provide (cid: string): Promise<void> {
    const blob = await this.store.db.get('blob', cid)
    if (blob == null) return
    // a provider record tells the whole swarm that a blob exists and who has it: private blobs get none
    if (blob.publicRefs === 0) {
      // most private blobs were never announced: no index transaction on every private upload
      if (await this.store.db.get('provided', cid) != null) await this.withdraw(cid)
      return
    }
    const last = await this.store.db.get('provided', cid)
    if (last != null && Date.now() - last < REPROVIDE_AFTER_MS) return
    const root = CID.parse(cid)
    try {
      await this.node.provide(root, AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(60_000)]))
      await this.store.transact(async tx => {
        if (await tx.get('blob', cid) != null) tx.put('provided', cid, Date.now())
      })
    } catch (err) {
      // retried at the next sweep (the blob has no `provided` time yet, or an old one)
      this.log.debug({ err: (err as Error).message, cid }, 'could not provide a blob to the DHT yet')
    }
  }

  /** Stops announcing a blob that went, or that is no longer public (its own record is removed; peers' copies of it expire). */
  private async withdraw (cid: string): Promise<void> {
    let withdrawn = false
    await this.store.transact(async tx => {
      const blob = await tx.get('blob', cid)
      if (blob != null && blob.publicRefs > 0) return
      const provided = await tx.get('provided', cid) != null
      if (provided) tx.del('provided', cid)
      withdrawn = provided || blob == null
    })
    if (withdrawn) await this.node.cancelProvide(CID.parse(cid)).catch(() => {})
  }

  /** Walks the blobs and queues those never provided or due, waiting for room so the queue stays short. */
  private async sweep (): Promise<void> {
    this.sweeping ??= (async () => {
      for await (const [cid] of this.store.db.entries('blob')) {
        if (this.stopped) return
        const last = await this.store.db.get('provided', cid)
        if (last != null && Date.now() - last < REPROVIDE_AFTER_MS) continue
        this.announce(cid)
        if (this.queue.length >= CONCURRENCY * 4) await this.idle()
      }
    })().catch((err: unknown) => { this.log.warn({ err }, 'provide sweep failed') })
      .finally(() => { this.sweeping = undefined })
    await this.sweeping
  }
}
