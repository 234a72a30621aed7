/**
 * The media of a post a relay delivers: a `Create` forwarded unchanged
 * (Mastodon relays) or an `Announce` by the relay of the note or of its
 * `Create`, embedded (LitePub relays). The node prefetches these attachments
 * so that the instances behind it find them in the swarm.
 *
 * The activity is untrusted JSON of any shape: every field is read as an own
 * property, checked for its type, and ignored when it is not what a post
 * carries. The walk has a fixed depth (activity → Create → note → attachment →
 * url → Link, never recursive) and every list is read up to a bound, so the
 * work is bounded whatever the input. An Announce of a bare URI gives nothing:
 * fetching the note to learn its media is not done.
 */

/** An attachment the node may fetch: an http(s) URL and what the post says of it. */
export interface Attachment {
  url: string
  /** The declared media type (`mediaType` of the chosen Link, else of the attachment), as given. */
  mediaType?: string
  /** FEP-1311 / FEP-ef61 digest of the media, as given (the download checks it). */
  digestMultibase?: string
}

/** A relayed post with media: who owns it (for Delete) and its attachments. */
export interface RelayedPost {
  /** The author's actor id. */
  actor: string
  /** The note's id. */
  status: string
  attachments: Attachment[]
}

/** Attachments taken from one post (Mastodon allows 4, Misskey 16). */
export const MAX_ATTACHMENTS = 16
/** Entries of `attachment` looked at; the rest of a longer list is ignored. */
const MAX_ATTACHMENT_ENTRIES = 64
/** Entries of a `url` or `attributedTo` list looked at. */
const MAX_LIST_ENTRIES = 16
export const MAX_ATTACHMENT_URL_LENGTH = 2048
export const MAX_DIGEST_MULTIBASE_LENGTH = 128
/** Longer declared media types are ignored (RFC 6838 names are at most 127 + 1 + 127). */
const MAX_MEDIA_TYPE_LENGTH = 255

const CREATE: ReadonlySet<string> = new Set(['Create'])
const ANNOUNCE: ReadonlySet<string> = new Set(['Announce'])
/** Object types that are posts with attachments. */
const POST_TYPES: ReadonlySet<string> = new Set(['Note', 'Article', 'Page', 'Question', 'Video', 'Image', 'Audio', 'Event'])
/** Top-level media types a `url` Link may declare to be chosen among several. */
const MEDIA_TOP_LEVELS: ReadonlySet<string> = new Set(['image', 'video', 'audio'])
/** The ActivityStreams namespace: `type` may come expanded or as a compact IRI. */
const AS_PREFIXES = ['https://www.w3.org/ns/activitystreams#', 'as:']

type JsonObject = Record<string, unknown>

/** From a Create/Announce activity (parsed JSON, untrusted): the post and its attachments, or undefined when it carries no media. Never throws. */
export function relayedPost (activity: unknown): RelayedPost | undefined {
  if (!isObject(activity)) return undefined
  if (hasType(activity, CREATE)) return fromCreate(activity)
  if (!hasType(activity, ANNOUNCE)) return undefined
  const object = field(activity, 'object')
  if (!isObject(object)) return undefined
  if (hasType(object, CREATE)) return fromCreate(object)
  if (!hasType(object, POST_TYPES)) return undefined
  const actor = firstId(field(object, 'attributedTo'))
  return actor === undefined ? undefined : fromPost(object, actor)
}

function fromCreate (create: JsonObject): RelayedPost | undefined {
  const post = field(create, 'object')
  if (!isObject(post) || !hasType(post, POST_TYPES)) return undefined
  const actor = idOf(field(create, 'actor'))
  return actor === undefined ? undefined : fromPost(post, actor)
}

function fromPost (post: JsonObject, actor: string): RelayedPost | undefined {
  const status = idOf(post)
  if (status === undefined) return undefined
  const attachments = attachmentsOf(field(post, 'attachment'))
  return attachments.length === 0 ? undefined : { actor, status, attachments }
}

function attachmentsOf (value: unknown): Attachment[] {
  const attachments: Attachment[] = []
  const seen = new Set<string>()
  for (const entry of listOf(value, MAX_ATTACHMENT_ENTRIES)) {
    const attachment = isObject(entry) ? attachmentOf(entry) : undefined
    if (attachment === undefined || seen.has(attachment.url)) continue
    seen.add(attachment.url)
    attachments.push(attachment)
    if (attachments.length === MAX_ATTACHMENTS) break
  }
  return attachments
}

