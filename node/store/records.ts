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
 * key, `part` an uploaded part of an unfinished multipart upload.
 */
export type RefKind = 'pin' | 'object' | 'part'

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

export const EMPTY_STATS: Stats = { objects: 0, blobs: 0, logicalBytes: 0, physicalBytes: 0 }
