import path from 'node:path'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { CID } from 'multiformats/cid'
import type { PeersResponse, PeerView, RecoverEvent, RecoverReport, ReplicationCounts, SwarmStatus } from '../../protocol/admin-api.ts'
import { cidString, parseCid } from '../../protocol/cid.ts'
import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { Logger } from '../log.ts'
import type { ObjectStore } from '../objects/object-store.ts'
import type { MediaStore } from '../store/media-store.ts'
import { addRef } from '../store/refs.ts'
import type { TenantRegistry } from '../tenants/registry.ts'
import { Announcer } from './announcer.ts'
import { BlobCache, CACHE_HOLDER } from './blob-cache.ts'
import { BlobFinder } from './finder.ts'
import { DeletionForwarder } from './deletion-forwarder.ts'
import type { DeletionHandler } from './deletion-forwarder.ts'
import type { ForwardedRequest } from '../../protocol/swarm-records.ts'
import type { BlobQuery } from './finder.ts'
import { ManifestPublisher } from './manifests.ts'
import { PeerHealthMonitor } from './peer-health.ts'
import { Recovery } from './recovery.ts'
import { Replicator } from './replication.ts'
import { ServePolicy } from './serve-policy.ts'
import { absentFromSwarm, SwarmFetcher } from './swarm-fetch.ts'
import { PendingDeletions } from './pending-deletions.ts'
import { SwarmNode } from './swarm-node.ts'

export interface SwarmOptions {
  dataDir: string
  privateKey: PrivateKey
  listen: string[]
  /** Told to peers instead of `listen` when not empty. */
  announce: string[]
  bootstrap: string[]
  swarmKey: Uint8Array | undefined
  trustedPeers: string[]
  defaultReplicas: number
  cacheSize: number
  fetchTimeout: number
  noFetch: boolean
  peerQuota: number
  repairGrace: number
  repairInterval: number
  repairRate: number
  maxObjectSize: number
  store: MediaStore
  objects: ObjectStore
  tenants: TenantRegistry
  log: Logger
}

/**
 * The node's part in the swarm: its libp2p host, fetching missing blobs for
 * the gateway (kept as an LRU cache), replication of what it originates and
 * copies it holds for trusted peers, repair, manifests and recovery.
 */
export class Swarm {
  private readonly options: SwarmOptions
  private readonly node: SwarmNode
  private readonly fetcher: SwarmFetcher
  private readonly cache: BlobCache
  private readonly announcer: Announcer
  private readonly health: PeerHealthMonitor
  private readonly replicator: Replicator
  private readonly manifests: ManifestPublisher
  private readonly recovery: Recovery
  private readonly finder: BlobFinder
  private readonly deletions: DeletionForwarder
  private readonly inflight = new Map<string, Promise<void>>()
  private recovering: Promise<RecoverReport> | undefined

  private constructor (options: SwarmOptions, node: SwarmNode, policy: ServePolicy) {
    this.options = options
    this.node = node
    const { store, log } = options
    this.fetcher = new SwarmFetcher(node.helia, store, () => this.connectedTrusted())
    this.cache = new BlobCache(store, options.cacheSize, log)
    this.announcer = new Announcer(node, store, log)
    this.health = new PeerHealthMonitor(node, { trusted: options.trustedPeers, graceMs: options.repairGrace, intervalMs: options.repairInterval, log })
    this.replicator = new Replicator({
      node,
      store,
      fetcher: this.fetcher,
      health: this.health,
      policy,
      privateKey: options.privateKey,
      defaultReplicas: options.defaultReplicas,
      peerQuota: options.peerQuota,
      maxObjectSize: options.maxObjectSize,
      holdTimeoutMs: Math.max(options.fetchTimeout, 60_000),
      repairIntervalMs: options.repairInterval,
      repairRate: options.repairRate,
      log
    })
    this.finder = new BlobFinder(node, store, log)
    this.deletions = new DeletionForwarder({
      node,
      privateKey: options.privateKey,
      trusted: this.health.trusted,
      retryIntervalMs: options.repairInterval,
      dropHeld: async (origin, cid) => { await this.replicator.drop(origin, cid) },
      journal: new PendingDeletions(path.join(options.dataDir, 'deletions-pending.json'), log),
      log
    })
    this.manifests = new ManifestPublisher(store, options.privateKey, node.peerId.toString(), log)
    this.recovery = new Recovery({
      node,
      store,
      objects: options.objects,
      tenants: options.tenants,
      fetcher: this.fetcher,
      health: this.health,
      policy,
      maxObjectSize: options.maxObjectSize,
      fetchTimeoutMs: Math.max(options.fetchTimeout, 60_000),
      log
    })
  }

