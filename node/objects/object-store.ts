import { createHash, randomBytes } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { RAW_CODEC } from '../../protocol/cid-profile.ts'
import { FdnError } from '../../protocol/errors.ts'
import { parseObjectKey } from '../../protocol/names.ts'
import type { ObjectKey, TenantName } from '../../protocol/names.ts'
import type { CidString } from '../../protocol/cid.ts'
import type { Tx } from '../store/index-db.ts'
import type { BlockLease } from '../store/blocks.ts'
import type { MediaStore } from '../store/media-store.ts'
import { addRef, removeRef, setRefPublic } from '../store/refs.ts'
import { goneObjectKey } from '../store/records.ts'
import type { NewBlob } from '../store/refs.ts'
import type { TenantRegistry } from '../tenants/registry.ts'
import type { ObjectStoreApi } from './object-store-api.ts'
import { listObjects } from './listing.ts'
import { releaseMedia } from './media-refs.ts'
import type {
  Acl, CompletedPart, CopyOptions, ListOptions, ListResult, ObjectRecord, PartRecord, PutOptions, StoredHeaders, TenantInfo, TenantRecord, UploadRecord
} from './types.ts'

/** S3's smallest part, except the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024
export const MAX_PART_NUMBER = 10_000

/**
 * Tenants' S3 objects over the content-addressed store. An object is a
 * reference from (tenant, key) to a blob: the same bytes under any tenant and
 * key are stored once, copies move no bytes, and a blob goes with its last
 * reference. A tenant's quota counts its logical bytes.
 */
export class ObjectStore implements ObjectStoreApi {
  private readonly store: MediaStore
  private readonly tenants: TenantRegistry

  constructor (store: MediaStore, tenants: TenantRegistry) {
    this.store = store
    this.tenants = tenants
  }

  async credentials (accessKeyId: string): Promise<{ tenant: TenantRecord, secret: string } | undefined> {
    return await this.tenants.credentials(accessKeyId)
  }

  async tenant (name: TenantName): Promise<TenantInfo | undefined> {
    return await this.tenants.get(name)
  }

  async put (tenant: TenantName, key: ObjectKey, body: AsyncIterable<Uint8Array>, options: PutOptions): Promise<ObjectRecord> {
    parseObjectKey(key)
    const before = await this.requireTenant(tenant)
    // the early quota check, before any byte is read (the commit checks again)
    if (options.expectedSize != null && before.quota != null) {
      const replaced = (await this.store.db.get('object', objectId(tenant, key)))?.size ?? 0
      checkQuota(before, options.expectedSize - replaced)
    }
    return await this.store.ingest(body, { maxSize: options.maxSize, signal: options.signal, verify: options.verify }, async (tx, blob) => {
      const record: ObjectRecord = {
        cid: blob.record.cid,
        size: blob.record.size,
        etag: blob.record.md5,
        headers: options.headers,
        metadata: options.metadata,
        acl: options.acl,
        mtime: new Date().toISOString()
      }
      await this.writeObject(tx, tenant, key, record, blob)
      return record
    })
  }

  async head (tenant: TenantName, key: ObjectKey): Promise<ObjectRecord> {
    await this.requireTenant(tenant)
    const record = await this.store.db.get('object', objectId(tenant, key))
    if (record == null) throw new FdnError('no_such_key', 'The specified key does not exist.')
    return record
  }

  async delete (tenant: TenantName, key: ObjectKey): Promise<void> {
    await this.requireTenant(tenant)
    await this.store.transact(async tx => { await this.deleteObject(tx, tenant, key) })
  }

