import type { CidString } from './cid.ts'

/** Routes of the admin listener, used by the CLI and the dashboard. */
export const ADMIN_ROUTES = {
  status: '/admin/v1/status',
  blobs: '/admin/v1/blobs',
  verify: '/admin/v1/verify',
  gc: '/admin/v1/gc'
} as const

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
