import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import { MAX_DELETION_CIDS, signRecord, verifyRecord } from '../../protocol/swarm-records.ts'
import type { Deletion, ForwardedRequest, Signed } from '../../protocol/swarm-records.ts'
import { decodeDeleteRequest, decodeDeleteResponse, DELETE_PROTOCOL } from '../../protocol/swarm-wire.ts'
import type { DeleteResponse } from '../../protocol/swarm-wire.ts'
import type { Logger } from '../log.ts'
import type { PendingDeletion, PendingDeletions } from './pending-deletions.ts'
import type { SwarmNode } from './swarm-node.ts'
import { ask, serve } from './wire.ts'

/** Checks a forwarded deletion (the owner's signature) and carries it out; resolves whether it was applied. */
export type DeletionHandler = (deletion: Deletion, from: { peer: string, trusted: boolean }) => Promise<boolean>

/** A forwarded deletion older than this is refused: the owner's own signature has a shorter window anyway. */
const MAX_AGE_MS = 60 * 60 * 1000
const ASK_TIMEOUT_MS = 10_000
/** Connected peers a deletion is sent to. */
const MAX_PEERS = 64
/** A trusted peer that missed a deletion is asked again (every FDN_REPAIR_INTERVAL) for this long: past it the owner's own signature (5 min + 1 h of skew) no longer verifies anyway. */
const RETRY_FOR_MS = 60 * 60 * 1000
/** Deletions waiting for a peer at most; the oldest go first. */
const MAX_PENDING = 1000

/**
 * `/fdn/delete/1.0.0`: a node that applied an owner's signed Delete sends
 * it, signed by its identity, to every connected peer and every trusted
 * peer; each checks both signatures and removes its own copies. A trusted
 * peer that cannot be reached is asked again every FDN_REPAIR_INTERVAL for
 * an hour, across restarts (`PendingDeletions`). Peers do not pass it on: the origin
 * reaches its peers, which is the swarm of a friendly group
 * (docs/activitypub.md says what a wider swarm would need).
 */
export class DeletionForwarder {
  private readonly node: SwarmNode
  private readonly privateKey: PrivateKey
  private readonly trusted: ReadonlySet<string>
  private readonly log: Logger
  private handler: DeletionHandler | undefined
  /** Trusted peers that missed deletions, with the records still to send and when they were made. */
  private readonly pending: PendingDeletion[] = []
  /** Where `pending` is kept across restarts. */
  private readonly journal: PendingDeletions
  private readonly retryIntervalMs: number
  private retrying: NodeJS.Timeout | undefined
  private sweeping = false

  private readonly dropHeld: (origin: string, cid: CidString) => Promise<void>

  constructor (options: { node: SwarmNode, privateKey: PrivateKey, trusted: ReadonlySet<string>, retryIntervalMs: number, dropHeld: (origin: string, cid: CidString) => Promise<void>, journal: PendingDeletions, log: Logger }) {
    this.node = options.node
    this.journal = options.journal
    this.dropHeld = options.dropHeld
    this.retryIntervalMs = options.retryIntervalMs
    this.privateKey = options.privateKey
    this.trusted = options.trusted
    this.log = options.log
  }

  async start (): Promise<void> {
    this.pending.push(...(await this.journal.load()).filter(entry => Date.now() - entry.since < RETRY_FOR_MS))
    await serve(this.node, DELETE_PROTOCOL, async (bytes, peer) => await this.receive(bytes, peer.toString()), { maxInboundStreams: 16, readTimeoutMs: 10_000 })
    this.retrying = setInterval(() => { void this.retry() }, this.retryIntervalMs)
    this.retrying.unref()
  }

  stop (): void {
    clearInterval(this.retrying)
    this.pending.length = 0
  }

  /** Deletions still waiting for a trusted peer. */
  get waiting (): number {
    return this.pending.length
  }

  setHandler (handler: DeletionHandler): void {
    this.handler = handler
  }

