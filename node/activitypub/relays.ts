import { randomUUID } from 'node:crypto'
import { FdnError } from '../../protocol/errors.ts'
import type { RelayRemoved, RelayState, RelayStyle, RelayView } from '../../protocol/relay-api.ts'
import { FetchError } from '../fetcher/errors.ts'
import type { Logger } from '../log.ts'
import type { MediaStore } from '../store/media-store.ts'
import type { RelayRecord } from '../store/records.ts'
import type { Delivery } from './delivery.ts'

export interface RelaysOptions {
  store: MediaStore
  delivery: Delivery
  /** The node's actor, `{publicUrl}/actor`: the Follows' actor and the base of their IDs. A function when the public URL is known only once the daemon listens. */
  actorId: string | (() => string)
  log: Logger
  /** Makes the unguessable part of activity IDs. Default `crypto.randomUUID`. */
  newId?: () => string
}

/** Who signed an incoming activity, as the inbox verified it. */
export interface Signer {
  /** The actor that owns the key. */
  owner: string
  keyId: string
}

const AS_CONTEXT = 'https://www.w3.org/ns/activitystreams'
/** What a Mastodon-style relay is followed for: the public collection. */
const PUBLIC = 'https://www.w3.org/ns/activitystreams#Public'

/**
 * The relays this node subscribes to (`fdn relay`), in the index's `relay`
 * table keyed by the relay's inbox. Subscribing sends a signed Follow; the
 * relay answers later with an Accept or a Reject in the node's inbox, which
 * `onResponse` records. Posts a relay forwards are prefetched only from
 * relays that accepted (`isAcceptedRelay`).
 */
export class Relays {
  private readonly store: MediaStore
  private readonly delivery: Delivery
  private readonly actorId: () => string
  private readonly log: Logger
  private readonly newId: () => string

  constructor (options: RelaysOptions) {
    this.store = options.store
    this.delivery = options.delivery
    const actorId = options.actorId
    this.actorId = typeof actorId === 'string' ? () => actorId : actorId
    this.log = options.log
    this.newId = options.newId ?? randomUUID
  }

