import type { CidString } from './cid.ts'

/** Routes of the admin listener, used by the CLI and the dashboard. */
export const ADMIN_ROUTES = {
  status: '/admin/v1/status',
  blobs: '/admin/v1/blobs',
  verify: '/admin/v1/verify',
  gc: '/admin/v1/gc',
  tenants: '/admin/v1/tenants'
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