  async copy (tenant: TenantName, from: { tenant: TenantName, key: ObjectKey }, to: ObjectKey, options: CopyOptions): Promise<ObjectRecord> {
    parseObjectKey(to)
    await this.requireTenant(tenant)
    if (from.tenant === tenant && from.key === to && options.metadataDirective === 'COPY') {
      throw new FdnError('invalid_request', "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.")
    }
    return await this.store.transact(async tx => {
      const source = await tx.get('object', objectId(from.tenant, from.key))
      if (source == null) throw new FdnError('no_such_key', 'The specified key does not exist.')
      const record: ObjectRecord = {
        ...source,
        headers: options.metadataDirective === 'COPY' ? source.headers : options.headers,
        metadata: options.metadataDirective === 'COPY' ? source.metadata : options.metadata,
        acl: options.acl,
        mtime: new Date().toISOString()
      }
      await this.writeObject(tx, tenant, to, record)
      return record
    })
  }

  async deletedByOwner (tenant: TenantName, key: ObjectKey): Promise<boolean> {
    return await this.store.db.get('gone', goneObjectKey(objectId(tenant, key))) != null
  }

  async setAcl (tenant: TenantName, key: ObjectKey, acl: Acl): Promise<void> {
    await this.requireTenant(tenant)
    await this.store.transact(async tx => {
      const id = objectId(tenant, key)
      const record = await tx.get('object', id)
      if (record == null) throw new FdnError('no_such_key', 'The specified key does not exist.')
      tx.put('object', id, { ...record, acl })
      await setRefPublic(tx, record.cid, 'object', id, acl === 'public-read')
    })
  }

  async list (tenant: TenantName, options: ListOptions): Promise<ListResult> {
    await this.requireTenant(tenant)
    return await listObjects(this.store.db, tenant, options)
  }

  read (record: ObjectRecord, range: { start: number, end: number }, signal?: AbortSignal): AsyncIterable<Uint8Array> {
    return this.store.read(CID.parse(record.cid), range, signal)
  }

  async singleBlock (record: ObjectRecord, signal?: AbortSignal): Promise<BlockLease | undefined> {
    const cid = CID.parse(record.cid)
    if (cid.code !== RAW_CODEC) return undefined
    return await this.store.blockLease(cid, { size: record.size, signal })
  }

  /** Deletes every object and unfinished upload of a tenant (tenant removal with --purge). */
  async deleteAll (tenant: TenantName): Promise<number> {
    let deleted = 0
    for (;;) {
      const page = await listObjects(this.store.db, tenant, { maxKeys: 500 })
      if (page.objects.length === 0) break
      await this.store.transact(async tx => {
        for (const { key } of page.objects) await this.deleteObject(tx, tenant, key)
      })
      deleted += page.objects.length
    }
    for await (const [uploadId, upload] of this.store.db.entries('upload')) {
      if (upload.tenant === tenant) await this.abortUpload(tenant, uploadId)
    }
    for await (const [id] of this.store.db.entries('media', { gt: `${tenant}/`, lt: `${tenant}0` })) {
      await this.store.transact(async tx => { await releaseMedia(tx, tenant, id.slice(tenant.length + 1) as CidString) })
    }
    return deleted
  }

  /**
   * Points (tenant, key) at a blob as a public-read PutObject of its bytes
   * would (the retrieve API's `key`). `within`: the transaction that records
   * a blob just ingested; without it the blob must be in the store.
   */
  async link (tenant: TenantName, key: ObjectKey, blob: { cid: CidString, size: number, md5: string }, headers: StoredHeaders, within?: { tx: Tx, blob?: NewBlob }): Promise<ObjectRecord> {
    parseObjectKey(key)
    const record: ObjectRecord = { cid: blob.cid, size: blob.size, etag: blob.md5, headers, metadata: {}, acl: 'public-read', mtime: new Date().toISOString() }
    if (within != null) await this.writeObject(within.tx, tenant, key, record, within.blob)
    else await this.store.transact(async tx => { await this.writeObject(tx, tenant, key, record) })
    return record
  }

  async createUpload (tenant: TenantName, key: ObjectKey, options: { headers: StoredHeaders, metadata: Record<string, string>, acl: Acl }): Promise<UploadRecord> {
    parseObjectKey(key)
    await this.requireTenant(tenant)
    // hex: an ID starting with '-' reads as an option to command-line clients (awscli)
    const upload: UploadRecord = { uploadId: randomBytes(24).toString('hex'), tenant, key, initiated: new Date().toISOString(), ...options }
    await this.store.transact(async tx => { tx.put('upload', upload.uploadId, upload) })
    return upload
  }