  /** Sends the deletion to the connected and the trusted peers; resolves how many took it and how many applied it. */
  async forward (request: ForwardedRequest, cids: readonly CidString[]): Promise<{ peers: number, applied: number }> {
    const origin = this.node.peerId.toString()
    const records: Array<Signed<Deletion>> = []
    for (let start = 0; start === 0 || start < cids.length; start += MAX_DELETION_CIDS) {
      records.push(await signRecord(this.privateKey, { type: 'fdn/deletion', v: 1, origin, time: new Date().toISOString(), request, cids: cids.slice(start, start + MAX_DELETION_CIDS) }))
    }
    const peers = [...new Set([...this.node.connectedPeers().map(peer => peer.toString()), ...this.trusted])].slice(0, MAX_PEERS)
    const results = await Promise.allSettled(peers.map(async peer => await this.send(peer, records)))
    let taken = 0
    let applied = 0
    results.forEach((result, i) => {
      const peer = peers[i]!
      if (result.status === 'fulfilled') {
        taken++
        if (result.value) applied++
        return
      }
      this.log.info({ peer, err: result.reason }, 'a peer did not take a forwarded deletion')
      if (this.trusted.has(peer)) this.keep(peer, records)
    })
    if (results.some((result, i) => result.status === 'rejected' && this.trusted.has(peers[i]!))) await this.journal.save(this.pending)
    return { peers: taken, applied }
  }

  private async send (peer: string, records: Array<Signed<Deletion>>): Promise<boolean> {
    let applied = false
    for (const record of records) {
      const answer = await ask(this.node, peerIdFromString(peer), DELETE_PROTOCOL, { op: 'deletion', record }, decodeDeleteResponse, AbortSignal.timeout(ASK_TIMEOUT_MS))
      // a refusal is final: the peer read the record and will not apply it
      if (!answer.ok) throw new FdnError('forbidden', `${answer.code}: ${answer.message}`)
      applied ||= answer.applied
    }
    return applied
  }

  private keep (peer: string, records: Array<Signed<Deletion>>): void {
    this.pending.push({ peer, records, since: Date.now() })
    if (this.pending.length > MAX_PENDING) this.pending.splice(0, this.pending.length - MAX_PENDING)
  }

  /** Asks the trusted peers that missed deletions again, until they take them or the hour is over. */
  private async retry (): Promise<void> {
    if (this.sweeping || this.pending.length === 0) return
    this.sweeping = true
    try {
      const due = this.pending.splice(0, this.pending.length).filter(entry => Date.now() - entry.since < RETRY_FOR_MS)
      for (const entry of due) {
        try {
          await this.send(entry.peer, entry.records)
          this.log.info({ peer: entry.peer }, 'a trusted peer took a deletion it had missed')
        } catch (err) {
          if (!(err instanceof FdnError)) this.pending.push(entry)
        }
      }
      await this.journal.save(this.pending)
    } finally {
      this.sweeping = false
    }
  }

  private async receive (bytes: Uint8Array, peer: string): Promise<DeleteResponse> {
    try {
      const request = decodeDeleteRequest(bytes)
      const deletion = await verifyRecord(request.record, { type: 'fdn/deletion', origin: peer, maxAgeMs: MAX_AGE_MS })
      if (this.handler == null) return { ok: false, code: 'busy', message: 'this node is starting' }
      const trusted = this.trusted.has(peer)
      const applied = await this.handler(deletion, { peer, trusted })
      // the origin removed these blobs: the copies held for it go as a release would take them (which it may not reach us with)
      if (applied && trusted) for (const cid of deletion.cids) await this.dropHeld(peer, cid)
      return { ok: true, applied }
    } catch (err) {
      const code = err instanceof FdnError ? (err.code === 'forbidden' ? 'bad_signature' : err.code === 'invalid_request' ? 'invalid_request' : err.code === 'unauthorized' ? 'bad_signature' : 'internal') : 'internal'
      this.log.info({ peer, err }, 'refused a forwarded deletion')
      return { ok: false, code, message: (err as Error).message }
    }
  }
}
