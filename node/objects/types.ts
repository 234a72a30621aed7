import type { CidString } from '../../protocol/cid.ts'
import type { ObjectKey, TenantName } from '../../protocol/names.ts'
import type { SealedSecret } from '../tenants/secret-box.ts'

export type Acl = 'public-read' | 'private'

/** Response headers an object keeps as uploaded (S3 "system metadata" a client may set). */
export interface StoredHeaders {
  contentType?: string
  cacheControl?: string
  contentDisposition?: string
  contentEncoding?: string
  contentLanguage?: string
  expires?: string
}

/** DESIGN.md's `object` table: (tenant, key) → blob and metadata. */
export interface ObjectRecord {
  cid: CidString
  size: number
  /** S3 ETag without quotes: MD5 hex, or MD5-of-part-MD5s plus `-N` after a multipart upload. */
  etag: string
  headers: StoredHeaders
  /** `x-amz-meta-*` values, names lower-cased without the prefix. */
  metadata: Record<string, string>
  acl: Acl
  /** ISO time of the last write of this key. */
  mtime: string
  /** Number of parts when written by a multipart upload. */
  parts?: number
}

export interface ObjectEntry {
  key: ObjectKey
  record: ObjectRecord
}

/** DESIGN.md's `tenant` table: an instance using this node. */
export interface TenantRecord {
  name: TenantName
  accessKeyId: string
  secret: SealedSecret
  /** Logical bytes the tenant may hold; null for no limit. */
  quota: number | null
  replicas: number
  created: string
  objects: number
  logicalBytes: number
}

/** A tenant as the admin API shows it: never the secret. */
export type TenantInfo = Omit<TenantRecord, 'secret'>

export interface UploadRecord {
  uploadId: string
  tenant: TenantName
  key: ObjectKey
  initiated: string
  headers: StoredHeaders
  metadata: Record<string, string>
  acl: Acl
}

export interface PartRecord {
  partNumber: number
  cid: CidString
  size: number
  /** MD5 hex of the part, without quotes. */
  etag: string
  lastModified: string
}

export interface ListOptions {
  prefix?: string
  delimiter?: string
  /** Keys strictly after this one (S3 start-after, marker, or a continuation token's key). */
  after?: string
  maxKeys: number
}

export interface ListResult {
  objects: ObjectEntry[]
  commonPrefixes: string[]
  isTruncated: boolean
  /** The last key or common prefix returned: where the next page starts after. */
  nextAfter?: string
}

export interface PutOptions {
  headers: StoredHeaders
  metadata: Record<string, string>
  acl: Acl
  maxSize: number
  /** Bytes the client announced (Content-Length or x-amz-decoded-content-length), for an early quota check. */
  expectedSize?: number
  signal?: AbortSignal
  /** Checks the body's digests once it has ended, before anything is recorded (MediaStore.ingest); throws to refuse it. */
  verify?: (hashes: { sha256: string, md5: string }) => void
}

export interface CopyOptions {
  /** COPY keeps the source's headers and metadata; REPLACE takes the given ones. */
  metadataDirective: 'COPY' | 'REPLACE'
  headers: StoredHeaders
  metadata: Record<string, string>
  acl: Acl
}

export interface CompletedPart {
  partNumber: number
  /** As the client sent it; quotes are ignored. */
  etag: string
}
