import path from 'node:path'
import { createHeliaLight } from 'helia'
import { withLibp2pLight } from '@helia/libp2p'
import type { HeliaWithLibp2p } from '@helia/libp2p'
import { withBitswap } from '@helia/bitswap'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import { preSharedKey } from '@libp2p/pnet'
import { KEEP_ALIVE } from '@libp2p/interface'
import type { PeerId, PrivateKey, Stream, Connection } from '@libp2p/interface'
import type { Identify } from '@libp2p/identify'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { LevelDatastore } from 'datastore-level'
import type { CID } from 'multiformats/cid'
import type { Logger } from '../log.ts'
import type { MediaStore } from '../store/media-store.ts'
import { StoreBlockstore } from './store-blockstore.ts'
import type { ServePolicy } from './serve-policy.ts'

export const KAD_PROTOCOL = '/fdn/kad/1.0.0'

/**
 * Lookup fan-out: Kademlia's classic α = 3 over 3 disjoint paths instead of
 * kad-dht 16's 10 and 20, which sends every lookup to every node of a small
 * swarm at once and makes the first answer wait for the slowest of them.
 */
export const KAD_QUERY = { alpha: 3, disjointPaths: 3 } as const

// a type alias, not an interface: libp2p's ServiceMap is an index signature
type Services = {
  identify: Identify
  ping: Ping
  dht: KadDHT
}

export type Helia = HeliaWithLibp2p<Services>

export interface SwarmNodeOptions {
  dataDir: string
  privateKey: PrivateKey
  listen: string[]
  /** Told to peers (identify, DHT) instead of `listen` when not empty. */
  announce: string[]
  bootstrap: string[]
  /** The whole libp2p PSK v1 file: nodes without the same one cannot connect. */
  swarmKey: Uint8Array | undefined
  store: MediaStore
  policy: ServePolicy
  log: Logger
}

/**
 * The node's libp2p host: TCP + Noise + Yamux (+ the swarm key's PSK when
 * set), identify, ping, the Kademlia DHT on fdn's own protocol in server
 * mode, and bitswap over fdn's verified store, composed with helia's light
 * constructors (never createHelia, which dials public bootstrap nodes and
 * delegated routers).
 */
export class SwarmNode {
  readonly helia: Helia
  /** Blocks and bytes received from peers since start. */
  readonly received: { readonly blocks: number, readonly bytes: number }
  private readonly datastore: LevelDatastore
  private readonly options: SwarmNodeOptions

  private constructor (helia: Helia, blockstore: StoreBlockstore, datastore: LevelDatastore, options: SwarmNodeOptions) {
    this.helia = helia
    this.received = blockstore.received
    this.datastore = datastore
    this.options = options
  }

