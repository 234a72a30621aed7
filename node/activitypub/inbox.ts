import type { IncomingHttpHeaders } from 'node:http'
import { isRecord, parseActivity, sameOrigin } from '../../protocol/activitypub.ts'
import type { InboxActivity } from '../../protocol/activitypub.ts'
import type { ActivityPubCounts } from '../../protocol/admin-api.ts'
import { relayedPost } from '../../protocol/ap-attachments.ts'
import type { RelayedPost } from '../../protocol/ap-attachments.ts'
import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import { MAX_FORWARDED_BODY_BYTES } from '../../protocol/swarm-records.ts'
import type { Deletion, ForwardedRequest } from '../../protocol/swarm-records.ts'
import type { Logger } from '../log.ts'
import type { DeletionOutcome, DeletionTarget } from './deletions.ts'
import { SignatureError } from './http-signatures.ts'
import { KeyFetchError } from './keys.ts'
import { hasLdSignature } from './ld-signature.ts'
import type { IncomingSignedRequest, VerifiedSignature } from './http-signatures.ts'

/** A POST to the inbox, with the exact body bytes its digest covers. */
export interface InboxRequest {
  method: string
  /** Path and query as received. */
  url: string
  /** How the node was reached (FDN_PUBLIC_URL's scheme): RFC 9421 signs the full target URI. */
  scheme: 'http' | 'https'
  headers: IncomingHttpHeaders
  body: Buffer
}

export interface InboxAnswer {
  status: 202 | 400 | 401 | 403 | 503
  code: string
  message: string
}

/** Checks signatures: one verifier per scheme the request was addressed with. */
export type VerifySignature = (request: IncomingSignedRequest, scheme: 'http' | 'https') => Promise<VerifiedSignature>

/** The relays this node follows, as the inbox needs them (node/activitypub/relays.ts). */
export interface RelayDirectory {
  onFollow: (follow: { id: string | undefined, object: unknown, raw: Record<string, unknown> }, signer: { owner: string, keyId: string }) => Promise<boolean>
  onResponse: (activity: { type: 'Accept' | 'Reject', object: unknown }, signer: { owner: string, keyId: string }) => Promise<boolean>
  isAcceptedRelay: (signer: { owner: string, keyId: string }) => Promise<boolean>
}

export interface InboxOptions {
  verify: VerifySignature
  deletions: { apply: (target: DeletionTarget) => Promise<DeletionOutcome>, dropCached: (cids: readonly CidString[], actor: string, peer: string) => Promise<number> }
  relays: RelayDirectory
  prefetch: { offer: (post: RelayedPost) => number }
  /** Checks the author's Linked Data signature (RsaSignature2017) an activity carries, as relays forward them. */
  verifyLd: (activity: Record<string, unknown>) => Promise<{ keyId: string, owner: string }>
  /**
   * Whether the server of a deleted object says it is gone (404 or 410):
   * what a Delete a relay forwarded is checked with, since the relay's own
   * signature does not speak for the actor.
   */
  isGone: (uri: string) => Promise<boolean>
  /** A signed GET of an ActivityPub object (a note a relay announced by its ID alone). */
  fetchObject: (uri: string) => Promise<unknown>
  /** Sends an applied Delete to the swarm peers. */
  forward: (request: ForwardedRequest, cids: readonly CidString[]) => Promise<{ peers: number, applied: number }>
  log: Logger
  /** Activities checked at once; more wait, up to `maxWaiting`, then get 503. */
  concurrency?: number
  maxWaiting?: number
}

/** Notes fetched at once for Announces that name them by ID; more Announces meanwhile are not fetched. */
const MAX_NOTE_FETCHES = 8

/** Headers a forwarded Delete carries: what any signature scheme covers, and the digests. */
const FORWARDED_HEADERS = ['host', 'date', 'digest', 'content-digest', 'signature', 'signature-input', 'authorization', 'content-type']

/**
 * The node's inbox (and shared inbox). Every activity must carry a valid
 * HTTP signature; then:
 * - `Delete` signed by its actor, of a status of the actor's own origin or
 *   of the actor itself: that owner's media is removed here and the Delete
 *   is forwarded to the swarm. Signed by anyone else: 403, nothing changes.
 * - `Accept`/`Reject` of one of our relay Follows: the relay's state.
 * - `Create`/`Announce` delivered by an accepted relay: the post's
 *   attachments are queued for prefetch.
 * - `Follow` of the node by a relay it follows (LitePub relays follow back):
 *   accepted.
 * - anything else (`Undo`, `Update`, `Follow`, `Like`…): accepted and ignored.
 */
