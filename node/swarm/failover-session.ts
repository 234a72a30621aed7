import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromCID } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import type { SessionBlockstore } from '@helia/interface'
import { cidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { Helia } from './swarm-node.ts'

/** No block for this long while some are wanted: they are asked again in a new session. */
const MAX_STALL_MS = 10_000
/** Events this close together cause one new session, and new sessions are at least this far apart. */
const COALESCE_MS = 50
const MIN_RENEWAL_GAP_MS = 1_000
/** How often the wait for blocks is looked at. */
const TICK_MS = 250

export interface FailoverOptions {
  root: CID
  /** The peers the first session asks (the DHT is searched too). */
  providers: PeerId[]
  /** The peers a new session asks, looked up when it opens. */
  renewProviders: () => PeerId[]
  /** The caller's bound. */
  signal?: AbortSignal
  /** Fails once no block has arrived for this long while one is wanted (no holder found). */
  idleTimeoutMs?: number
}

/** A progress event of a session's get. */
interface SessionProgress {
  type: string
  detail?: unknown
}

interface Generation {
  session: SessionBlockstore
  /** Aborts the gets still waiting on this session when it is replaced. */
  replaced: AbortController
}

/**
 * A helia bitswap session for one blob that outlives its holders and lost
 * messages. helia's session keeps only the peer that answered a block first
 * (the others are evicted for good), never hears that a connection closed,
 * and waits for an answer to a want it could not deliver (bitswap logs the
 * failed write and carries on) until the fetch's deadline. So when a
 * connection closes or a want fails to go out while blocks are wanted, or no
 * block has come for a while, the session is replaced by a new one that asks
 * the peers connected now and the DHT again, and the gets waiting on the old
 * one ask the new one. A get that fails is asked again in a new session
 * too: after the first block (the root) until no block has come for the
 * idle bound; the root once, so a blob nobody has fails before any byte.
 */
export class FailoverSession {
  /** Aborted when the fetch gives up: the caller's signal, or no block within the idle bound. */
  readonly signal: AbortSignal
  private readonly helia: Helia
  private readonly options: FailoverOptions
  private readonly controller = new AbortController()
  private current: Generation
  private waiting = 0
  private lastProgress = Date.now()
  private renewedAt = Date.now()
  private started = false
  private pendingRenewal: NodeJS.Timeout | undefined
  private readonly timer: NodeJS.Timeout
  private readonly stallMs: number
  /** The peers blocks may have been asked of: a closed connection to anyone else loses nothing. */
  private readonly asked = new Set<string>()
  private readonly onCallerAbort = (): void => { this.controller.abort(this.options.signal?.reason) }
  private readonly onProgress = (event: SessionProgress): void => {
    if (event.type === 'bitswap:send-wantlist:error') this.lost()
    if (event.type === 'bitswap:found-provider') {
      // the peer the block is being asked of: a peer ID, or its CID
      const id = (event.detail as { provider?: { id?: unknown } } | undefined)?.provider?.id
      const cid = CID.asCID(id)
      if (cid != null) this.asked.add(peerIdFromCID(cid).toString())
      else if (id != null) this.asked.add(String(id))
    }
  }

  constructor (helia: Helia, options: FailoverOptions) {
    this.helia = helia
    this.options = options
    this.signal = this.controller.signal
    this.stallMs = Math.min(MAX_STALL_MS, Math.max(1000, (options.idleTimeoutMs ?? Infinity) / 3))
    if (options.signal?.aborted === true) this.controller.abort(options.signal.reason)
    options.signal?.addEventListener('abort', this.onCallerAbort, { once: true })
    this.current = this.open(options.providers)
    this.timer = setInterval(() => { this.watch() }, TICK_MS)
    this.timer.unref()
  }

  /** A block, checked against its CID by helia. */
  async get (cid: CID): Promise<Uint8Array> {
    if (this.waiting++ === 0) this.lastProgress = Date.now()
    try {
      for (let failures = 0; ;) {
        const generation = this.current
        try {
          const block = await sessionBlock(generation.session, cid, AbortSignal.any([this.signal, generation.replaced.signal]), this.onProgress)
          this.lastProgress = Date.now()
          this.started = true
          return block
        } catch (err) {
          if (this.signal.aborted) throw this.signal.reason
          if (generation !== this.current) continue
          // the session failed by itself: nobody in it has the block now. Before the root that is believed once a
          // second session says so too (right after a holder died or a copy moved, peers disagree for a moment)
          if (++failures > 1 && !this.started) throw err
          await sleep(Math.min(250 * 2 ** (failures - 1), 2000), undefined, { signal: this.signal }).catch(() => {})
          if (this.signal.aborted) throw this.signal.reason
          if (generation === this.current) this.renew()
        }
      }
    } finally {
      this.waiting--
    }
  }

  /** A connection to `peer` closed: what was asked or sent over it may be lost. */
  disconnected (peer: string): void {
    if (this.asked.has(peer)) this.lost()
  }

  /** A want may be lost (it could not be sent, or its connection closed): helia would wait for it until the deadline. */
  private lost (): void {
    if (this.waiting === 0 || this.signal.aborted || this.pendingRenewal != null) return
    this.pendingRenewal = setTimeout(() => {
      this.pendingRenewal = undefined
      if (this.waiting > 0 && !this.signal.aborted) this.renew()
    }, Math.max(COALESCE_MS, MIN_RENEWAL_GAP_MS - (Date.now() - this.renewedAt)))
  }

  close (): void {
    clearInterval(this.timer)
    clearTimeout(this.pendingRenewal)
    this.options.signal?.removeEventListener('abort', this.onCallerAbort)
    this.current.session.close()
  }

  private watch (): void {
    if (this.waiting === 0 || this.signal.aborted) return
    const idle = Date.now() - this.lastProgress
    if (this.options.idleTimeoutMs != null && idle > this.options.idleTimeoutMs) {
      this.controller.abort(new FdnError('fetch_timeout', `no peer sent a block of ${cidString(this.options.root)} for ${Math.round(idle / 1000)} s`))
    } else if (idle > this.stallMs && Date.now() - this.renewedAt > this.stallMs) {
      this.renew()
    }
  }

  private open (providers: PeerId[]): Generation {
    for (const peer of providers) this.asked.add(peer.toString())
    return {
      session: this.helia.blockstore.createSession(this.options.root, { signal: this.signal, ...(providers.length > 0 ? { providers: providers.map(peer => peer.toCID()) } : {}) }),
      replaced: new AbortController()
    }
  }

  private renew (): void {
    clearTimeout(this.pendingRenewal)
    this.pendingRenewal = undefined
    const old = this.current
    this.current = this.open(this.options.renewProviders())
    this.renewedAt = Date.now()
    old.replaced.abort()
    old.session.close()
  }
}

/** A block from a helia session, in one buffer. */
export async function sessionBlock (session: SessionBlockstore, cid: CID, signal: AbortSignal, onProgress?: (event: SessionProgress) => void): Promise<Uint8Array> {
  const chunks: Uint8Array[] = []
  for await (const chunk of session.get(cid, { signal, ...(onProgress != null ? { onProgress } : {}) })) chunks.push(chunk)
  return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)
}
