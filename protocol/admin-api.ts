import type { CidString } from './cid.ts'

/** Routes of the admin listener, used by the CLI and the dashboard. */
export const ADMIN_ROUTES = {
  status: '/admin/v1/status',
  blobs: '/admin/v1/blobs',
  verify: '/admin/v1/verify',
  gc: '/admin/v1/gc',
  tenants: '/admin/v1/tenants',
  peers: '/admin/v1/peers',
  recover: '/admin/v1/recover'
} as const

/** A tenant as the admin API shows it (never its secret). */
export interface TenantView {
  name: string
  bucket: string
  accessKeyId: string
  quota: number | null
  replicas: number
  created: string
  objects: number
  logicalBytes: number
}

/** The answer to creating a tenant: the only time the secret is shown. */
export interface TenantCreated extends TenantView {
  secretAccessKey: string
  /** The S3 endpoint and public alias base the instance should use. */
  endpoint: string
  aliasHost: string
}

export interface TenantCreateRequest {
  name: string
  /** Bytes, or a size such as 500GB. */
  quota?: number | string | null
  replicas?: number
}

export interface TenantUpdateRequest {
  quota?: number | string | null
  replicas?: number
}

export interface AddResponse {
  cid: CidString
  size: number
  mediaType: string
  sha256: string
  md5: string
  /** false when the node already held these bytes. */
  created: boolean
}

export interface StatusResponse {
  version: string
  peerId: string
  addresses: { http: string, admin: string, swarm: string[] }
  uptimeSeconds: number
  objects: number
  blobs: number
  /** Bytes the node's users hold: every reference counts. */
  logicalBytes: number
  /** Bytes the blockstore holds for those blobs, each stored once. */
  physicalBytes: number
  swarm: SwarmStatus
  /** Blobs this node originated, by how many copies the swarm holds of each. */
  replication: ReplicationCounts
  retrieve: RetrieveCounts
  activitypub: ActivityPubCounts
}

/** The ActivityPub actor's work since start (docs/activitypub.md). */
export interface ActivityPubCounts {
  /**
   * Activities POSTed to the inbox: accepted (202), refused (4xx), turned
   * away while busy (503); notes fetched for Announces that name them by ID,
   * and Announces whose note was not fetched (too many at once, or a fetch
   * that failed or did not answer for its ID).
   */
  inbox: { received: number, accepted: number, refused: number, busy: number, notesFetched: number, notesSkipped: number }
  /**
   * Deletes received (inbox and peers), applied (owner's signature checked,
   * media removed), refused (bad signature, signer not the owner); of the
   * applied, those forwarded by peers; peers this node's Deletes reached;
   * blobs freed by them.
   */
  deletions: { received: number, applied: number, refused: number, fromPeers: number, forwardedTo: number, removedBlobs: number }
  prefetch: PrefetchCounts
  /** Relays followed, by state. */
  relays: { accepted: number, pending: number, other: number }
}

export interface PrefetchCounts {
  /** Attachments of relayed posts offered by the inbox. */
  offered: number
  /** Attachments put in the queue. */
  queued: number
  /** Downloads that succeeded, and their bytes. */
  fetched: number
  bytes: number
  /** Not fetched by choice: type not allowed, already queued, or the daily budget spent. */
  skipped: number
  /** Downloads that failed. */
  failed: number
  /** Refused because the queue was full. */
  dropped: number
}

export interface SwarmStatus {
  /** Peers with an open connection. */
  connected: number
  /** Trusted peers (FDN_TRUSTED_PEERS) and how many of them are healthy. */
  trusted: number
  trustedHealthy: number
  /** Whether FDN_SWARM_KEY makes this a private swarm. */
  private: boolean
  /** Blobs fetched from peers and kept as cache, and their bytes (bounded by FDN_CACHE_SIZE). */
  cachedBlobs: number
  cachedBytes: number
  /** Copies this node holds for other nodes. */
  heldForPeers: number
  /** Blobs fetched from peers whole, and bytes of the blocks peers sent, since start (gateway and retrieve fetches, copies held, recovery, block repairs). */
  receivedBlobs: number
  receivedBytes: number
}

