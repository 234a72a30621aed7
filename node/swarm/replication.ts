import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import type { CidString } from '../../protocol/cid.ts'
import type { ReplicationCounts } from '../../protocol/admin-api.ts'
import { FdnError } from '../../protocol/errors.ts'
import { rankPeers } from '../../protocol/placement.ts'
import { signRecord, verifyRecord } from '../../protocol/swarm-records.ts'
import type { Attestation, Signed } from '../../protocol/swarm-records.ts'
import { decodeReplicateRequest, decodeReplicateResponse, MAX_CHECK_CIDS, REPLICATE_PROTOCOL } from '../../protocol/swarm-wire.ts'
import type { RefusalCode, ReplicateRequest, ReplicateResponse } from '../../protocol/swarm-wire.ts'
import type { Logger } from '../log.ts'
import type { Tx } from '../store/index-db.ts'
import type { MediaStore } from '../store/media-store.ts'
import { ORIGIN_KINDS, refTenant } from '../store/records.ts'
import type { PlacementRecord } from '../store/records.ts'
import { addRef, removeRef } from '../store/refs.ts'
import type { NewBlob } from '../store/refs.ts'
import type { PeerHealthMonitor } from './peer-health.ts'
import type { ServePolicy } from './serve-policy.ts'
import type { SwarmFetcher } from './swarm-fetch.ts'
import type { SwarmNode } from './swarm-node.ts'
import { ask, serve } from './wire.ts'

export interface ReplicatorOptions {
  node: SwarmNode
  store: MediaStore
  fetcher: SwarmFetcher
  health: PeerHealthMonitor
  policy: ServePolicy
  privateKey: PrivateKey
  /** Copies wanted for an operator's pin (tenants have their own `replicas`). */
  defaultReplicas: number
  /** Bytes one trusted peer may make this node hold. */
  peerQuota: number
  maxObjectSize: number
  /** How long a holder may take to fetch and acknowledge a copy. */
  holdTimeoutMs: number
  repairIntervalMs: number
  /** Re-replications started per second at most. */
  repairRate: number
  log: Logger
}

/** Blobs reconciled at once: each waits mostly on a peer (it fetches, then answers), so many overlap. */
const CONCURRENCY = 32
/** Times a hold lost in transport (a reset stream) is asked again of the same peer before the next peer is asked. */
const TRANSPORT_RETRIES = 3
/** How soon it is asked again. */
const TRANSPORT_RETRY_MS = 1_000
/** Holder-side fetches for peers at once: more are answered `busy`, and the origin retries at its next round. */
const MAX_HOLD_FETCHES = 64

type Refusal = Error & { refusal: RefusalCode }

/** A peer answered a hold or a release with a refusal (as opposed to the request failing on the way). */
class PeerRefused extends Error {}

function refusal (code: RefusalCode, message: string): Refusal {
  return Object.assign(new Error(message), { refusal: code })
}

/**
 * Keeps `replicas` copies of every blob this node originated (objects,
 * pins, manifests) on trusted peers, and holds copies for them.
 *
 * Origin side: after every change to a blob's references the blob is
 * reconciled: holders are asked, in rendezvous
 * order over the healthy trusted peers, to hold it (a signed attestation),
 * until `replicas - 1` acknowledged; a holder is recorded only after its
 * acknowledgement. When the last reference goes, holders get a signed
 * release. Each repair round asks the holders which copies they still have
 * and replaces those lost or unreachable past the grace period, at most
 * `repairRate` per second.
 *
 * Holder side: a hold is accepted only from a trusted peer, for an
 * attestation signed by a trusted origin, within the origin's quota; the
 * blob is fetched from the asking peer, verified against the CID and the
 * attestation, and kept as a `replica` reference. A holder also stands in
 * for an origin that is unreachable past the grace period: the first
 * healthy holder in placement order brings the copies back to `replicas`.
 */