  async uploadPart (tenant: TenantName, uploadId: string, partNumber: number, body: AsyncIterable<Uint8Array>, options: { maxSize: number, signal?: AbortSignal, verify?: PutOptions['verify'] }): Promise<PartRecord> {
    checkPartNumber(partNumber)
    const upload = await this.requireUpload(tenant, uploadId)
    checkQuota(await this.requireTenant(tenant), 0)
    return await this.store.ingest(body, options, async (tx, blob) => await this.writePart(tx, upload, partNumber, blob))
  }

  async copyPart (tenant: TenantName, uploadId: string, partNumber: number, from: { tenant: TenantName, key: ObjectKey, range?: { start: number, end: number } }): Promise<PartRecord> {
    checkPartNumber(partNumber)
    const upload = await this.requireUpload(tenant, uploadId)
    const source = await this.head(from.tenant, from.key)
    const range = from.range ?? { start: 0, end: source.size }
    if (range.start < 0 || range.end > source.size || range.end < range.start) {
      throw new FdnError('invalid_range', `the copy range is outside the ${source.size} byte source object`)
    }
    return await this.store.ingest(this.store.read(CID.parse(source.cid), range, undefined, { cache: false }), { maxSize: Infinity }, async (tx, blob) => await this.writePart(tx, upload, partNumber, blob))
  }

  async completeUpload (tenant: TenantName, uploadId: string, parts: CompletedPart[]): Promise<ObjectRecord & { key: ObjectKey }> {
    const upload = await this.requireUpload(tenant, uploadId)
    if (parts.length === 0) throw new FdnError('invalid_request', 'You must specify at least one part')
    const chosen: PartRecord[] = []
    for (const [i, part] of parts.entries()) {
      if (i > 0 && part.partNumber <= (parts[i - 1]?.partNumber ?? 0)) {
        throw new FdnError('invalid_part_order', 'The list of parts was not in ascending order. The parts list must be specified in order by part number.')
      }
      const stored = await this.store.db.get('part', partId(uploadId, part.partNumber))
      if (stored == null || stored.etag !== part.etag.replace(/"/g, '')) {
        throw new FdnError('invalid_part', `One or more of the specified parts could not be found. The part may not have been uploaded, or the specified entity tag may not match the part's entity tag. (part ${part.partNumber})`)
      }
      if (i < parts.length - 1 && stored.size < MIN_PART_SIZE) {
        throw new FdnError('entity_too_small', `Your proposed upload is smaller than the minimum allowed size (part ${part.partNumber} is ${stored.size} bytes; parts but the last must be at least 5 MiB)`)
      }
      chosen.push(stored)
    }
    const size = chosen.reduce((sum, part) => sum + part.size, 0)
    const replaced = (await this.store.db.get('object', objectId(tenant, upload.key)))?.size ?? 0
    checkQuota(await this.requireTenant(tenant), size - replaced)
    const etag = `${createHash('md5').update(Buffer.concat(chosen.map(part => Buffer.from(part.etag, 'hex')))).digest('hex')}-${chosen.length}`
    // the object is the file the parts make, cut in the node's own 1 MiB chunks, so it has the same
    // CID (and deduplicates with) the same bytes uploaded in one piece or by anyone else
    const store = this.store
    const bytes = (async function * () {
      for (const part of chosen) yield * store.read(CID.parse(part.cid), { start: 0, end: part.size }, undefined, { cache: false })
    })()
    return await this.store.ingest(bytes, { maxSize: Infinity }, async (tx, blob) => {
      if (await tx.get('upload', uploadId) == null) throw new FdnError('no_such_upload', 'The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.')
      const record: ObjectRecord = {
        cid: blob.record.cid,
        size: blob.record.size,
        etag,
        headers: upload.headers,
        metadata: upload.metadata,
        acl: upload.acl,
        mtime: new Date().toISOString(),
        parts: chosen.length
      }
      await this.writeObject(tx, tenant, upload.key, record, blob)
      await this.dropUpload(tx, uploadId)
      return { ...record, key: upload.key }
    })
  }

  async abortUpload (tenant: TenantName, uploadId: string): Promise<void> {
    await this.requireUpload(tenant, uploadId)
    await this.store.transact(async tx => { await this.dropUpload(tx, uploadId) })
  }

  async listParts (tenant: TenantName, uploadId: string, options: { after?: number, maxParts: number }): Promise<{ upload: UploadRecord, parts: PartRecord[], isTruncated: boolean }> {
    const upload = await this.requireUpload(tenant, uploadId)
    const parts: PartRecord[] = []
    let isTruncated = false
    const range = { gt: partId(uploadId, options.after ?? 0), lt: `${uploadId}0` }
    for await (const [, part] of this.store.db.entries('part', range)) {
      if (parts.length === options.maxParts) {
        isTruncated = true
        break
      }
      parts.push(part)
    }
    return { upload, parts, isTruncated }
  }

  async listUploads (tenant: TenantName, options: { prefix?: string, after?: { key: string, uploadId: string }, maxUploads: number }): Promise<{ uploads: UploadRecord[], isTruncated: boolean }> {
    await this.requireTenant(tenant)
    const all: UploadRecord[] = []
    for await (const [, upload] of this.store.db.entries('upload')) {
      if (upload.tenant !== tenant || !upload.key.startsWith(options.prefix ?? '')) continue
      const after = options.after
      if (after != null && (upload.key < after.key || (upload.key === after.key && upload.uploadId <= after.uploadId))) continue
      all.push(upload)
    }
    all.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : a.uploadId < b.uploadId ? -1 : 1)
    return { uploads: all.slice(0, options.maxUploads), isTruncated: all.length > options.maxUploads }
  }