/** The retrieve API's counters since start. */
export interface RetrieveCounts {
  /** Retrieve requests answered with media, by where the media came from. */
  local: number
  swarm: number
  origin: number
  /** Retrieve requests refused or failed. */
  failed: number
  /** Downloads from origin servers started (concurrent requests for one URL share one). */
  originFetches: number
  /** Body bytes received from origin servers, and bytes read off their sockets (headers and redirects too). */
  originBytes: number
  originWireBytes: number
}

export interface ReplicationCounts {
  /** As many copies as the tenant's `replicas`, the origin included. */
  replicated: number
  /** Fewer copies than wanted after replication was tried (no healthy trusted peer, refused, unreachable). */
  'under-replicated': number
  /** Not tried yet, or in flight. */
  pending: number
}

export type PeerHealth = 'healthy' | 'unreachable' | 'unknown'

export interface PeerView {
  peerId: string
  addresses: string[]
  /** Listed in FDN_TRUSTED_PEERS. */
  trusted: boolean
  connected: boolean
  /** healthy: answered a ping lately; unreachable: not since FDN_REPAIR_GRACE or more; unknown: never seen. */
  health: PeerHealth
  lastSeen: string | null
  latencyMs: number | null
}

export interface PeersResponse {
  self: { peerId: string, addresses: string[] }
  peers: PeerView[]
}

/** The body of POST /admin/v1/recover (optional). */
export interface RecoverRequest {
  /** How long to wait for the trusted peers to answer, in milliseconds (default RECOVER_WAIT_MS, at most MAX_RECOVER_WAIT_MS). */
  waitMs?: number
}

export const RECOVER_WAIT_MS = 30_000
export const MAX_RECOVER_WAIT_MS = 24 * 60 * 60 * 1000

/** One line of the NDJSON stream of POST /admin/v1/recover: progress lines, then one report. */
export type RecoverEvent =
  | { type: 'progress', phase: 'manifests' | 'objects', done: number, total: number, bytes: number }
  | { type: 'report', report: RecoverReport }
  | { type: 'error', error: { code: string, message: string } }

export interface RecoverReport {
  /** Trusted peers that listed their manifests of this node (none: nothing was recovered). */
  answered: string[]
  /** Trusted peers that did not answer within the wait, or refused, and why: what they hold was not asked for. */
  unanswered: Array<{ peer: string, reason: string }>
  /** Manifests found, per tenant: the newest version, and which peer served it. */
  manifests: Array<{ tenant: string, version: number, from: string }>
  tenantsRestored: number
  objectsRestored: number
  bytesRestored: number
  /** Objects whose blob could not be fetched or verified. */
  missing: Array<{ tenant: string, key: string, cid: CidString, reason: string }>
  /** Manifests a peer listed that could not be fetched or verified. */
  peerErrors: Array<{ peer: string, reason: string }>
  durationMs: number
}

/** GET /admin/v1/blobs/{cid}: what this node holds of a blob, and who keeps it here. */
export interface BlobView {
  cid: CidString
  size: number
  sha256: string
  mediaType: string
  firstSeen: string
  refs: Array<{ kind: 'pin' | 'object' | 'media' | 'part' | 'manifest' | 'replica' | 'cache', holder: string, public: boolean }>
  /** For a blob this node originated: the peers that acknowledged a copy. */
  holders: string[]
}

export interface VerifyResponse {
  blobs: number
  blocks: number
  ok: number
  missing: Array<{ cid: CidString, block: CidString }>
  corrupt: Array<{ cid: CidString, block: CidString }>
}

export interface GcResponse {
  blocksScanned: number
  blocksRemoved: number
  bytesFreed: number
}

/** Written to `$FDN_DATA/daemon.json` while the daemon runs, so the CLI can find it. */
export interface DaemonRecord {
  pid: number
  http: string
  admin: string
  startedAt: string
}