export class Replicator {
  private readonly options: ReplicatorOptions
  private readonly self: string
  private readonly queue = new Set<string>()
  private readonly running = new Map<string, Promise<void>>()
  private workers = 0
  private timer: NodeJS.Timeout | undefined
  private round: Promise<void> | undefined
  private stopped = false
  /** CID → holds lost in transport in a row: the same peer is asked again before the next one. */
  private readonly transportFailures = new Map<string, number>()
  private holdFetches = 0
  private readonly accepting = new Map<string, Promise<ReplicateResponse>>()
  /** Aborts the requests and fetches in flight at shutdown, so stopping never waits out their timeouts. */
  private readonly shutdown = new AbortController()
  private readonly counts = new Map<string, keyof ReplicationCounts>()
  /** Tokens for starting re-replications, refilled at `repairRate` per second. */
  private tokens: number
  private lastRefill = Date.now()
  /** Blobs whose reconcile threw (a full disk, a closed index): the next repair round tries them again. */
  private readonly failed = new Set<string>()
  /** Where the next `check` of each holder starts in its list of copies. */
  private readonly checkCursor = new Map<string, number>()

  constructor (options: ReplicatorOptions) {
    this.options = options
    this.self = options.node.peerId.toString()
    this.tokens = options.repairRate
  }

  async start (): Promise<void> {
    await serve(this.options.node, REPLICATE_PROTOCOL, async (bytes, peer) => await this.answer(bytes, peer), { maxInboundStreams: 256, readTimeoutMs: 10_000 })
    this.options.store.onChange(changes => {
      for (const cid of changes.touched) this.enqueue(cid)
      for (const cid of changes.removed) this.enqueue(cid)
    })
    for await (const [cid, placement] of this.options.store.db.entries('placement')) this.count(cid, placement)
    this.timer = setInterval(() => { void this.repairRound() }, this.options.repairIntervalMs)
    this.timer.unref()
    // blobs stored while the node was down (or before the swarm existed) are replicated now
    void this.sweepOrigins()
  }

  async stop (): Promise<void> {
    this.stopped = true
    this.shutdown.abort()
    clearInterval(this.timer)
    await this.round
    await Promise.allSettled(this.running.values())
  }

  counters (): ReplicationCounts {
    const counts: ReplicationCounts = { replicated: 0, 'under-replicated': 0, pending: 0 }
    for (const state of this.counts.values()) counts[state]++
    counts.pending += [...this.queue].filter(cid => !this.counts.has(cid)).length
    return counts
  }

  enqueue (cid: string): void {
    if (this.stopped) return
    this.queue.add(cid)
    if (!this.counts.has(cid)) this.counts.set(cid, 'pending')
    this.pump()
  }

  private pump (): void {
    for (const cid of this.queue) {
      if (this.workers >= CONCURRENCY) return
      // queued again while its reconcile runs: it waits for that one, and the blobs behind it do not
      if (this.running.has(cid)) continue
      this.queue.delete(cid)
      this.workers++
      const work = this.reconcile(cid)
        .catch((err: unknown) => {
          this.failed.add(cid)
          this.options.log.warn({ err, cid }, 'replication failed; retried at the next repair round')
        })
        .finally(() => {
          this.workers--
          this.running.delete(cid)
          this.pump()
        })
      this.running.set(cid, work)
    }
  }

  private count (cid: string, placement: PlacementRecord | undefined): void {
    if (placement == null || placement.want === 0) {
      this.counts.delete(cid)
      return
    }
    const copies = placement.holders.length + 1
    this.counts.set(cid, copies >= placement.want ? 'replicated' : placement.tried ? 'under-replicated' : 'pending')
  }

