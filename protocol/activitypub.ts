import { FdnError } from './errors.ts'

/**
 * The node's ActivityPub surface as pure data: the documents it serves
 * (actor, WebFinger, NodeInfo) and the shape checks an incoming activity
 * passes before anything acts on it. docs/activitypub.md describes them.
 */

export const AS_CONTEXT = 'https://www.w3.org/ns/activitystreams'
export const SECURITY_CONTEXT = 'https://w3id.org/security/v1'
export const AS_PUBLIC = 'https://www.w3.org/ns/activitystreams#Public'
export const ACTIVITY_JSON = 'application/activity+json'
export const LD_JSON = 'application/ld+json; profile="https://www.w3.org/ns/activitystreams"'
export const NODEINFO_SCHEMA = 'http://nodeinfo.diaspora.software/ns/schema/2.1'

export const AP_ROUTES = {
  actor: '/actor',
  inbox: '/actor/inbox',
  outbox: '/actor/outbox',
  followers: '/actor/followers',
  following: '/actor/following',
  sharedInbox: '/inbox',
  webfinger: '/.well-known/webfinger',
  nodeinfoIndex: '/.well-known/nodeinfo',
  nodeinfo: '/nodeinfo/2.1',
  hostMeta: '/.well-known/host-meta'
} as const

/** Largest activity the inbox reads. Mastodon's own posts are a few KiB; a Delete is under one. */
export const MAX_ACTIVITY_BYTES = 256 * 1024
/** Deeper JSON than this is refused before anything walks it. */
export const MAX_JSON_DEPTH = 32
/** Longest ID (a URI) an activity may name. */
export const MAX_ID_CHARS = 2048

/** What the node offers, named in NodeInfo's metadata so instances and crawlers can tell. */
export const CAPABILITIES = ['s3', 'ipfs-gateway', 'trustless-gateway', 'retrieve-api', 'libp2p-swarm', 'activitypub-delete', 'relay-prefetch'] as const

export interface ActorDocumentInput {
  baseUrl: string
  name: string
  publicKeyPem: string
  software: string
  version: string
}

/** The node's `Application` actor, as Mastodon reads actors (publicKey with owner, endpoints.sharedInbox). */
export function actorDocument (input: ActorDocumentInput): Record<string, unknown> {
  const id = `${input.baseUrl}${AP_ROUTES.actor}`
  return {
    '@context': [AS_CONTEXT, SECURITY_CONTEXT],
    id,
    type: 'Application',
    preferredUsername: input.name,
    name: `${input.software} media server`,
    summary: `Media server (${input.software} ${input.version}): it stores and shares the media of the Fediverse instances that use it, and removes an account's media when the account deletes it.`,
    url: input.baseUrl,
    inbox: `${input.baseUrl}${AP_ROUTES.inbox}`,
    outbox: `${input.baseUrl}${AP_ROUTES.outbox}`,
    followers: `${input.baseUrl}${AP_ROUTES.followers}`,
    following: `${input.baseUrl}${AP_ROUTES.following}`,
    endpoints: { sharedInbox: `${input.baseUrl}${AP_ROUTES.sharedInbox}` },
    manuallyApprovesFollowers: true,
    discoverable: false,
    publicKey: { id: `${id}#main-key`, owner: id, publicKeyPem: input.publicKeyPem }
  }
}

/** The actor's key ID: what its outgoing signatures name. */
export function actorKeyId (baseUrl: string): string {
  return `${baseUrl}${AP_ROUTES.actor}#main-key`
}

/** An empty OrderedCollection (outbox, followers, following): the node posts nothing and is followed by nobody it lists. */
export function emptyCollection (id: string): Record<string, unknown> {
  return { '@context': AS_CONTEXT, id, type: 'OrderedCollection', totalItems: 0, orderedItems: [] }
}

/** The WebFinger resource the node answers for, or undefined for any other. */
export function webfingerFor (resource: string, input: { baseUrl: string, name: string }): Record<string, unknown> | undefined {
  const host = new URL(input.baseUrl).host
  const actor = `${input.baseUrl}${AP_ROUTES.actor}`
  const accepted = [`acct:${input.name}@${host}`, actor, input.baseUrl, `${input.baseUrl}/`]
  if (!accepted.some(candidate => candidate.toLowerCase() === resource.toLowerCase())) return undefined
  return {
    subject: `acct:${input.name}@${host}`,
    aliases: [actor],
    links: [
      { rel: 'self', type: ACTIVITY_JSON, href: actor },
      { rel: 'http://webfinger.net/rel/profile-page', type: 'text/html', href: input.baseUrl }
    ]
  }
}

