import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { RAW_CODEC, DAG_PB_CODEC, SHA2_256 } from '../../protocol/cid-profile.ts'
import { cidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import { decodeFileNode } from '../../protocol/unixfs-file.ts'
import type { Tx } from '../store/index-db.ts'
import type { MediaStore } from '../store/media-store.ts'
import type { NewBlob } from '../store/refs.ts'
import { FailoverSession, sessionBlock } from './failover-session.ts'
import type { Helia } from './swarm-node.ts'

/** Longest a fetch waits for another transfer of the same blob before it runs its own. */
const MAX_WAIT_MS = 5_000
/** Leaves requested ahead of the one being written: enough to keep bitswap busy, bounded memory (1 MiB each). */
const WINDOW = 32

export interface FetchRequest<T> {
  cid: CID
  /** The caller's bound on the whole transfer. */
  signal?: AbortSignal
  /** Fails once no peer has sent a block for this long while one is wanted: a transfer that moves is never cut. */
  idleTimeoutMs?: number
  /** Peers asked first (the origin of a replication, the holders in a recovery, the trusted peers); the DHT is asked too. */
  providers?: PeerId[]
  maxSize: number
  /** What a signed attestation says the blob is: anything else is refused. */
  expect?: { size: number, sha256?: string }
  /** The SHA-256 the file must have (an attachment's digest): anything else is refused. */
  expectSha256?: string
  /** Runs in the index transaction that records the blob: adds the reference that keeps it. */
  commit: (tx: Tx, blob: NewBlob) => Promise<T>
  /** Each piece of the file as it arrives, in order (a gateway response streaming while the blob is fetched). */
  onBytes?: (chunk: Uint8Array) => Promise<void>
}

/**
 * Fetches a blob from the swarm into the store. Blocks come by bitswap
 * through a helia session (each checked against its CID by helia before it
 * is handed over), the file's bytes are streamed through the store's ingest
 * pipeline, and the blob is recorded only if the rebuilt DAG has the CID
 * that was asked for (and the attested size and SHA-256): a lying peer can
 * waste a transfer, never put a wrong byte in the store.
 */
export class SwarmFetcher {
  private readonly helia: Helia
  private readonly store: MediaStore
  private readonly candidates: () => PeerId[]
  /** Blobs fetched whole since start. */
  readonly received = { blobs: 0 }
  private readonly inflight = new Map<string, Promise<unknown>>()
  private readonly sessions = new Set<FailoverSession>()

  /** `candidates`: peers a transfer that lost its holder asks besides its own (the connected trusted peers). */
  constructor (helia: Helia, store: MediaStore, candidates: () => PeerId[]) {
    this.helia = helia
    this.store = store
    this.candidates = candidates
    // a closed connection loses the wants and blocks in flight on it: transfers that asked that peer ask again
    helia.libp2p.addEventListener('connection:close', event => {
      const peer = event.detail.remotePeer.toString()
      for (const session of this.sessions) session.disconnected(peer)
    })
  }

  /**
   * One transfer per blob at a time: a replication hold and a retrieve (or a
   * gateway read) of the same new blob would otherwise both pull it over the
   * network. A later fetch waits for the running one, then finds the blocks
   * local (helia reads the store before it asks peers) and only records its
   * own reference.
   */
  async fetch<T> (request: FetchRequest<T>): Promise<T> {
    const key = cidString(request.cid)
    // a transfer that hangs must not hold the others up past a short wait
    const deadline = Date.now() + MAX_WAIT_MS
    for (let running = this.inflight.get(key); running != null && Date.now() < deadline; running = this.inflight.get(key)) {
      await Promise.race([running.catch(() => {}), sleep(deadline - Date.now())])
    }
    const run = this.fetchOnce(request)
    this.inflight.set(key, run)
    try {
      return await run
    } finally {
      if (this.inflight.get(key) === run) this.inflight.delete(key)
    }
  }

  private async fetchOnce<T> (request: FetchRequest<T>): Promise<T> {
    const { cid } = request
    if (cid.multihash.code !== SHA2_256 || (cid.code !== RAW_CODEC && cid.code !== DAG_PB_CODEC)) {
      throw new FdnError('not_found', `${cidString(cid)} is not an fdn blob (raw or dag-pb, sha2-256): not fetched from the swarm`)
    }
    const session = new FailoverSession(this.helia, {
      root: cid,
      providers: request.providers ?? [],
      renewProviders: () => this.reachable(request.providers ?? []),
      ...(request.signal != null ? { signal: request.signal } : {}),
      ...(request.idleTimeoutMs != null ? { idleTimeoutMs: request.idleTimeoutMs } : {})
    })
    this.sessions.add(session)
    const { signal } = session
    const source = this.fileBytes(session, request)
    const want = cidString(cid)
    try {
      const result = await this.store.ingest(source, { maxSize: request.maxSize, signal }, async (tx, blob) => {
        if (blob.record.cid !== want) throw new FdnError('corrupt_block', `the blocks peers sent rebuild ${blob.record.cid}, not ${want}`)
        if (request.expect != null && (request.expect.size !== blob.record.size || (request.expect.sha256 != null && request.expect.sha256 !== blob.record.sha256))) {
          throw new FdnError('corrupt_block', `${want} does not match its attestation (size or SHA-256)`)
        }
        if (request.expectSha256 != null && request.expectSha256 !== blob.record.sha256) {
          throw new FdnError('digest_mismatch', `${want} is not the file of SHA-256 ${request.expectSha256}`)
        }
        return await request.commit(tx, blob)
      })
      this.received.blobs++
      return result
    } catch (err) {
      if (signal.aborted && signal.reason instanceof FdnError) throw signal.reason
      if (signal.aborted) throw new FdnError('fetch_timeout', `${want} was not found in the swarm in time`, { cause: err })
      if (err instanceof FdnError) throw err
      // every peer asked said it does not have it, and the DHT named no one else: the swarm answered, it is absent
      if (noProvider(err)) throw absentFromSwarm(request.cid, err)
      // no provider, providers gone mid-transfer: the swarm may still deliver later
      throw new FdnError('fetch_timeout', `${want} could not be fetched from the swarm: ${(err as Error).message}`, { cause: err })
    } finally {
      this.sessions.delete(session)
      session.close()
    }
  }

  /** The caller's peers and the candidates connected now: a new session does not wait on a dead peer's dial. */
  private reachable (providers: PeerId[]): PeerId[] {
    const seen = new Set<string>()
    return [...providers, ...this.candidates()].filter(peer => {
      const id = peer.toString()
      if (seen.has(id)) return false
      seen.add(id)
      return this.helia.libp2p.getConnections(peer).some(connection => connection.status === 'open')
    })
  }

  /** One block from the given peers (a corrupt local copy is being replaced), checked against its CID by helia. */
  async fetchBlock (cid: CID, providers: PeerId[], signal: AbortSignal): Promise<Uint8Array> {
    const session = this.helia.blockstore.createSession(cid, { signal, providers: providers.map(peer => peer.toCID()) })
    try {
      return await sessionBlock(session, cid, signal)
    } finally {
      session.close()
    }
  }

  /** The file's bytes in order, leaves fetched up to WINDOW ahead. */
  private async * fileBytes (session: FailoverSession, request: FetchRequest<unknown>): AsyncGenerator<Uint8Array> {
    const get = async (cid: CID): Promise<Uint8Array> => await session.get(cid)
    const emit = async function * (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
      await request.onBytes?.(bytes)
      yield bytes
    }
    const root = await get(request.cid)
    if (request.cid.code === RAW_CODEC) {
      yield * emit(root)
      return
    }
    const walk = async function * (node: Uint8Array, depth: number): AsyncGenerator<Uint8Array> {
      if (depth > 8) throw new FdnError('corrupt_block', 'DAG deeper than any fdn blob')
      const children = decodeFileNode(node)
      const pending: Array<Promise<Uint8Array>> = []
      const ahead = (index: number): void => {
        while (pending.length < Math.min(children.length, index + WINDOW)) {
          const next = get(children[pending.length].cid)
          next.catch(() => {})
          pending.push(next)
        }
      }
      for (let index = 0; index < children.length; index++) {
        ahead(index)
        const bytes = await pending[index]
        delete pending[index]
        if (children[index].cid.code === RAW_CODEC) yield * emit(bytes)
        else yield * walk(bytes, depth + 1)
      }
    }
    const size = decodeFileNode(root).reduce((sum, child) => sum + child.fileSize, 0)
    if (size > request.maxSize) throw new FdnError('too_large', `${cidString(request.cid)} claims ${size} bytes, over the ${request.maxSize} byte limit`)
    if (request.expect != null && size !== request.expect.size) throw new FdnError('corrupt_block', `${cidString(request.cid)} claims ${size} bytes, its attestation ${request.expect.size}`)
    yield * walk(root, 0)
  }
}

/** What a read of a blob that no peer serves this node gets (also what the gateway answers for a blob it may not show). */
export function absentFromSwarm (cid: CID, cause?: unknown): FdnError {
  return new FdnError('not_found', `${cidString(cid)} is not held by this node, and no swarm peer has it`, cause != null ? { cause } : undefined)
}

/** helia's word that no peer would provide the block (alone, or as every reason an aggregate failed). */
function noProvider (err: unknown): boolean {
  if (!(err instanceof Error)) return false
  if (err.name === 'InsufficientProvidersError') return true
  return err instanceof AggregateError && err.errors.length > 0 && err.errors.every(noProvider)
}