/**
 * One attachment, of any type, by its `url`: a string, a Link, or a list of
 * them (several renditions: the first http(s) one that is declared as media,
 * or declares nothing). A Link as the attachment itself (Mastodon's preview
 * card: `{type: Link, href}` to a web page) has no `url` and is not media.
 */
function attachmentOf (attachment: JsonObject): Attachment | undefined {
  for (const candidate of listOf(field(attachment, 'url'), MAX_LIST_ENTRIES)) {
    const link = linkOf(candidate)
    if (link === undefined) continue
    const mediaType = link.mediaType ?? mediaTypeOf(field(attachment, 'mediaType'))
    const digestMultibase = link.digestMultibase ?? digestOf(field(attachment, 'digestMultibase'))
    return {
      url: link.url,
      ...(mediaType === undefined ? {} : { mediaType }),
      ...(digestMultibase === undefined ? {} : { digestMultibase })
    }
  }
  return undefined
}

/** A usable `url` entry: an http(s) string, or a Link whose declared type (if any) is media. */
function linkOf (value: unknown): Attachment | undefined {
  if (typeof value === 'string') return isFetchableUrl(value) ? { url: value } : undefined
  if (!isObject(value)) return undefined
  const href = field(value, 'href')
  if (typeof href !== 'string' || !isFetchableUrl(href)) return undefined
  const mediaType = mediaTypeOf(field(value, 'mediaType'))
  if (mediaType !== undefined && !MEDIA_TOP_LEVELS.has(topLevelOf(mediaTypeEssence(mediaType)))) return undefined
  const digestMultibase = digestOf(field(value, 'digestMultibase'))
  return {
    url: href,
    ...(mediaType === undefined ? {} : { mediaType }),
    ...(digestMultibase === undefined ? {} : { digestMultibase })
  }
}

function isFetchableUrl (value: string): boolean {
  if (value.length > MAX_ATTACHMENT_URL_LENGTH) return false
  const url = URL.parse(value)
  return url !== null && (url.protocol === 'https:' || url.protocol === 'http:')
}

function mediaTypeOf (value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_MEDIA_TYPE_LENGTH ? value : undefined
}

function digestOf (value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_DIGEST_MULTIBASE_LENGTH ? value : undefined
}

/** `image/png` of ` Image/PNG; charset=x`: the type without parameters, lower case. */
export function mediaTypeEssence (mediaType: string): string {
  return (mediaType.split(';', 1)[0] ?? '').trim().toLowerCase()
}

/** `image` of `image/png`. */
export function topLevelOf (essence: string): string {
  return essence.split('/', 1)[0] ?? ''
}

/** An actor or object reference: an http(s) id string, or an object with one. */
function idOf (value: unknown): string | undefined {
  const id = isObject(value) ? field(value, 'id') : value
  return typeof id === 'string' && isFetchableUrl(id) ? id : undefined
}

/** The first actor of `attributedTo` (PeerTube lists the Person, then its channel). */
function firstId (value: unknown): string | undefined {
  for (const entry of listOf(value, MAX_LIST_ENTRIES)) {
    const id = idOf(entry)
    if (id !== undefined) return id
  }
  return undefined
}

/** `type` is a string or, in JSON-LD, a list of them; either may be an expanded or compact AS IRI. */
function hasType (object: JsonObject, types: ReadonlySet<string>): boolean {
  return listOf(field(object, 'type'), MAX_LIST_ENTRIES).some(type => typeof type === 'string' && types.has(shortType(type)))
}

function shortType (type: string): string {
  const prefix = AS_PREFIXES.find(prefix => type.startsWith(prefix))
  return prefix === undefined ? type : type.slice(prefix.length)
}

/** A JSON-LD value that may be one item or a list, as a list of at most `max` items. */
function listOf (value: unknown, max: number): readonly unknown[] {
  if (value === undefined || value === null) return []
  return Array.isArray(value) ? value.slice(0, max) : [value]
}

function isObject (value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

/** An own property only: `__proto__`, `constructor` and the like are not fields of the activity. */
function field (object: JsonObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined
}