  /** Brings one blob's copies to what its references want. */
  private async reconcile (cid: string): Promise<void> {
    const { store } = this.options
    const [blob, placement] = await Promise.all([store.db.get('blob', cid), store.db.get('placement', cid)])
    const want = blob == null ? 0 : await this.wantedCopies(cid)
    if (want === 0) {
      // no longer ours: holders may drop their copies; those that could not be told are told at the next rounds
      if (placement != null) {
        const missed = await this.releaseAll(cid, placement)
        await store.transact(async tx => {
          if (await tx.get('blob', cid) != null) return
          if (missed.length === 0) tx.del('placement', cid)
          else tx.put('placement', cid, { want: 0, holders: missed, tried: true, lastError: 'release not delivered yet' })
        })
      }
      this.count(cid, undefined)
      return
    }
    if (this.options.health.trusted.size === 0) {
      // a node without trusted peers cannot place copies: counted, not written (placed once peers are configured)
      this.counts.set(cid, want > 1 ? 'under-replicated' : 'replicated')
      return
    }
    const holders = [...(placement?.holders ?? [])]
    /** Peers asked to hold a copy this time: any of them may hold one now, acknowledged or not. */
    const asked = new Set<string>()
    let lastError: string | undefined
    // holders unreachable past the grace period are replaced
    const live = holders.filter(holder => this.options.health.health(holder.peer) !== 'unreachable')
    if (live.length < want - 1) {
      const candidates = rankPeers(cid, this.options.health.healthyTrusted()).filter(peer => !live.some(holder => holder.peer === peer))
      const attestation = await this.attest(cid, want)
      for (const peer of candidates) {
        if (live.length >= want - 1) break
        if (live.length < holders.length && !this.takeToken()) {
          lastError = 'repair rate limit reached: continued at the next round'
          break
        }
        try {
          asked.add(peer)
          await this.hold(peer, attestation)
          live.push({ peer, since: new Date().toISOString() })
        } catch (err) {
          // the answer may be what was lost (a closed stream), not the copy: the same hold again joins the
          // peer's fetch if it is still running, or is acknowledged at once if the copy is there
          if (!(err instanceof PeerRefused) && await this.hold(peer, attestation).then(() => true, () => false)) {
            live.push({ peer, since: new Date().toISOString() })
            continue
          }
          lastError = `${peer}: ${(err as Error).message}`
          this.options.log.warn({ cid, peer, err: (err as Error).message }, 'a peer did not take a copy')
          if (err instanceof PeerRefused) continue
          // the peer may have the copy all the same, or be fetching it still: asking the next peer at once could
          // make a copy too many, so this peer is asked again shortly (first in placement order), a few times
          if (await this.check(peer, [cid]).then(found => found.has(cid), () => false)) {
            live.push({ peer, since: new Date().toISOString() })
            continue
          }
          const failures = (this.transportFailures.get(cid) ?? 0) + 1
          if (failures >= TRANSPORT_RETRIES) continue
          this.transportFailures.set(cid, failures)
          setTimeout(() => { this.enqueue(cid) }, TRANSPORT_RETRY_MS).unref()
          break
        }
      }
      if (candidates.length === 0) lastError ??= 'no healthy trusted peer to hold a copy'
    } else if (live.length > want - 1) {
      // fewer copies wanted than held (the tenant's replicas went down): the lowest-ranked go
      const order = rankPeers(cid, live.map(holder => holder.peer))
      for (const extra of order.slice(want - 1)) {
        await this.release(extra, cid).catch(() => {})
        live.splice(live.findIndex(holder => holder.peer === extra), 1)
      }
    }
    if (live.length >= want - 1) this.transportFailures.delete(cid)
    const next: PlacementRecord = { want, holders: live, tried: true, ...(lastError != null && live.length < want - 1 ? { lastError } : {}) }
    if (placement != null && JSON.stringify(placement) === JSON.stringify(next)) {
      this.count(cid, next)
      return
    }
    let gone = false
    await store.transact(async tx => {
      if (await tx.get('blob', cid) != null) {
        tx.put('placement', cid, next)
        return
      }
      // the blob went while peers were asked: every peer that may have taken a copy is told to drop it, at the
      // next reconcile and, should that miss one, at the repair rounds after (a placement with want 0)
      gone = true
      const told = [...live, ...[...asked].filter(peer => !live.some(holder => holder.peer === peer)).map(peer => ({ peer, since: new Date().toISOString() }))]
      if (told.length > 0) tx.put('placement', cid, { want: 0, holders: told, tried: true, lastError: 'release not delivered yet' })
    })
    this.count(cid, gone ? undefined : next)
    if (gone) this.enqueue(cid)
  }

  /** Copies wanted: the largest `replicas` among the tenants (or pins) whose references make this node the blob's origin. */
  private async wantedCopies (cid: string): Promise<number> {
    let want = 0
    const refs = await this.options.store.db.refsOf(cid)
    for (const ref of refs) {
      if (!ORIGIN_KINDS.includes(ref.kind)) continue
      const tenant = refTenant(ref)
      want = Math.max(want, tenant == null ? this.options.defaultReplicas : (await this.options.store.db.get('tenant', tenant))?.replicas ?? this.options.defaultReplicas)
    }
    return want
  }

