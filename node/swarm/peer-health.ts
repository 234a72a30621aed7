import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerHealth } from '../../protocol/admin-api.ts'
import type { Logger } from '../log.ts'
import type { SwarmNode } from './swarm-node.ts'

interface Seen {
  lastSeen: number | undefined
  latencyMs: number | undefined
  /** When the peer last stopped answering (or when watching began). */
  downSince: number
  healthy: boolean
}

export interface PeerHealthOptions {
  trusted: readonly string[]
  /** Unreachable this long: replaced as a holder. */
  graceMs: number
  intervalMs: number
  log: Logger
}

/**
 * Watches the trusted peers: pings each one every interval (dialling it if
 * needed, which is also how a restarted peer is reconnected). A peer that
 * answered the last ping is healthy; one that has not answered for the
 * grace period is unreachable; in between it is unknown.
 */
export class PeerHealthMonitor {
  private readonly node: SwarmNode
  private readonly options: PeerHealthOptions
  private readonly seen = new Map<string, Seen>()
  private timer: NodeJS.Timeout | undefined
  private round: Promise<void> | undefined
  readonly trusted: ReadonlySet<string>

  constructor (node: SwarmNode, options: PeerHealthOptions) {
    this.node = node
    this.options = options
    this.trusted = new Set(options.trusted.filter(peer => peer !== node.peerId.toString()))
    const now = Date.now()
    for (const peer of this.trusted) this.seen.set(peer, { lastSeen: undefined, latencyMs: undefined, downSince: now, healthy: false })
  }

  async start (): Promise<void> {
    for (const peer of this.trusted) await this.node.keep(peerIdFromString(peer))
    void this.check()
    this.timer = setInterval(() => { void this.check() }, this.options.intervalMs)
    this.timer.unref()
  }

  async stop (): Promise<void> {
    clearInterval(this.timer)
    await this.round
  }

  /** One round of pings; concurrent callers share it. */
  async check (): Promise<void> {
    this.round ??= (async () => {
      await Promise.all([...this.trusted].map(async peer => { await this.probe(peer) }))
    })().finally(() => { this.round = undefined })
    await this.round
  }

  private async probe (peer: string): Promise<void> {
    const state = this.seen.get(peer)
    if (state == null) return
    const id = peerIdFromString(peer)
    const limit = Math.max(2000, Math.min(this.options.intervalMs, 10_000))
    try {
      // a dial that has to find the peer first may outlive its signal: the round must not wait for it
      const latency = await Promise.race([
        this.node.ping(id, AbortSignal.timeout(limit)),
        new Promise<never>((_resolve, reject) => { setTimeout(() => { reject(new Error(`no answer in ${limit} ms`)) }, limit + 500).unref() })
      ])
      if (!state.healthy) this.options.log.info({ peer, latencyMs: latency }, 'trusted peer is reachable')
      state.healthy = true
      state.lastSeen = Date.now()
      state.latencyMs = latency
    } catch (err) {
      // a peer that is busy but still connected has not gone away (a killed one closes its connections)
      if (this.node.isConnected(id)) return
      if (state.healthy) {
        state.downSince = Date.now()
        this.options.log.warn({ peer, err: (err as Error).message }, 'trusted peer stopped answering')
      }
      state.healthy = false
    }
  }

  isTrusted (peer: PeerId | string): boolean {
    return this.trusted.has(peer.toString())
  }

  health (peer: string): PeerHealth {
    const state = this.seen.get(peer)
    if (state == null) return this.node.isConnected(peerIdFromString(peer)) ? 'healthy' : 'unknown'
    if (state.healthy) return 'healthy'
    return Date.now() - state.downSince >= this.options.graceMs ? 'unreachable' : 'unknown'
  }

  /** Trusted peers that answered the last ping: where new copies go. */
  healthyTrusted (): string[] {
    return [...this.trusted].filter(peer => this.seen.get(peer)?.healthy === true)
  }

  view (peer: string): { health: PeerHealth, lastSeen: string | null, latencyMs: number | null } {
    const state = this.seen.get(peer)
    return {
      health: this.health(peer),
      lastSeen: state?.lastSeen != null ? new Date(state.lastSeen).toISOString() : null,
      latencyMs: state?.latencyMs ?? null
    }
  }
}