  /** Aborts uploads started before `cutoff` and frees their parts; returns how many. */
  async expireUploads (cutoff: Date): Promise<number> {
    const stale: UploadRecord[] = []
    for await (const [, upload] of this.store.db.entries('upload')) {
      if (new Date(upload.initiated) < cutoff) stale.push(upload)
    }
    for (const upload of stale) {
      await this.store.transact(async tx => { await this.dropUpload(tx, upload.uploadId) })
    }
    return stale.length
  }

  /**
   * Puts back an object from a recovered manifest: inside `within`'s
   * transaction when its blob was just fetched, else in one of its own. An
   * object written since the loss is newer and stays.
   */
  async restore (tenant: TenantName, key: ObjectKey, record: ObjectRecord, within?: { tx: Tx, blob: NewBlob }): Promise<void> {
    const write = async (tx: Tx, blob?: NewBlob): Promise<void> => {
      if (await tx.get('object', objectId(tenant, key)) != null) {
        // a blob fetched for an object that exists already must still be held by something, or it is dropped
        if (blob != null) await addRef(tx, record.cid, { kind: 'cache', holder: 'swarm', public: record.acl === 'public-read' }, blob)
        return
      }
      await this.writeObject(tx, tenant, key, record, blob)
    }
    if (within != null) await write(within.tx, within.blob)
    else await this.store.transact(async tx => { await write(tx) })
  }

  /** Points (tenant, key) at a blob, replacing what it pointed at, keeping the counts right. */
  /** Removes (tenant, key) within `tx` if it still names `cid` (an owner's Delete: a key written anew since keeps its new object). */
  async unlinkIf (tx: Tx, tenant: TenantName, key: ObjectKey, cid: CidString): Promise<boolean> {
    if ((await tx.get('object', objectId(tenant, key)))?.cid !== cid) return false
    await this.deleteObject(tx, tenant, key)
    return true
  }