export class Inbox {
  private readonly options: InboxOptions
  private readonly concurrency: number
  private readonly maxWaiting: number
  private active = 0
  private readonly waiting: Array<() => void> = []
  private readonly noteFetches = new Set<Promise<void>>()
  private readonly counts: Omit<ActivityPubCounts, 'prefetch' | 'relays'> = {
    inbox: { received: 0, accepted: 0, refused: 0, busy: 0, notesFetched: 0, notesSkipped: 0 },
    deletions: { received: 0, applied: 0, refused: 0, fromPeers: 0, forwardedTo: 0, removedBlobs: 0 }
  }

  constructor (options: InboxOptions) {
    this.options = options
    this.concurrency = options.concurrency ?? 16
    this.maxWaiting = options.maxWaiting ?? 256
  }

  counters (): Omit<ActivityPubCounts, 'prefetch' | 'relays'> {
    return { inbox: { ...this.counts.inbox }, deletions: { ...this.counts.deletions } }
  }

  async receive (request: InboxRequest): Promise<InboxAnswer> {
    this.counts.inbox.received++
    if (this.active >= this.concurrency && this.waiting.length >= this.maxWaiting) {
      this.counts.inbox.busy++
      return { status: 503, code: 'busy', message: 'the inbox has too many activities in flight: retry later' }
    }
    await this.slot()
    try {
      const answer = await this.handle(request)
      if (answer.status === 202) this.counts.inbox.accepted++
      else this.counts.inbox.refused++
      return answer
    } finally {
      this.release()
    }
  }

  private async handle (request: InboxRequest): Promise<InboxAnswer> {
    let activity: InboxActivity
    try {
      activity = parseActivity(JSON.parse(request.body.toString('utf8')))
    } catch (err) {
      return { status: 400, code: 'invalid_activity', message: err instanceof SyntaxError ? `the body is not JSON: ${err.message}` : (err as Error).message }
    }
    const isDelete = activity.type === 'Delete'
    if (isDelete) this.counts.deletions.received++
    let signer: VerifiedSignature
    try {
      signer = await this.options.verify(signedRequest(request), request.scheme)
    } catch (err) {
      if (isDelete) this.counts.deletions.refused++
      if (err instanceof SignatureError) {
        this.options.log.info({ code: err.code, actor: activity.actor, type: activity.type, reason: err.message, ...detailOf(err) }, 'inbox: refused a signature')
        return { status: 401, code: err.code, message: err.message }
      }
      throw err
    }
    switch (activity.type) {
      case 'Delete': return await this.delete(activity, signer, request)
      case 'Accept':
      case 'Reject':
        await this.options.relays.onResponse({ type: activity.type, object: activity.object }, signer)
        return accepted(`${activity.type} noted`)
      case 'Create':
      case 'Announce': return await this.relayed(activity, signer)
      case 'Follow':
        if (signer.owner !== activity.actor) return { status: 403, code: 'forbidden', message: `the Follow is signed by ${signer.owner}, not by its actor ${activity.actor}` }
        return accepted(await this.options.relays.onFollow({ id: activity.id, object: activity.object, raw: activity.raw }, signer) ? 'Follow of a followed relay accepted' : 'Follow noted: this node shares no posts')
      default: return accepted(`${activity.type} activities change nothing here`)
    }
  }

  private async delete (activity: InboxActivity, signer: VerifiedSignature, request: InboxRequest): Promise<InboxAnswer> {
    let target: DeletionTarget
    try {
      target = deletionTarget(activity)
      if (signer.owner !== activity.actor) return await this.relayedDelete(activity, signer, target)
    } catch (err) {
      // only refusals are the sender's fault; a store failure is the node's, and answered as one
      if (!(err instanceof FdnError && err.code === 'forbidden')) throw err
      return this.refuseDelete(activity, signer, err)
    }
    const outcome = await this.options.deletions.apply(target)
    this.counted(outcome)
    if (request.body.length <= MAX_FORWARDED_BODY_BYTES) {
      this.options.forward(forwardedRequest(request), outcome.cids).then(
        ({ peers }) => { this.counts.deletions.forwardedTo += peers },
        (err: unknown) => { this.options.log.warn({ err }, 'could not forward a Delete to the swarm') }
      )
    }
    return accepted(`Delete applied: ${describeOutcome(outcome)}`)
  }

