import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import { cidString, parseCid } from '../../protocol/cid.ts'
import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import { rawCidOfSha256 } from '../../protocol/retrieve-api.ts'
import { decodeFindRequest, decodeFindResponse, FIND_PROTOCOL } from '../../protocol/swarm-wire.ts'
import type { FindResponse } from '../../protocol/swarm-wire.ts'
import type { Logger } from '../log.ts'
import type { MediaStore } from '../store/media-store.ts'
import type { SwarmNode } from './swarm-node.ts'
import { ask, serve } from './wire.ts'

/** What the retrieve API looks for: a blob by CID (and the SHA-256 it must have, when known), or by its whole file's SHA-256 alone. */
export type BlobQuery = { cid: CID, sha256?: string } | { sha256: string }

export interface Found {
  cid: CidString
  /** Peers known to hold it: asked first when it is fetched. */
  providers: PeerId[]
}

/** How long a connected peer may take to say whether it holds a blob. */
const ASK_TIMEOUT_MS = 2_000
/** How long the DHT is searched for a provider of a CID no connected peer holds. */
const DHT_TIMEOUT_MS = 3_000
/** Connected peers asked at once. */
const MAX_ASKED = 64

/**
 * Finds which swarm peer holds a blob, before the retrieve API falls back to
 * the origin: the connected peers are asked directly over `/fdn/find/1.0.0`
 * (one round trip; they answer by CID or by SHA-256, which the DHT cannot
 * look up), then the DHT for a CID. An answer is only a hint: the fetch
 * checks the blob against the CID (and the SHA-256 when that was asked), so
 * a lying peer costs a wasted transfer, never a wrong byte.
 *
 * Any peer may ask; a node names only blobs it serves to anyone (a public
 * reference), so private media is not revealed.
 */
export class BlobFinder {
  private readonly node: SwarmNode
  private readonly store: MediaStore
  private readonly log: Logger

  constructor (node: SwarmNode, store: MediaStore, log: Logger) {
    this.node = node
    this.store = store
    this.log = log
  }

  async start (): Promise<void> {
    await serve(this.node, FIND_PROTOCOL, async (bytes) => await this.answer(bytes), { maxInboundStreams: 64, readTimeoutMs: 10_000 })
  }

  async find (query: BlobQuery, signal: AbortSignal): Promise<Found | undefined> {
    const request = 'cid' in query ? { op: 'find' as const, cid: cidString(query.cid) } : { op: 'find' as const, sha256: query.sha256 }
    const peers = this.node.connectedPeers().slice(0, MAX_ASKED)
    const asking = AbortSignal.any([signal, AbortSignal.timeout(ASK_TIMEOUT_MS)])
    const answers = peers.map(async (peer) => {
      const answer = await ask(this.node, peer, FIND_PROTOCOL, request, decodeFindResponse, asking)
      if (!answer.ok || answer.cid == null) throw new Error('not held')
      return { cid: answer.cid, providers: [peer] }
    })
    for (const answer of answers) answer.catch(() => {})
    const found = await Promise.any(answers).catch(() => undefined)
    if (found != null || signal.aborted) return found
    // by SHA-256 alone the DHT knows only a file of one block, whose CID the digest gives
    const cid = 'cid' in query ? query.cid : parseCid(rawCidOfSha256(query.sha256))
    const provider = await this.node.firstProvider(cid, AbortSignal.any([signal, AbortSignal.timeout(DHT_TIMEOUT_MS)]))
    return provider == null ? undefined : { cid: cidString(cid), providers: [provider] }
  }

  private async answer (bytes: Uint8Array): Promise<FindResponse> {
    try {
      const request = decodeFindRequest(bytes)
      const cid = 'cid' in request ? request.cid : await this.store.db.get('digest', request.sha256)
      if (cid == null) return { ok: true }
      const blob = await this.store.stat(parseCid(cid))
      return blob != null && blob.publicRefs > 0 ? { ok: true, cid } : { ok: true }
    } catch (err) {
      const invalid = err instanceof FdnError && err.code === 'invalid_request'
      if (invalid) this.log.debug({ err }, 'refused a find request')
      else this.log.warn({ err }, 'a find request failed')
      return { ok: false, code: invalid ? 'invalid_request' : 'internal', message: (err as Error).message }
    }
  }
}