  static async start (options: SwarmOptions): Promise<Swarm> {
    const policy = new ServePolicy(options.store)
    const node = await SwarmNode.start({
      dataDir: options.dataDir,
      privateKey: options.privateKey,
      listen: options.listen,
      announce: options.announce,
      bootstrap: options.bootstrap,
      swarmKey: options.swarmKey,
      store: options.store,
      policy,
      log: options.log
    })
    const swarm = new Swarm(options, node, policy)
    try {
      await swarm.cache.load()
      options.store.onChange(changes => {
        for (const cid of changes.removed) swarm.cache.forget(cid)
        swarm.cache.settle(changes.touched).catch((err: unknown) => { options.log.warn({ err }, 'could not drop the cache reference of a blob held for good') })
      })
      options.store.setRepairer(async (cid, signal) => await swarm.fetchBlock(cid, signal))
      swarm.announcer.start()
      await swarm.health.start()
      await swarm.replicator.start()
      await swarm.manifests.start()
      await swarm.recovery.start()
      await swarm.finder.start()
      await swarm.deletions.start()
    } catch (err) {
      await swarm.stop()
      throw err
    }
    return swarm
  }

  get peerId (): string {
    return this.node.peerId.toString()
  }

  addresses (): string[] {
    return this.node.addresses()
  }

  /**
   * Makes a blob this node lacks local for a gateway read: found through the
   * DHT, fetched by bitswap, verified, kept in the cache. `onBytes` receives
   * the file as it arrives (the first reader streams while the blob is
   * fetched); readers that come while it is in flight wait for it.
   */
  async fetchForRead (cid: CID, options: { signal?: AbortSignal, onBytes?: (chunk: Uint8Array) => Promise<void> } = {}): Promise<void> {
    const absent = this.absentNow(cid)
    if (absent != null) throw absent
    const { onBytes } = options
    let checked = false
    const firstChecked = onBytes == null
      ? undefined
      : async (chunk: Uint8Array): Promise<void> => {
        // the bytes may come from a copy this node is taking for a peer, or already holds privately: none for a reader
        if (!checked && await this.heldPrivately(cid)) throw this.absent(cid)
        checked = true
        await onBytes(chunk)
      }
    if (await this.heldPrivately(cid)) throw this.absent(cid)
    // trusted peers are asked directly, then the DHT: a DHT record may name a dead origin, or not name a new holder yet
    await this.fetchToCache(cid, this.connectedTrusted(), undefined, firstChecked)
  }

  /**
   * Whether this node keeps the blob privately, or is taking a copy of it for
   * a peer right now (whose origin lets this node, and only it, copy a
   * private blob): a gateway read must not serve or cache those bytes.
   */
  private async heldPrivately (cid: CID): Promise<boolean> {
    if (this.replicator.isAccepting(cidString(cid))) return true
    const blob = await this.options.store.stat(cid)
    return blob != null && blob.publicRefs === 0
  }

  /** The answer for a blob no peer has, given without asking one when the answer is known now. */
  absent (cid: CID): FdnError {
    return this.absentNow(cid) ?? absentFromSwarm(cid)
  }

  private absentNow (cid: CID): FdnError | undefined {
    if (this.options.noFetch) return new FdnError('not_found', `${cidString(cid)} is not held by this node (FDN_NO_FETCH: the swarm is not asked)`)
    // a node alone has nobody to ask: the answer is known now, not after the fetch timeout
    if (this.node.connectedPeers().length === 0) return new FdnError('not_found', `${cidString(cid)} is not held by this node, and no swarm peer is connected`)
    return undefined
  }

  /**
   * The retrieve API's swarm step: finds a peer holding the blob (by CID, or
   * by the SHA-256 of an attachment's `digestMultibase`) and fetches it into
   * the cache, checked against the CID and that SHA-256. Undefined when no
   * peer has it (or FDN_NO_FETCH): the caller goes to the origin.
   */
  async fetchForRetrieve (query: BlobQuery): Promise<CidString | undefined> {
    if (this.options.noFetch || this.node.connectedPeers().length === 0) return undefined
    const found = await this.finder.find(query, AbortSignal.timeout(this.options.fetchTimeout))
    if (found == null) return undefined
    await this.fetchToCache(parseCid(found.cid), [...found.providers, ...this.connectedTrusted()], query.sha256)
    return found.cid
  }