  static async start (options: SwarmNodeOptions): Promise<SwarmNode> {
    const datastore = new LevelDatastore(path.join(options.dataDir, 'swarm'))
    await datastore.open()
    const blockstore = new StoreBlockstore(options.store, options.policy)
    const helia = withBitswap(withLibp2pLight(createHeliaLight({ blockstore, datastore }), {
      privateKey: options.privateKey,
      addresses: { listen: options.listen, ...(options.announce.length > 0 ? { announce: options.announce } : {}) },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux({
        streamOptions: {
          initialStreamWindowSize: 256 * 1024,
          maxStreamWindowSize: 16 * 1024 * 1024,
          inactivityTimeout: 120_000,
          // bitswap reads an incoming stream only once it is closed, and a peer sends several 1 MiB blocks
          // on one: at yamux's default 4 MiB the stream is reset, the blocks are lost and never asked again
          maxReadBufferLength: 32 * 1024 * 1024,
          maxWriteBufferLength: Infinity
        }
      })],
      ...(options.swarmKey != null ? { connectionProtector: preSharedKey({ psk: options.swarmKey }) } : {}),
      connectionManager: {
        // the default (5 per second per host) resets the sixth connection from one address: loopback and NAT'd swarms hit it
        inboundConnectionThreshold: 1000,
        maxIncomingPendingConnections: 100
      },
      // a heartbeat that failed under load (ping streams over their limit, a ping stuck behind megabytes of
      // blocks) aborted a live connection, and every bitswap message and replicate answer on it was lost;
      // a dead peer is still found by its connection closing, the health pings and the fetcher's stall watch
      connectionMonitor: { abortConnectionOnPingFailure: false },
      services: {
        identify: identify(),
        // libp2p's connection monitor and the health loop ping the same peers: one stream each is not enough
        ping: ping({ maxOutboundStreams: 32, maxInboundStreams: 32 }),
        dht: kadDHT({
          protocol: KAD_PROTOCOL,
          ...KAD_QUERY,
          // a server from the start: the default waits for a public address, which LAN and loopback swarms never have
          clientMode: false,
          // the default mapper drops private addresses, and with them every peer of a LAN swarm
          peerInfoMapper: passthroughMapper,
          // renewals are fdn's (announcer.ts): kad-dht's own re-provider queue blocks the event loop above
          // ~16k roots, so it renews nothing (threshold 0) and sweeps as rarely as a timer allows (~24.8 days)
          reprovide: { threshold: 0, interval: 2 ** 31 - 1 }
        })
      }
    }), {
      // with node/swarm/patches (see there): a block asked for again is sent again, whenever it is asked
      doNotResendBlockWindow: 0
    }) as Helia
    try {
      await helia.start()
    } catch (err) {
      await datastore.close().catch(() => {})
      throw err
    }
    const node = new SwarmNode(helia, blockstore, datastore, options)
    node.dialBootstrap()
    return node
  }

  get peerId (): PeerId {
    return this.helia.libp2p.peerId
  }

  addresses (): string[] {
    return this.helia.libp2p.getMultiaddrs().map(address => address.toString())
  }

  /** Dials the bootstrap peers and keeps them: libp2p redials a peer tagged keep-alive when its connection drops. */
  private dialBootstrap (): void {
    for (const address of this.options.bootstrap) {
      const target = multiaddr(address)
      const peer = target.getComponents().findLast(component => component.name === 'p2p')?.value
      if (peer == null || peer === this.peerId.toString()) continue
      void this.keep(peerIdFromString(peer)).then(async () => await this.helia.libp2p.dial(target, { signal: AbortSignal.timeout(10_000) }))
        .catch((err: unknown) => { this.options.log.warn({ err: (err as Error).message, peer: address }, 'could not reach a bootstrap peer; retrying in the background') })
    }
  }

  /** Marks a peer to keep connected (trusted and bootstrap peers). */
  async keep (peer: PeerId): Promise<void> {
    await this.helia.libp2p.peerStore.merge(peer, { tags: { [KEEP_ALIVE]: { value: 1 } } })
  }

  /** Announces in the DHT that this node provides `cid`; kad-dht re-provides it before the record expires. */
  async provide (cid: CID, signal?: AbortSignal): Promise<void> {
    await this.helia.routing.provide(cid, { signal })
  }

  /** The first peer other than this node that the DHT names as a provider of `cid`, or undefined once the lookup ends or `signal` fires. */
  async firstProvider (cid: CID, signal: AbortSignal): Promise<PeerId | undefined> {
    try {
      for await (const provider of this.helia.libp2p.contentRouting.findProviders(cid, { signal })) {
        if (!provider.id.equals(this.peerId)) return provider.id
      }
    } catch {
      // a lookup cut by the signal, or a routing error: no provider found
    }
    return undefined
  }

  /** Forgets this node's own provider record of a blob it no longer holds. */
  async cancelProvide (cid: CID): Promise<void> {
    await this.helia.libp2p.services.dht.cancelReprovide(cid)
  }

  async connect (peer: PeerId, signal: AbortSignal): Promise<Connection> {
    return await this.helia.libp2p.dial(peer, { signal })
  }

  async dialProtocol (peer: PeerId, protocol: string, signal: AbortSignal): Promise<Stream> {
    return await this.helia.libp2p.dialProtocol(peer, protocol, { signal })
  }

  async handle (protocol: string, handler: (stream: Stream, connection: Connection) => Promise<void>, maxInboundStreams: number): Promise<void> {
    await this.helia.libp2p.handle(protocol, async (stream, connection) => {
      try {
        await handler(stream, connection)
      } catch (err) {
        this.options.log.debug({ err, protocol, peer: connection.remotePeer.toString() }, 'swarm request failed')
        stream.abort(err as Error)
      }
    }, { maxInboundStreams })
  }

  /** Round trip to a peer in milliseconds. */
  async ping (peer: PeerId, signal: AbortSignal): Promise<number> {
    return await this.helia.libp2p.services.ping.ping(peer, { signal })
  }

  isConnected (peer: PeerId): boolean {
    return this.helia.libp2p.getConnections(peer).some(connection => connection.status === 'open')
  }

  connectedPeers (): PeerId[] {
    return this.helia.libp2p.getPeers()
  }

  async peerAddresses (peer: PeerId): Promise<string[]> {
    const open = this.helia.libp2p.getConnections(peer).map(connection => connection.remoteAddr.toString())
    if (open.length > 0) return open
    try {
      const known = await this.helia.libp2p.peerStore.get(peer)
      return known.addresses.map(address => address.multiaddr.toString())
    } catch {
      return []
    }
  }

  async stop (): Promise<void> {
    await this.helia.stop()
    await this.datastore.close()
  }
}
