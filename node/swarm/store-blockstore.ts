import { NotFoundError } from '@libp2p/interface'
import type { AbortOptions, PeerId } from '@libp2p/interface'
import type { Blockstore, InputPair, Pair } from 'interface-blockstore'
import type { CID } from 'multiformats/cid'
import type { MediaStore } from '../store/media-store.ts'
import type { ServePolicy } from './serve-policy.ts'

/**
 * What a read carries: bitswap names the peer it serves (node/swarm/patches
 * add `fdnPeer` to its ledger's reads); a read without one is the node's own.
 */
type PeerOptions = AbortOptions & { fdnPeer?: PeerId }

/**
 * The blockstore helia and bitswap see: fdn's store, read through its
 * verified reads (a corrupt block is never sent to a peer), filtered by the
 * serve policy, which is told the peer asking. Writes are dropped on purpose: blocks fetched from peers are
 * rebuilt into the store by SwarmFetcher through the ingest pipeline, which
 * writes, counts and references them in one step, so no block lands on disk
 * that no blob holds.
 */
export class StoreBlockstore implements Blockstore {
  private readonly store: MediaStore
  private readonly policy: ServePolicy
  /** Blocks (and their bytes) helia received from peers: every network fetch hands its block to `put`. */
  readonly received = { blocks: 0, bytes: 0 }

  constructor (store: MediaStore, policy: ServePolicy) {
    this.store = store
    this.policy = policy
  }

  /** A block being repaired is not had: helia's own fetch of it (the repair) must go to the network. */
  async has (cid: CID, options: PeerOptions = {}): Promise<boolean> {
    return !this.store.isRepairing(cid) && await this.policy.mayServe(cid, options.fdnPeer?.toString()) && await this.store.hasBlock(cid)
  }

  async * get (cid: CID, options: PeerOptions = {}): AsyncGenerator<Uint8Array> {
    if (this.store.isRepairing(cid) || !await this.policy.mayServe(cid, options.fdnPeer?.toString())) throw new NotFoundError(`${cid.toString()} is not served to the swarm`)
    try {
      yield await this.store.block(cid, options.signal)
    } catch (err) {
      throw new NotFoundError(`${cid.toString()}: ${(err as Error).message}`)
    }
  }

  async put (cid: CID, bytes: InputPair['bytes']): Promise<CID> {
    this.count(bytes)
    return cid
  }

  async * putMany (source: Iterable<InputPair> | AsyncIterable<InputPair>): AsyncGenerator<CID> {
    for await (const { cid, bytes } of source) {
      this.count(bytes)
      yield cid
    }
  }

  private count (bytes: InputPair['bytes']): void {
    this.received.blocks++
    // helia hands over whole blocks; a streamed block is counted without its size
    if (bytes instanceof Uint8Array) this.received.bytes += bytes.length
  }

  async * getMany (source: Iterable<CID> | AsyncIterable<CID>, options: AbortOptions = {}): AsyncGenerator<Pair> {
    for await (const cid of source) yield { cid, bytes: this.get(cid, options) }
  }

  async delete (): Promise<void> {}

  async * deleteMany (source: Iterable<CID> | AsyncIterable<CID>): AsyncGenerator<CID> {
    yield * source
  }

  async * getAll (): AsyncGenerator<Pair> {}
}
