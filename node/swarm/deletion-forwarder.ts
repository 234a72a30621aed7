import type { PrivateKey } from '@libp2p/interface'
import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import { MAX_DELETION_CIDS, signRecord, verifyRecord } from '../../protocol/swarm-records.ts'
import type { Deletion, ForwardedRequest, Signed } from '../../protocol/swarm-records.ts'
import { decodeDeleteRequest, decodeDeleteResponse, DELETE_PROTOCOL } from '../../protocol/swarm-wire.ts'
import type { DeleteResponse } from '../../protocol/swarm-wire.ts'
import type { Logger } from '../log.ts'
import type { SwarmNode } from './swarm-node.ts'
import { ask, serve } from './wire.ts'

/** Checks a forwarded deletion (the owner's signature) and carries it out; resolves whether it was applied. */
export type DeletionHandler = (deletion: Deletion, from: { peer: string, trusted: boolean }) => Promise<boolean>

/** A forwarded deletion older than this is refused: the owner's own signature has a shorter window anyway. */
const MAX_AGE_MS = 60 * 60 * 1000
const ASK_TIMEOUT_MS = 10_000
/** Connected peers a deletion is sent to. */
const MAX_PEERS = 64

/**
 * `/fdn/delete/1.0.0`: a node that applied an owner's signed Delete sends
 * it, signed by its identity, to every connected peer; each checks both
 * signatures and removes its own copies. Peers do not pass it on: the
 * origin reaches its connected peers, which is the swarm of a friendly
 * group (docs/activitypub.md says what a wider swarm would need).
 */
export class DeletionForwarder {
  private readonly node: SwarmNode
  private readonly privateKey: PrivateKey
  private readonly isTrusted: (peer: string) => boolean
  private readonly log: Logger
  private handler: DeletionHandler | undefined

  constructor (options: { node: SwarmNode, privateKey: PrivateKey, isTrusted: (peer: string) => boolean, log: Logger }) {
    this.node = options.node
    this.privateKey = options.privateKey
    this.isTrusted = options.isTrusted
    this.log = options.log
  }

  async start (): Promise<void> {
    await serve(this.node, DELETE_PROTOCOL, async (bytes, peer) => await this.receive(bytes, peer.toString()), { maxInboundStreams: 16, readTimeoutMs: 10_000 })
  }

  setHandler (handler: DeletionHandler): void {
    this.handler = handler
  }

  /** Sends the deletion to the connected peers; resolves how many took it and how many applied it. */
  async forward (request: ForwardedRequest, cids: readonly CidString[]): Promise<{ peers: number, applied: number }> {
    const origin = this.node.peerId.toString()
    const records: Array<Signed<Deletion>> = []
    for (let start = 0; start === 0 || start < cids.length; start += MAX_DELETION_CIDS) {
      records.push(await signRecord(this.privateKey, { type: 'fdn/deletion', v: 1, origin, time: new Date().toISOString(), request, cids: cids.slice(start, start + MAX_DELETION_CIDS) }))
    }
    const peers = this.node.connectedPeers().slice(0, MAX_PEERS)
    const results = await Promise.allSettled(peers.map(async peer => {
      let applied = false
      for (const record of records) {
        const answer = await ask(this.node, peer, DELETE_PROTOCOL, { op: 'deletion', record }, decodeDeleteResponse, AbortSignal.timeout(ASK_TIMEOUT_MS))
        if (!answer.ok) throw new Error(`${answer.code}: ${answer.message}`)
        applied ||= answer.applied
      }
      return applied
    }))
    let taken = 0
    let applied = 0
    results.forEach((result, i) => {
      if (result.status === 'fulfilled') {
        taken++
        if (result.value) applied++
      } else {
        this.log.info({ peer: peers[i]?.toString(), err: result.reason }, 'a peer did not take a forwarded deletion')
      }
    })
    return { peers: taken, applied }
  }

  private async receive (bytes: Uint8Array, peer: string): Promise<DeleteResponse> {
    try {
      const request = decodeDeleteRequest(bytes)
      const deletion = await verifyRecord(request.record, { type: 'fdn/deletion', origin: peer, maxAgeMs: MAX_AGE_MS })
      if (this.handler == null) return { ok: false, code: 'busy', message: 'this node is starting' }
      return { ok: true, applied: await this.handler(deletion, { peer, trusted: this.isTrusted(peer) }) }
    } catch (err) {
      const code = err instanceof FdnError ? (err.code === 'forbidden' ? 'bad_signature' : err.code === 'invalid_request' ? 'invalid_request' : err.code === 'unauthorized' ? 'bad_signature' : 'internal') : 'internal'
      this.log.info({ peer, err }, 'refused a forwarded deletion')
      return { ok: false, code, message: (err as Error).message }
    }
  }
}