  private async writeObject (tx: Tx, tenant: TenantName, key: ObjectKey, record: ObjectRecord, blob?: NewBlob): Promise<void> {
    const id = objectId(tenant, key)
    const tenantRecord = await tx.get('tenant', tenant)
    if (tenantRecord == null) throw new FdnError('no_such_bucket', 'The specified bucket does not exist')
    const previous = await tx.get('object', id)
    const growth = record.size - (previous?.size ?? 0)
    checkQuota(tenantRecord, growth)
    if (previous != null && previous.cid !== record.cid) await removeRef(tx, previous.cid, 'object', id)
    await addRef(tx, record.cid, { kind: 'object', holder: id, public: record.acl === 'public-read' }, blob)
    tx.put('object', id, record)
    tx.put('tenant', tenant, { ...tenantRecord, objects: tenantRecord.objects + (previous == null ? 1 : 0), logicalBytes: tenantRecord.logicalBytes + growth })
    if (previous == null) await tx.updateStats(stats => { stats.objects++ })
  }

  private async deleteObject (tx: Tx, tenant: TenantName, key: ObjectKey): Promise<void> {
    const id = objectId(tenant, key)
    const record = await tx.get('object', id)
    if (record == null) return
    await removeRef(tx, record.cid, 'object', id)
    tx.del('object', id)
    const tenantRecord = await tx.get('tenant', tenant)
    if (tenantRecord != null) tx.put('tenant', tenant, { ...tenantRecord, objects: tenantRecord.objects - 1, logicalBytes: tenantRecord.logicalBytes - record.size })
    await tx.updateStats(stats => { stats.objects-- })
  }

  private async writePart (tx: Tx, upload: UploadRecord, partNumber: number, blob: NewBlob): Promise<PartRecord> {
    if (await tx.get('upload', upload.uploadId) == null) throw new FdnError('no_such_upload', 'The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.')
    const id = partId(upload.uploadId, partNumber)
    const previous = await tx.get('part', id)
    if (previous != null && previous.cid !== blob.record.cid) await removeRef(tx, previous.cid, 'part', id)
    await addRef(tx, blob.record.cid, { kind: 'part', holder: id, public: false }, blob)
    const part: PartRecord = { partNumber, cid: blob.record.cid, size: blob.record.size, etag: blob.record.md5, lastModified: new Date().toISOString() }
    tx.put('part', id, part)
    return part
  }

  private async dropUpload (tx: Tx, uploadId: string): Promise<void> {
    for await (const [id, part] of this.store.db.entries('part', { gt: `${uploadId}/`, lt: `${uploadId}0` })) {
      if (await tx.get('part', id) == null) continue
      await removeRef(tx, part.cid, 'part', id)
      tx.del('part', id)
    }
    tx.del('upload', uploadId)
  }

  private async requireTenant (tenant: TenantName): Promise<TenantRecord> {
    const record = await this.store.db.get('tenant', tenant)
    if (record == null) throw new FdnError('no_such_bucket', 'The specified bucket does not exist')
    return record
  }

  private async requireUpload (tenant: TenantName, uploadId: string): Promise<UploadRecord> {
    const upload = await this.store.db.get('upload', uploadId)
    if (upload == null || upload.tenant !== tenant) {
      throw new FdnError('no_such_upload', 'The specified multipart upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.')
    }
    return upload
  }
}

export function objectId (tenant: TenantName, key: string): string {
  return `${tenant}/${key}`
}

function partId (uploadId: string, partNumber: number): string {
  return `${uploadId}/${String(partNumber).padStart(5, '0')}`
}

function checkPartNumber (partNumber: number): void {
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) {
    throw new FdnError('invalid_request', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`)
  }
}

function checkQuota (tenant: TenantRecord, growth: number): void {
  if (tenant.quota != null && growth > 0 && tenant.logicalBytes + growth > tenant.quota) {
    throw new FdnError('quota_exceeded', `tenant '${tenant.name}' would hold ${tenant.logicalBytes + growth} bytes, over its ${tenant.quota} byte quota`)
  }
}

export type { CidString }