  private async attest (cid: string, replicas: number): Promise<Signed<Attestation>> {
    const blob = await this.options.store.db.get('blob', cid)
    if (blob == null) throw new FdnError('not_found', `${cid} is no longer held`)
    const manifest = await this.manifestOf(cid)
    return await signRecord(this.options.privateKey, {
      type: 'fdn/attestation',
      v: 1,
      cid: cid as CidString,
      size: blob.size,
      sha256: blob.sha256,
      mediaType: blob.mediaType,
      public: blob.publicRefs > 0,
      replicas,
      ...(manifest != null ? { kind: 'manifest' as const, tenant: manifest.tenant, version: manifest.version } : { kind: 'blob' as const }),
      origin: this.self,
      time: new Date().toISOString()
    })
  }

  /** The tenant and version when `cid` is one of this node's manifests. */
  private async manifestOf (cid: string): Promise<{ tenant: string, version: number } | undefined> {
    for await (const [key, pointer] of this.options.store.db.entries('manifest', { gte: `${this.self}/`, lt: `${this.self}/\xff` })) {
      if (pointer.cid === cid) return { tenant: key.slice(this.self.length + 1), version: pointer.version }
    }
    return undefined
  }

  /** Asks a peer to hold a copy; resolves once it acknowledged. */
  private async hold (peer: string, attestation: Signed<Attestation>): Promise<void> {
    this.options.policy.grant(attestation.payload.cid, peer, this.options.holdTimeoutMs)
    const answer = await ask(this.options.node, peerIdFromString(peer), REPLICATE_PROTOCOL, { op: 'hold', attestation }, decodeReplicateResponse, this.within(this.options.holdTimeoutMs))
    if (!answer.ok) throw new PeerRefused(`refused (${answer.code}): ${answer.message}`)
  }

  private async release (peer: string, cid: string): Promise<void> {
    const release = await signRecord(this.options.privateKey, { type: 'fdn/release', v: 1, cid: cid as CidString, origin: this.self, time: new Date().toISOString() })
    const answer = await ask(this.options.node, peerIdFromString(peer), REPLICATE_PROTOCOL, { op: 'release', release }, decodeReplicateResponse, this.within(10_000))
    if (!answer.ok) throw new PeerRefused(`refused (${answer.code}): ${answer.message}`)
  }

  /**
   * Tells every holder to drop its copy; returns the holders that could not
   * be reached (a refusal is an answer: that holder is not asked again, nor
   * is a peer no longer trusted).
   */
  private async releaseAll (cid: string, placement: PlacementRecord): Promise<Array<{ peer: string, since: string }>> {
    const missed: Array<{ peer: string, since: string }> = []
    await Promise.all(placement.holders.map(async holder => {
      await this.release(holder.peer, cid).catch((err: unknown) => {
        this.options.log.info({ cid, peer: holder.peer, err: (err as Error).message }, 'could not tell a holder to drop its copy')
        if (!(err instanceof PeerRefused) && this.options.health.isTrusted(holder.peer)) missed.push(holder)
      })
    }))
    return missed
  }

  /** A request's signal: its own timeout, or shutdown. */
  private within (ms: number): AbortSignal {
    return AbortSignal.any([this.shutdown.signal, AbortSignal.timeout(ms)])
  }

  private takeToken (): boolean {
    const now = Date.now()
    this.tokens = Math.min(this.options.repairRate, this.tokens + (now - this.lastRefill) / 1000 * this.options.repairRate)
    this.lastRefill = now
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }

  /**
   * At start: every blob with an origin reference short of copies is
   * replicated, and the copies of every blob that went while the node was
   * down, or before its reconcile ran (a crash right after a delete), are
   * released.
   */
  private async sweepOrigins (): Promise<void> {
    for await (const [cid, placement] of this.options.store.db.entries('placement')) {
      if (placement.want > 0 && await this.options.store.db.get('blob', cid) == null) this.enqueue(cid)
    }
    const seen = new Set<string>()
    for await (const [key] of this.options.store.db.entries('ref')) {
      const cid = key.slice(0, key.indexOf('/'))
      const kind = key.slice(cid.length + 1, key.indexOf(':', cid.length))
      if (seen.has(cid) || !ORIGIN_KINDS.includes(kind as never)) continue
      seen.add(cid)
      const placement = await this.options.store.db.get('placement', cid)
      if (placement == null || placement.holders.length + 1 < placement.want) this.enqueue(cid)
    }
  }

  /**
   * A repair round: asks each healthy holder which copies it still has,
   * forgets the copies lost, re-reconciles the blobs short of copies, and
   * stands in for origins unreachable past the grace period.
   */
  private async repairRound (): Promise<void> {
    if (this.round != null || this.stopped) return
    this.round = (async () => {
      await this.options.health.check()
      for (const cid of this.failed) this.enqueue(cid)
      this.failed.clear()
      const byHolder = new Map<string, string[]>()
      for await (const [cid, placement] of this.options.store.db.entries('placement')) {
        // a release some holder has not received yet: told again
        if (placement.want === 0) {
          this.enqueue(cid)
          continue
        }
        if (placement.holders.length + 1 < placement.want) this.enqueue(cid)
        for (const holder of placement.holders) {
          const health = this.options.health.health(holder.peer)
          if (health === 'unreachable') this.enqueue(cid)
          if (health !== 'healthy') continue
          const list = byHolder.get(holder.peer) ?? []
          list.push(cid)
          byHolder.set(holder.peer, list)
        }
      }
      // one batch per holder and round, rotating through its copies: liveness comes from the pings,
      // so a lost copy is found within (copies / MAX_CHECK_CIDS) rounds at a bounded cost per round
      for (const [peer, cids] of byHolder) {
        const cursor = this.checkCursor.get(peer) ?? 0
        const at = cursor < cids.length ? cursor : 0
        this.checkCursor.set(peer, at + MAX_CHECK_CIDS)
        const batch = cids.slice(at, at + MAX_CHECK_CIDS)
        const held = await this.check(peer, batch).catch(() => undefined)
        if (held == null) continue
        for (const cid of batch) {
          if (held.has(cid)) continue
          this.options.log.warn({ cid, peer }, 'a holder lost its copy: replacing it')
          await this.options.store.transact(async tx => {
            const placement = await tx.get('placement', cid)
            if (placement != null) tx.put('placement', cid, { ...placement, holders: placement.holders.filter(holder => holder.peer !== peer) })
          })
          this.enqueue(cid)
        }
      }
      await this.standIn()
    })().catch((err: unknown) => { this.options.log.warn({ err }, 'repair round failed') })
      .finally(() => { this.round = undefined })
    await this.round
  }

  private async check (peer: string, cids: string[]): Promise<Set<string>> {
    const answer = await ask(this.options.node, peerIdFromString(peer), REPLICATE_PROTOCOL, { op: 'check', cids: cids as CidString[] }, decodeReplicateResponse, this.within(10_000))
    if (!answer.ok) throw new Error(`refused (${answer.code}): ${answer.message}`)
    return new Set(answer.held ?? [])
  }

  /**
   * For copies this node holds for an origin unreachable past the grace
   * period: the first healthy peer in placement order that holds a copy
   * brings the copies back to the attested `replicas`, with the origin's own
   * attestation (which every holder verifies against the origin's key).
   */
  private async standIn (): Promise<void> {
    const orphans = new Map<string, Signed<Attestation>>()
    for await (const [key, attestation] of this.options.store.db.entries('attestation')) {
      const origin = key.slice(0, key.indexOf('/'))
      if (this.options.health.health(origin) === 'unreachable') orphans.set(attestation.payload.cid, attestation)
    }
    if (orphans.size === 0) return
    const peers = this.options.health.healthyTrusted()
    const holdings = new Map<string, Set<string>>()
    for (const peer of peers) {
      const cids = [...orphans.keys()]
      const held = new Set<string>()
      for (let at = 0; at < cids.length; at += MAX_CHECK_CIDS) {
        for (const cid of await this.check(peer, cids.slice(at, at + MAX_CHECK_CIDS)).catch(() => new Set<string>())) held.add(cid)
      }
      holdings.set(peer, held)
    }
    for (const [cid, attestation] of orphans) {
      const ranked = rankPeers(cid, [...peers, this.self])
      const holding = ranked.filter(peer => peer === this.self || holdings.get(peer)?.has(cid) === true)
      if (holding[0] !== this.self) continue
      let copies = holding.length
      for (const peer of ranked) {
        if (copies >= attestation.payload.replicas) break
        if (peer === this.self || holdings.get(peer)?.has(cid) === true) continue
        if (!this.takeToken()) return
        try {
          await this.hold(peer, attestation)
          copies++
          this.options.log.info({ cid, peer, origin: attestation.payload.origin }, 'stood in for an unreachable origin: a new copy is held')
        } catch (err) {
          this.options.log.info({ cid, peer, err: (err as Error).message }, 'a peer did not take a copy for an unreachable origin')
        }
      }
    }
  }