  /**
   * Subscribes to a relay. A URL whose path ends in /inbox is a Mastodon-style
   * relay: the node follows the public collection there. Any other URL is a
   * LitePub relay's actor: it is fetched and followed at its `inbox`. The
   * record is `pending` until the relay answers, or `failed` (and this throws)
   * when the Follow cannot be delivered; a relay whose actor cannot be read is
   * not recorded at all. Adding a relay again sends a new Follow.
   */
  async add (url: string): Promise<RelayView> {
    const given = relayUrl(url)
    const { style, inbox, actor } = await this.resolve(given)
    const followId = `${this.actorId()}#follows/${this.newId()}`
    const record: RelayRecord = { url: given.href, inbox, ...(actor == null ? {} : { actor }), style, followId, state: 'pending', since: new Date().toISOString() }
    // recorded before sending: the Accept may arrive before the POST returns
    await this.store.transact(async tx => { tx.put('relay', inbox, record) })
    try {
      await this.delivery.post(inbox, this.follow(record))
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err)
      await this.settle(inbox, followId, 'failed', reason)
      this.log.warn({ relay: inbox, err: reason }, 'relay: the Follow was not delivered')
      throw new FdnError(err instanceof FetchError ? err.code : 'internal', `the relay did not take the Follow: ${reason}`, { cause: err })
    }
    this.log.info({ relay: inbox, style }, 'relay: Follow sent, waiting for its answer')
    return view(await this.store.db.get('relay', inbox) ?? record)
  }

  async list (): Promise<RelayView[]> {
    const relays: RelayView[] = []
    for await (const [, record] of this.store.db.entries('relay')) relays.push(view(record))
    return relays
  }

  /**
   * Unsubscribes: sends an Undo of the Follow, best effort (a relay that is
   * gone is removed all the same, with a warning), and forgets the relay.
   * `url` is the inbox, or the URL it was added with.
   */
  async remove (url: string): Promise<RelayRemoved> {
    const record = await this.find(url)
    if (record == null) throw new FdnError('not_found', `no relay ${url}: 'fdn relay list' shows the relays this node follows`)
    const undo = {
      '@context': AS_CONTEXT,
      id: `${this.actorId()}#undo/${this.newId()}`,
      type: 'Undo',
      actor: this.actorId(),
      object: this.follow(record)
    }
    let warning: string | undefined
    try {
      await this.delivery.post(record.inbox, undo)
    } catch (err) {
      warning = `the relay did not take the Undo (${err instanceof Error ? err.message : String(err)}): it may go on sending posts, which are no longer prefetched`
      this.log.warn({ relay: record.inbox, err: warning }, 'relay: the Undo was not delivered')
    }
    await this.store.transact(async tx => { tx.del('relay', record.inbox) })
    this.log.info({ relay: record.inbox }, 'relay removed')
    return { ...view(record), undoDelivered: warning == null, ...(warning == null ? {} : { warning }) }
  }

  /**
   * The inbox's hook for Accept and Reject: records the relay's answer when the
   * activity names (by ID, or embedded) the Follow the node sent last, and
   * the signer is that relay. Returns whether it was such an answer.
   */
  async onResponse (activity: { type: 'Accept' | 'Reject', object: unknown }, signer: Signer): Promise<boolean> {
    const followId = objectId(activity.object)
    if (followId == null) return false
    let match: RelayRecord | undefined
    for await (const [, record] of this.store.db.entries('relay')) {
      if (record.followId === followId) { match = record; break }
    }
    if (match == null) return false
    if (!signedByRelay(match, signer)) {
      this.log.warn({ relay: match.inbox, keyId: signer.keyId }, `relay: an ${activity.type} of its Follow signed by someone else, ignored`)
      return false
    }
    const state = activity.type === 'Accept' ? 'accepted' : 'rejected'
    await this.settle(match.inbox, followId, state)
    this.log.info({ relay: match.inbox }, `relay: ${state}`)
    return true
  }

  /**
   * The inbox's hook for Follow: a LitePub relay follows its subscribers
   * back and delivers only once that Follow is accepted. A Follow of the
   * node's actor signed by a relay the node follows is accepted (an Accept
   * with the Follow embedded, to the relay's inbox); anyone else's Follow is
   * left unanswered, since the node has no posts to share. Returns whether
   * it accepted.
   */
  async onFollow (follow: { id: string | undefined, object: unknown, raw: Record<string, unknown> }, signer: Signer): Promise<boolean> {
    if (objectId(follow.object) !== this.actorId() || follow.id == null) return false
    let match: RelayRecord | undefined
    for await (const [, record] of this.store.db.entries('relay')) {
      if (record.state !== 'failed' && record.state !== 'rejected' && signedByRelay(record, signer)) { match = record; break }
    }
    if (match == null) return false
    const accept = { '@context': AS_CONTEXT, id: `${this.actorId()}#accepts/${this.newId()}`, type: 'Accept', actor: this.actorId(), object: follow.raw }
    try {
      await this.delivery.post(match.inbox, accept)
    } catch (err) {
      this.log.warn({ relay: match.inbox, err: err instanceof Error ? err.message : String(err) }, 'relay: the Accept of its Follow was not delivered')
      return false
    }
    this.log.info({ relay: match.inbox }, 'relay: accepted its Follow of this node')
    return true
  }

  /** Whether `signer` is a relay that accepted the node's Follow: only their Create and Announce are prefetched. */
  async isAcceptedRelay (signer: Signer): Promise<boolean> {
    for await (const [, record] of this.store.db.entries('relay')) {
      if (record.state === 'accepted' && signedByRelay(record, signer)) return true
    }
    return false
  }

  /** Where and how to follow a relay, from the URL the operator gave. */
  private async resolve (given: URL): Promise<{ style: RelayStyle, inbox: string, actor?: string }> {
    if (given.pathname.endsWith('/inbox')) return { style: 'mastodon', inbox: given.href }
    let doc: unknown
    try {
      doc = await this.delivery.fetchJson(given.href)
    } catch (err) {
      if (!(err instanceof FetchError)) throw err
      throw new FdnError(err.code, `cannot read the relay's actor (give a Mastodon-style relay's URL ending in /inbox): ${err.message}`, { cause: err })
    }
    const { id, inbox } = (typeof doc === 'object' && doc !== null ? doc : {}) as { id?: unknown, inbox?: unknown }
    const actor = typeof id === 'string' ? httpUrl(id) : undefined
    const inboxUrl = typeof inbox === 'string' ? httpUrl(inbox) : undefined
    if (actor == null || inboxUrl == null) {
      throw new FdnError('invalid_request', `${given.href} is not an ActivityPub actor with an id and an inbox (a Mastodon-style relay's URL ends in /inbox)`)
    }
    // the document speaks for its own host only
    if (actor.host !== given.host) throw new FdnError('invalid_request', `${given.href} names an actor on another host (${actor.href})`)
    return { style: 'litepub', inbox: inboxUrl.href, actor: actor.href }
  }

  private follow (record: RelayRecord): object {
    return {
      '@context': AS_CONTEXT,
      id: record.followId,
      type: 'Follow',
      actor: this.actorId(),
      object: record.actor ?? PUBLIC,
      ...(record.actor == null ? {} : { to: [record.actor] })
    }
  }

  /** Records the answer to (or the failure of) a Follow, unless a newer Follow replaced it meanwhile. */
  private async settle (inbox: string, followId: string, state: RelayState, lastError?: string): Promise<void> {
    await this.store.transact(async tx => {
      const record = await tx.get('relay', inbox)
      if (record?.followId !== followId || (record.state === state && record.lastError === lastError)) return
      const { lastError: _previous, ...rest } = record
      tx.put('relay', inbox, { ...rest, state, since: new Date().toISOString(), ...(lastError == null ? {} : { lastError }) })
    })
  }

  /** A relay by its inbox, or by the URL it was added with. */
  private async find (url: string): Promise<RelayRecord | undefined> {
    const href = httpUrl(url)?.href ?? url
    const byInbox = await this.store.db.get('relay', href)
    if (byInbox != null) return byInbox
    for await (const [, record] of this.store.db.entries('relay')) {
      if (record.url === href || record.actor === href) return record
    }
    return undefined
  }
}

