import type { CidString } from '../../protocol/cid.ts'

/** One stored blob: what DESIGN.md's `blob` table holds. */
export interface BlobRecord {
  cid: CidString
  size: number
  sha256: string
  md5: string
  mediaType: string
  firstSeen: string
  refcount: number
  /** References that make the blob readable without credentials (public-read objects, operator pins). */
  publicRefs: number
  /** Distinct blocks of the DAG and their bytes on disk. */
  blocks: number
  storedBytes: number
}

/**
 * Who holds a blob. `pin` is an operator's `fdn add`, `object` a tenant's S3
 * key, `media` a tenant's media held through the retrieve API without a key
 * (holder: the tenant), `part` an uploaded part of an unfinished multipart upload,
 * `manifest` a tenant's published index (holder: the tenant). Copies kept for
 * the swarm: `replica` is a copy held for another node (holder: its peer
 * ID), `cache` a blob fetched from peers for a gateway read (holder `swarm`),
 * evicted least recently used.
 */
export type RefKind = 'pin' | 'object' | 'media' | 'part' | 'manifest' | 'replica' | 'cache'

/** References that make this node the blob's origin: it provides and replicates them. */
export const ORIGIN_KINDS: readonly RefKind[] = ['pin', 'object', 'media', 'manifest']

/** The tenant a reference belongs to, for the kinds a tenant holds. */
export function refTenant (ref: { kind: RefKind, holder: string }): string | undefined {
  switch (ref.kind) {
    case 'object': return ref.holder.slice(0, ref.holder.indexOf('/'))
    case 'media':
    case 'manifest': return ref.holder
    default: return undefined
  }
}

/** The retrieve API's URL cache: what a URL gave last time. */
export interface UrlRecord {
  cid: CidString
  /** ISO time it was resolved. */
  at: string
}

/** A tenant's media held without a key (`ref` kind `media`). */
export interface MediaRecord {
  size: number
  /** The URL it was retrieved from (none when added by hash). */
  url?: string
  /** Also held for a reason no owner's Delete ends (added by hash, retrieved without an owner): its owners' Deletes leave it. */
  unowned?: true
  at: string
}

/** Who owns a retrieved blob in ActivityPub terms (the actor's signed Delete removes it). */
export interface OwnerRecord {
  /** The tenant that retrieved it; empty for the node's own prefetch of a relayed post. */
  tenant: string
  url: string
  /** The key it was stored under, when the retrieve named one. */
  key?: string
  at: string
}

/** A relay this node subscribed to (`relay` table, keyed by the relay's inbox URL). */
export interface RelayRecord {
  /** What the operator gave: the relay's actor or inbox URL. */
  url: string
  inbox: string
  /** The relay's actor ID (LitePub relays; Mastodon relays are known by their inbox only). */
  actor?: string
  style: 'mastodon' | 'litepub'
  /** The ID of the Follow this node sent: an Accept or Reject names it. */
  followId: string
  state: 'pending' | 'accepted' | 'rejected' | 'failed'
  /** ISO time of the last state change. */
  since: string
  lastError?: string
}

/** What an owner's signed Delete removed: public paths answer 410 Gone for it (`gone` table: `cid:{cid}` or `key:{tenant}/{key}`). */
export interface GoneRecord {
  /** The actor whose Delete removed it. */
  actor: string
  at: string
}

/** The `gone` key of a blob removed by its owner's Delete. */
export function goneBlobKey (cid: string): string {
  return `cid:${cid}`
}

/** The `gone` key of a tenant's key removed by its owner's Delete (`objectId` is `{tenant}/{key}`). */
export function goneObjectKey (objectId: string): string {
  return `key:${objectId}`
}

export interface RefRecord {
  kind: RefKind
  /** Identifies the holder within its kind; the pair is unique per blob. */
  holder: string
  /** Whether this holder lets anyone read the blob. */
  public: boolean
  created: string
}

export interface Stats {
  objects: number
  blobs: number
  logicalBytes: number
  physicalBytes: number
}

/** Origin side: the peers that acknowledged holding a copy of a blob this node originated. */
export interface PlacementRecord {
  /** Copies wanted, the origin included (the largest `replicas` of the tenants referencing the blob); 0 once the blob is gone here and `holders` are those not yet told to drop their copies. */
  want: number
  holders: Array<{ peer: string, since: string }>
  /** Set once replication was tried; the last refusal or failure, if the copies are short. */
  tried: boolean
  lastError?: string
}

/** Holder side: what one peer made this node hold (FDN_PEER_QUOTA). */
export interface HeldRecord {
  blobs: number
  bytes: number
}

/** A tenant's newest manifest: `{origin}/{tenant}` (the node's own under its peer ID). */
export interface ManifestPointer {
  version: number
  cid: CidString
}

export const EMPTY_STATS: Stats = { objects: 0, blobs: 0, logicalBytes: 0, physicalBytes: 0 }