  /** The holder side of `/fdn/replicate/1.0.0`. */
  private async answer (bytes: Uint8Array, peer: PeerId): Promise<ReplicateResponse> {
    try {
      const request = decodeReplicateRequest(bytes)
      if (!this.options.health.isTrusted(peer)) throw refusal('untrusted', `${peer.toString()} is not a trusted peer of this node`)
      return await this.handle(request, peer)
    } catch (err) {
      const code = (err as Partial<Refusal>).refusal ?? (err instanceof FdnError && err.code === 'invalid_request' ? 'invalid_request' : 'internal')
      if (code === 'internal') this.options.log.warn({ err, peer: peer.toString() }, 'a replication request failed')
      else this.options.log.info({ peer: peer.toString(), code, reason: (err as Error).message }, 'refused a replication request')
      return { ok: false, code, message: (err as Error).message }
    }
  }

  private async handle (request: ReplicateRequest, peer: PeerId): Promise<ReplicateResponse> {
    if (request.op === 'check') {
      const held: CidString[] = []
      for (const cid of request.cids) {
        const blob = await this.options.store.db.get('blob', cid)
        if (blob != null && await this.holdsForSwarm(cid)) held.push(cid)
      }
      return { ok: true, held }
    }
    if (request.op === 'release') {
      const release = await verifyRecord(request.release, { type: 'fdn/release' }).catch((err: unknown) => { throw refusal('bad_signature', (err as Error).message) })
      if (!this.options.health.isTrusted(release.origin)) throw refusal('untrusted', `origin ${release.origin} is not trusted`)
      await this.drop(release.origin, release.cid)
      return { ok: true }
    }
    // the same copy asked for again while it is being fetched (the first answer was lost) waits for that fetch
    const key = `${request.attestation.payload.origin}/${request.attestation.payload.cid}`
    const running = this.accepting.get(key)
    if (running != null) return await running
    const accepting = this.accept(request.attestation, peer)
    this.accepting.set(key, accepting)
    try {
      return await accepting
    } finally {
      this.accepting.delete(key)
    }
  }

  /** Whether this node keeps the blob for itself or for a peer (not a mere cache). */
  private async holdsForSwarm (cid: string): Promise<boolean> {
    const refs = await this.options.store.db.refsOf(cid)
    return refs.some(ref => ref.kind !== 'cache' && ref.kind !== 'part')
  }