/**
 * Whether a signer speaks for a relay. A LitePub relay is an actor: its own
 * key must have signed. A Mastodon-style relay is known by its inbox alone and
 * signs as an actor of its own on the same host; that host is the relay's
 * (a Pleroma relay, by contrast, shares its host with users, hence the
 * stricter rule there).
 */
function signedByRelay (record: RelayRecord, signer: Signer): boolean {
  if (record.style === 'litepub') return record.actor != null && signer.owner === record.actor
  return hostOf(signer.keyId) === hostOf(record.inbox)
}

function hostOf (url: string): string | undefined {
  return httpUrl(url)?.host
}

function httpUrl (raw: string): URL | undefined {
  try {
    const url = new URL(raw)
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined
  } catch {
    return undefined
  }
}

function relayUrl (raw: string): URL {
  const url = httpUrl(raw)
  if (url == null) throw new FdnError('invalid_request', `expected the relay's http(s) URL (its inbox, or its actor), got '${raw.slice(0, 200)}'`)
  return url
}

/** The ID an Accept or Reject names: the object itself, or the embedded object's `id`. */
function objectId (object: unknown): string | undefined {
  if (typeof object === 'string') return object
  const id = typeof object === 'object' && object !== null ? (object as { id?: unknown }).id : undefined
  return typeof id === 'string' ? id : undefined
}

function view (record: RelayRecord): RelayView {
  return { ...record }
}
