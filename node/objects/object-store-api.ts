import type { ObjectKey, TenantName } from '../../protocol/names.ts'
import type { BlockLease } from '../store/blocks.ts'
import type {
  CompletedPart, CopyOptions, ListOptions, ListResult, ObjectRecord, PartRecord, PutOptions, StoredHeaders, TenantInfo, TenantRecord, UploadRecord, Acl
} from './types.ts'

/**
 * What the S3 surface (and later the retrieve API) needs from the node: a
 * tenant's objects over the content-addressed store. Every method throws
 * FdnError with these codes: no_such_bucket, no_such_key, no_such_upload,
 * quota_exceeded, too_large, insufficient_storage, invalid_part,
 * invalid_part_order, entity_too_small, key_too_long, invalid_request, aborted.
 */
export interface ObjectStoreApi {
  /** The tenant whose access key this is, with its plain secret (for SigV4), or undefined. */
  credentials: (accessKeyId: string) => Promise<{ tenant: TenantRecord, secret: string } | undefined>
  tenant: (name: TenantName) => Promise<TenantInfo | undefined>

  put: (tenant: TenantName, key: ObjectKey, body: AsyncIterable<Uint8Array>, options: PutOptions) => Promise<ObjectRecord>
  head: (tenant: TenantName, key: ObjectKey) => Promise<ObjectRecord>
  /** Deleting a key that does not exist succeeds (S3 is idempotent here). */
  delete: (tenant: TenantName, key: ObjectKey) => Promise<void>
  /** No bytes move: the new key references the same blob. */
  copy: (tenant: TenantName, from: { tenant: TenantName, key: ObjectKey }, to: ObjectKey, options: CopyOptions) => Promise<ObjectRecord>
  /** Whether the key's media was removed by its ActivityPub owner's Delete (public reads answer 410 Gone). */
  deletedByOwner: (tenant: TenantName, key: ObjectKey) => Promise<boolean>
  setAcl: (tenant: TenantName, key: ObjectKey, acl: Acl) => Promise<void>
  list: (tenant: TenantName, options: ListOptions) => Promise<ListResult>

  createUpload: (tenant: TenantName, key: ObjectKey, options: { headers: StoredHeaders, metadata: Record<string, string>, acl: Acl }) => Promise<UploadRecord>
  uploadPart: (tenant: TenantName, uploadId: string, partNumber: number, body: AsyncIterable<Uint8Array>, options: { maxSize: number, signal?: AbortSignal, verify?: PutOptions['verify'] }) => Promise<PartRecord>
  /** UploadPartCopy: a part made from a byte range of an existing object. */
  copyPart: (tenant: TenantName, uploadId: string, partNumber: number, from: { tenant: TenantName, key: ObjectKey, range?: { start: number, end: number } }) => Promise<PartRecord>
  completeUpload: (tenant: TenantName, uploadId: string, parts: CompletedPart[]) => Promise<ObjectRecord & { key: ObjectKey }>
  abortUpload: (tenant: TenantName, uploadId: string) => Promise<void>
  listParts: (tenant: TenantName, uploadId: string, options: { after?: number, maxParts: number }) => Promise<{ upload: UploadRecord, parts: PartRecord[], isTruncated: boolean }>
  listUploads: (tenant: TenantName, options: { prefix?: string, after?: { key: string, uploadId: string }, maxUploads: number }) => Promise<{ uploads: UploadRecord[], isTruncated: boolean }>

  /** The object's bytes in a range, each block verified (MediaStore.read). */
  read: (record: ObjectRecord, range: { start: number, end: number }, signal?: AbortSignal) => AsyncIterable<Uint8Array>
  /**
   * All of an object stored as a single raw block (up to one chunk: most
   * media), verified, in one buffer lent until `release` (call it once the
   * answer has gone out); undefined for larger objects, which `read` streams.
   */
  singleBlock: (record: ObjectRecord, signal?: AbortSignal) => Promise<BlockLease | undefined>
}