  private async accept (signed: Signed<Attestation>, peer: PeerId): Promise<ReplicateResponse> {
    const attestation = await verifyRecord(signed, { type: 'fdn/attestation' }).catch((err: unknown) => { throw refusal('bad_signature', (err as Error).message) })
    const origin = attestation.origin
    if (origin === this.self) return { ok: true }
    if (!this.options.health.isTrusted(origin)) throw refusal('untrusted', `origin ${origin} is not trusted`)
    if (attestation.size > this.options.maxObjectSize) throw refusal('too_large', `${attestation.size} bytes is over this node's ${this.options.maxObjectSize} byte limit`)
    const key = `${origin}/${attestation.cid}`
    const { store } = this.options
    if (await store.db.get('attestation', key) != null && await store.db.get('blob', attestation.cid) != null) return { ok: true }
    const held = await store.db.get('held', origin)
    if ((held?.bytes ?? 0) + attestation.size > this.options.peerQuota) {
      throw refusal('quota_exceeded', `holding ${attestation.size} more bytes for ${origin} would pass its ${this.options.peerQuota} byte quota`)
    }
    const commit = async (tx: Tx, blob?: NewBlob): Promise<void> => {
      const known = await tx.get('attestation', key) != null
      if (!known) {
        // checked again inside the transaction: concurrent holds must not pass the quota together
        const usage = await tx.get('held', origin) ?? { blobs: 0, bytes: 0 }
        if (usage.bytes + attestation.size > this.options.peerQuota) {
          throw refusal('quota_exceeded', `holding ${attestation.size} more bytes for ${origin} would pass its ${this.options.peerQuota} byte quota`)
        }
        tx.put('held', origin, { blobs: usage.blobs + 1, bytes: usage.bytes + attestation.size })
      }
      await addRef(tx, attestation.cid, { kind: 'replica', holder: origin, public: attestation.public }, blob)
      tx.put('attestation', key, signed)
      if (attestation.kind === 'manifest' && attestation.tenant != null && attestation.version != null) {
        await this.keepNewestManifest(tx, origin, attestation.tenant, attestation.version, attestation.cid)
      }
    }
    const local = await store.db.get('blob', attestation.cid)
    if (local != null) {
      if (local.size !== attestation.size || local.sha256 !== attestation.sha256) throw refusal('verify_failed', `${attestation.cid} does not match its attestation`)
      await store.transact(commit)
      return { ok: true }
    }
    if (this.holdFetches >= MAX_HOLD_FETCHES) throw refusal('busy', 'too many copies being fetched: ask again later')
    this.holdFetches++
    try {
      const providers = [...new Set([peer.toString(), origin])].map(id => peerIdFromString(id))
      await this.options.fetcher.fetch({
        cid: CID.parse(attestation.cid),
        signal: this.within(this.options.holdTimeoutMs),
        providers,
        maxSize: attestation.size,
        expect: { size: attestation.size, sha256: attestation.sha256 },
        commit
      })
    } catch (err) {
      if ((err as Partial<Refusal>).refusal != null) throw err
      if (err instanceof FdnError && err.code === 'corrupt_block') throw refusal('verify_failed', err.message)
      if (err instanceof FdnError && err.code === 'too_large') throw refusal('too_large', err.message)
      if (err instanceof FdnError && err.code === 'insufficient_storage') throw refusal('quota_exceeded', err.message)
      throw refusal('not_found', `could not fetch ${attestation.cid}: ${(err as Error).message}`)
    } finally {
      this.holdFetches--
    }
    return { ok: true }
  }

  /** A manifest newer than the one kept for `{origin}/{tenant}` replaces it; an older one is kept too until released. */
  private async keepNewestManifest (tx: Tx, origin: string, tenant: string, version: number, cid: CidString): Promise<void> {
    const pointerKey = `${origin}/${tenant}`
    const current = await tx.get('manifest', pointerKey)
    if (current != null && current.version >= version) return
    tx.put('manifest', pointerKey, { version, cid })
  }

  /** Drops the copy held for `origin` (a release, a newer manifest, or a deletion the origin forwarded). */
  async drop (origin: string, cid: CidString): Promise<void> {
    const key = `${origin}/${cid}`
    await this.options.store.transact(async tx => {
      const signed = await tx.get('attestation', key)
      if (signed == null) return
      tx.del('attestation', key)
      const usage = await tx.get('held', origin)
      if (usage != null) tx.put('held', origin, { blobs: Math.max(0, usage.blobs - 1), bytes: Math.max(0, usage.bytes - signed.payload.size) })
      await removeRef(tx, cid, 'replica', origin)
    })
  }

  /** Whether a copy of this blob is being taken for a peer right now. */
  isAccepting (cid: string): boolean {
    for (const key of this.accepting.keys()) if (key.endsWith(`/${cid}`)) return true
    return false
  }

  /** Copies this node holds for other nodes. */
  async heldForPeers (): Promise<number> {
    let blobs = 0
    for await (const [, usage] of this.options.store.db.entries('held')) blobs += usage.blobs
    return blobs
  }
}