export function nodeinfoIndex (baseUrl: string): Record<string, unknown> {
  return { links: [{ rel: NODEINFO_SCHEMA, href: `${baseUrl}${AP_ROUTES.nodeinfo}` }] }
}

export function nodeinfoDocument (input: { software: string, version: string, homepage: string, tenants: number }): Record<string, unknown> {
  return {
    version: '2.1',
    software: { name: input.software, version: input.version, homepage: input.homepage },
    protocols: ['activitypub'],
    services: { inbound: [], outbound: [] },
    openRegistrations: false,
    // the node hosts no accounts: its users are instances (tenants)
    usage: { users: { total: 0, activeMonth: 0, activeHalfyear: 0 }, localPosts: 0 },
    metadata: { nodeName: `${input.software} media server`, capabilities: [...CAPABILITIES], tenants: input.tenants }
  }
}

/** An incoming activity after its shape was checked: what the inbox dispatches on. */
export interface InboxActivity {
  id: string | undefined
  type: string
  /** The activity's actor ID. */
  actor: string
  /** The object as sent (an ID or an embedded object). */
  object: unknown
  /** The object's ID, whether sent bare or embedded. */
  objectId: string | undefined
  raw: Record<string, unknown>
}

/**
 * Checks an untrusted JSON value is an activity: an object with a string
 * `type`, an `actor` naming one http(s) URI, bounded depth. Anything else
 * is an `invalid_request` with a message saying what was wrong.
 */
export function parseActivity (value: unknown): InboxActivity {
  if (!withinDepth(value, MAX_JSON_DEPTH)) throw new FdnError('invalid_request', `the activity nests deeper than ${MAX_JSON_DEPTH} levels`)
  if (!isRecord(value)) throw new FdnError('invalid_request', 'the activity is not a JSON object')
  const type = typeOf(value)
  if (type == null) throw new FdnError('invalid_request', 'the activity has no type')
  const actor = idOf(value.actor)
  if (actor == null) throw new FdnError('invalid_request', 'the activity has no actor (an http(s) URI or an object with one as id)')
  const id = idOf(value.id)
  return { id, type, actor, object: value.object, objectId: idOf(value.object), raw: value }
}

/** The http(s) URI a value names: itself as a string, or an object's `id`. */
export function idOf (value: unknown): string | undefined {
  const id = typeof value === 'string' ? value : isRecord(value) && typeof value.id === 'string' ? value.id : undefined
  return id != null && isHttpUri(id) ? id : undefined
}

/** An object's type: the string, or the first string of an array (JSON-LD allows several). */
export function typeOf (value: Record<string, unknown>): string | undefined {
  const type = Array.isArray(value.type) ? value.type.find(entry => typeof entry === 'string') : value.type
  return typeof type === 'string' && type.length > 0 && type.length <= 64 ? type : undefined
}

/** An http(s) URI without credentials, spaces or control characters (IDs become index keys split on newlines). */
export function isHttpUri (value: string): boolean {
  if (value.length > MAX_ID_CHARS || /[\u0000-\u0020\u007f]/.test(value)) return false
  try {
    const url = new URL(value)
    return (url.protocol === 'https:' || url.protocol === 'http:') && url.username === '' && url.password === ''
  } catch {
    return false
  }
}

/** Whether two URIs share scheme, host and port: an actor speaks only for objects of its own origin. */
export function sameOrigin (a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin
  } catch {
    return false
  }
}

export function isRecord (value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** Whether a parsed JSON value nests at most `max` levels; iterative, so a hostile depth cannot overflow the stack. */
export function withinDepth (value: unknown, max: number): boolean {
  const stack: Array<[unknown, number]> = [[value, 1]]
  while (stack.length > 0) {
    const [current, depth] = stack.pop()!
    if (typeof current !== 'object' || current === null) continue
    if (depth > max) return false
    for (const child of Array.isArray(current) ? current : Object.values(current)) {
      if (typeof child === 'object' && child !== null) stack.push([child, depth + 1])
    }
  }
  return true
}