  /**
   * A Delete signed by someone other than its actor is applied only when a
   * followed relay delivered it (relays forward an author's Delete with
   * their own signature) and the author vouches for it: its Linked Data
   * signature (Mastodon signs public Deletes so relays can pass them on),
   * or, without one, the object's server answering that it is gone. It is
   * not forwarded: peers check HTTP signatures only.
   */
  private async relayedDelete (activity: InboxActivity, signer: VerifiedSignature, target: DeletionTarget): Promise<InboxAnswer> {
    if (!await this.options.relays.isAcceptedRelay(signer)) {
      throw new FdnError('forbidden', `the Delete is signed by ${signer.owner}, not by its actor ${activity.actor}: only an owner deletes its media`)
    }
    const object = target.status ?? target.actor
    let proof: string
    if (hasLdSignature(activity.raw)) {
      let author: { owner: string }
      try {
        author = await this.options.verifyLd(activity.raw)
      } catch (err) {
        if (!(err instanceof SignatureError)) throw err
        this.options.log.info({ code: err.code, actor: activity.actor, reason: err.message, ...detailOf(err) }, 'inbox: refused a Linked Data signature')
        this.counts.deletions.refused++
        return { status: 401, code: err.code, message: `the Delete's Linked Data signature does not verify: ${err.message}` }
      }
      if (author.owner !== activity.actor) throw new FdnError('forbidden', `the Delete's Linked Data signature is by ${author.owner}, not by its actor ${activity.actor}`)
      proof = 'signed by its actor'
    } else {
      if (!await this.options.isGone(object)) {
        this.counts.deletions.refused++
        return accepted(`Delete relayed by ${signer.owner} ignored: it carries no signature of its actor and ${object} is not gone at its server`)
      }
      proof = `${object} is gone at its server`
    }
    const outcome = await this.options.deletions.apply(target)
    this.counted(outcome)
    return accepted(`relayed Delete applied (${proof}): ${describeOutcome(outcome)}`)
  }

  private refuseDelete (activity: InboxActivity, signer: VerifiedSignature, err: Error): InboxAnswer {
    this.counts.deletions.refused++
    this.options.log.info({ actor: activity.actor, signer: signer.owner, reason: err.message }, 'inbox: refused a Delete')
    return { status: 403, code: 'forbidden', message: err.message }
  }

  private counted (outcome: DeletionOutcome): void {
    this.counts.deletions.applied++
    this.counts.deletions.removedBlobs += outcome.freed.length
  }

  /** A deletion a swarm peer forwarded: the owner's own signature is checked again here. */
  async receiveForwarded (deletion: Deletion, from: { peer: string, trusted: boolean }): Promise<boolean> {
    this.counts.deletions.received++
    const { request } = deletion
    try {
      const body = Buffer.from(request.body, 'base64')
      const activity = parseActivity(JSON.parse(body.toString('utf8')))
      if (activity.type !== 'Delete') throw new FdnError('invalid_request', `a forwarded ${activity.type} is not a Delete`)
      const signer = await this.options.verify({ method: request.method, url: request.url, headers: request.headers, body }, request.scheme)
      const target = deletionTarget(activity)
      if (signer.owner !== activity.actor) throw new FdnError('forbidden', `the forwarded Delete is signed by ${signer.owner}, not by its actor ${activity.actor}`)
      const outcome = await this.options.deletions.apply(target)
      const dropped = from.trusted ? await this.options.deletions.dropCached(deletion.cids, target.actor, from.peer) : 0
      this.counted(outcome)
      this.counts.deletions.fromPeers++
      this.options.log.info({ peer: from.peer, ...target, owners: outcome.owners, freed: outcome.freed.length, droppedCache: dropped }, 'applied a Delete forwarded by a peer')
      return true
    } catch (err) {
      this.counts.deletions.refused++
      if (err instanceof SignatureError || err instanceof SyntaxError) throw new FdnError('forbidden', `the forwarded Delete does not verify: ${err.message}`)
      throw err
    }
  }