  /** One fetch per blob at a time: later callers wait for the one in flight. */
  private async fetchToCache (cid: CID, providers: PeerId[], sha256: string | undefined, onBytes?: (chunk: Uint8Array) => Promise<void>): Promise<void> {
    const key = cidString(cid)
    const running = this.inflight.get(key)
    if (running != null) return await running
    const fetch = this.fetcher.fetch({
      cid,
      // bounded by the wait for blocks, not the whole transfer: a large blob streamed to a slow reader is not cut
      idleTimeoutMs: this.options.fetchTimeout,
      providers,
      maxSize: this.options.maxObjectSize,
      ...(sha256 != null ? { expectSha256: sha256 } : {}),
      commit: async (tx, blob) => {
        // fetched meanwhile by a replication or a recovery (the transfer waited for theirs): held for good already
        if ((await tx.refsOf(blob.record.cid)).length > 0) return undefined
        await addRef(tx, blob.record.cid, { kind: 'cache', holder: CACHE_HOLDER, public: true }, blob)
        return blob.record.size
      },
      ...(onBytes != null ? { onBytes } : {})
    }).then(size => { if (size != null) this.cache.added(key, size) })
    this.inflight.set(key, fetch)
    try {
      await fetch
    } finally {
      this.inflight.delete(key)
    }
  }

  private connectedTrusted (): PeerId[] {
    return [...this.health.trusted].map(peer => peerIdFromString(peer)).filter(peer => this.node.isConnected(peer))
  }

  /** A blob given a `cache` reference outside the swarm (a relayed post's prefetch): counted and evicted like a fetched one. */
  cached (cid: CidString, size: number): void {
    this.cache.added(cid, size)
  }

  /** Sends an owner's Delete this node applied to its connected peers (docs/activitypub.md). */
  async forwardDeletion (request: ForwardedRequest, cids: readonly CidString[]): Promise<{ peers: number, applied: number }> {
    return await this.deletions.forward(request, cids)
  }

  /** Who checks and applies the deletions peers forward. */
  onDeletion (handler: DeletionHandler): void {
    this.deletions.setHandler(handler)
  }

  /** A gateway read of a blob: keeps a cached blob from eviction. */
  touch (cid: string): void {
    this.cache.touch(cid)
  }

  /** One block from whichever peer has it (a corrupt local copy is being replaced). */
  private async fetchBlock (cid: CID, signal?: AbortSignal): Promise<Uint8Array> {
    const providers = this.node.connectedPeers()
    if (providers.length === 0) throw new Error('no peer connected')
    return await this.fetcher.fetchBlock(cid, providers, signal ?? AbortSignal.timeout(this.options.fetchTimeout))
  }

  async peers (): Promise<PeersResponse> {
    const ids = new Set([...this.node.connectedPeers().map(peer => peer.toString()), ...this.health.trusted])
    const peers: PeerView[] = []
    for (const id of ids) {
      const peer = peerIdFromString(id)
      peers.push({
        peerId: id,
        addresses: await this.node.peerAddresses(peer),
        trusted: this.health.isTrusted(id),
        connected: this.node.isConnected(peer),
        ...this.health.view(id)
      })
    }
    peers.sort((a, b) => Number(b.trusted) - Number(a.trusted) || a.peerId.localeCompare(b.peerId))
    return { self: { peerId: this.peerId, addresses: this.addresses() }, peers }
  }

  async status (): Promise<{ swarm: SwarmStatus, replication: ReplicationCounts }> {
    const cache = this.cache.stats()
    const replication = this.replicator.counters()
    replication.pending += this.manifests.pending
    return {
      swarm: {
        connected: this.node.connectedPeers().length,
        trusted: this.health.trusted.size,
        trustedHealthy: this.health.healthyTrusted().length,
        private: this.options.swarmKey != null,
        cachedBlobs: cache.blobs,
        cachedBytes: cache.bytes,
        heldForPeers: await this.replicator.heldForPeers(),
        receivedBlobs: this.fetcher.received.blobs,
        receivedBytes: this.node.received.bytes
      },
      replication
    }
  }

  /** `fdn recover`: one at a time. */
  async recover (progress: (event: RecoverEvent) => void, options: { waitMs: number }): Promise<RecoverReport> {
    if (this.recovering != null) throw new FdnError('conflict', 'a recovery is running already')
    this.recovering = this.recovery.recover(progress, options)
    try {
      return await this.recovering
    } finally {
      this.recovering = undefined
    }
  }

  async stop (): Promise<void> {
    this.options.store.setRepairer(undefined)
    this.deletions.stop()
    await this.manifests.stop()
    await this.replicator.stop()
    await this.announcer.stop()
    await this.health.stop()
    await this.cache.stop()
    await this.node.stop()
  }
}