  private async relayed (activity: InboxActivity, signer: VerifiedSignature): Promise<InboxAnswer> {
    if (!await this.options.relays.isAcceptedRelay(signer)) return accepted(`${activity.type} ignored: only posts from followed relays are prefetched`)
    const post = relayedPost(activity.raw)
    if (post != null) return accepted(`${this.options.prefetch.offer(post)} of ${post.attachments.length} attachments queued for prefetch`)
    const announced = activity.type === 'Announce' && typeof activity.object === 'string' ? activity.objectId : undefined
    if (announced == null) return accepted(`${activity.type} carries no media to prefetch`)
    if (this.noteFetches.size >= MAX_NOTE_FETCHES) {
      this.counts.inbox.notesSkipped++
      return accepted(`Announce of ${announced} not fetched: ${MAX_NOTE_FETCHES} announced notes are being fetched already`)
    }
    const fetching: Promise<void> = this.fetchAnnounced(announced).finally(() => { this.noteFetches.delete(fetching) })
    this.noteFetches.add(fetching)
    return accepted(`Announce of ${announced}: the note is fetched, then its attachments are queued for prefetch`)
  }

  /**
   * LitePub relays announce a post by its ID alone: the note is fetched
   * from its server (signed GET, SSRF-safe, 1 MiB) and must answer for that
   * ID, so a relay cannot pass off another server's media as the post's.
   */
  private async fetchAnnounced (uri: string): Promise<void> {
    try {
      const note = await this.options.fetchObject(uri)
      if (!isRecord(note) || note.id !== uri) throw new FdnError('invalid_request', `the document at ${uri} is not the object with that id`)
      const post = relayedPost({ type: 'Announce', object: note })
      this.counts.inbox.notesFetched++
      if (post == null) return
      if (!sameOrigin(post.actor, uri)) throw new FdnError('invalid_request', `${uri} is attributed to ${post.actor}, on another server`)
      this.options.prefetch.offer(post)
    } catch (err) {
      this.counts.inbox.notesSkipped++
      this.options.log.info({ note: uri, err: (err as Error).message }, 'inbox: could not fetch an announced note')
    }
  }

  private async slot (): Promise<void> {
    if (this.active < this.concurrency) {
      this.active++
      return
    }
    await new Promise<void>(resolve => { this.waiting.push(resolve) })
  }

  private release (): void {
    const next = this.waiting.shift()
    if (next != null) next()
    else this.active--
  }
}

/**
 * What a Delete may remove: an object that is the actor deletes the actor's
 * media, any other object must be a status of the actor's own origin (an
 * actor speaks for its server's objects only, as Mastodon checks). Only
 * media recorded with that actor as owner is touched.
 */
function deletionTarget (activity: InboxActivity): DeletionTarget {
  const object = activity.objectId
  if (object == null) throw new FdnError('forbidden', 'the Delete names no object (an http(s) URI, or an object with one as id)')
  if (object === activity.actor) return { actor: activity.actor }
  if (!sameOrigin(object, activity.actor)) throw new FdnError('forbidden', `${activity.actor} cannot delete ${object}: it is on another server`)
  return { actor: activity.actor, status: object }
}

function describeOutcome (outcome: DeletionOutcome): string {
  return `${outcome.owners} owner records, ${outcome.objects} keys, ${outcome.media + outcome.cached} copies released, ${outcome.freed.length} blobs freed`
}

function signedRequest (request: InboxRequest): IncomingSignedRequest {
  return { method: request.method, url: request.url, headers: request.headers, body: request.body }
}

function forwardedRequest (request: InboxRequest): ForwardedRequest {
  const headers: Record<string, string> = {}
  for (const name of FORWARDED_HEADERS) {
    const value = request.headers[name]
    if (typeof value === 'string') headers[name] = value
  }
  return { method: request.method, scheme: request.scheme, url: request.url, headers, body: request.body.toString('base64') }
}

/** Why a key could not be fetched: for the log only, never for the sender. */
function detailOf (err: SignatureError): { detail?: string } {
  return err instanceof KeyFetchError ? { detail: err.detail } : {}
}

function accepted (message: string): InboxAnswer {
  return { status: 202, code: 'accepted', message }
}
