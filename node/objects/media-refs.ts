import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { TenantName } from '../../protocol/names.ts'
import type { IndexDb, Tx } from '../store/index-db.ts'
import { refTenant } from '../store/records.ts'
import type { BlobRecord } from '../store/records.ts'
import { addRef, removeRef } from '../store/refs.ts'
import type { NewBlob } from '../store/refs.ts'

/**
 * A tenant's media held through the retrieve API without a key (a download
 * from an origin, an add by hash): a public `media` reference, counted in
 * the tenant's bytes and quota like an object, replicated like one. The
 * `media` table (`{tenant}/{cid}`) lists them per tenant.
 */
export async function holdMedia (tx: Tx, tenant: TenantName, cid: CidString, size: number, options: { url?: string, unowned: boolean, blob?: NewBlob }): Promise<void> {
  const tenantRecord = await tx.get('tenant', tenant)
  if (tenantRecord == null) throw new FdnError('no_such_bucket', 'The tenant no longer exists')
  const id = mediaId(tenant, cid)
  if (await tx.get('media', id) != null) {
    if (options.unowned) await keepUnowned(tx, tenant, cid)
    return
  }
  if (tenantRecord.quota != null && tenantRecord.logicalBytes + size > tenantRecord.quota) {
    throw new FdnError('quota_exceeded', `tenant '${tenant}' would hold ${tenantRecord.logicalBytes + size} bytes, over its ${tenantRecord.quota} byte quota`)
  }
  await addRef(tx, cid, { kind: 'media', holder: tenant, public: true }, options.blob)
  tx.put('media', id, { size, ...(options.url != null ? { url: options.url } : {}), ...(options.unowned ? { unowned: true as const } : {}), at: new Date().toISOString() })
  tx.put('tenant', tenant, { ...tenantRecord, logicalBytes: tenantRecord.logicalBytes + size })
}

/**
 * Marks a tenant's media as held for a reason no owner's Delete ends (added
 * by hash, or retrieved without naming an owner): only the tenant removes it
 * then. Does nothing when the tenant holds no such media.
 */
export async function keepUnowned (tx: Tx, tenant: TenantName, cid: CidString): Promise<void> {
  const id = mediaId(tenant, cid)
  const record = await tx.get('media', id)
  if (record != null && record.unowned !== true) tx.put('media', id, { ...record, unowned: true })
}

export async function releaseMedia (tx: Tx, tenant: TenantName, cid: CidString): Promise<void> {
  const id = mediaId(tenant, cid)
  const record = await tx.get('media', id)
  if (record == null) return
  await removeRef(tx, cid, 'media', tenant)
  tx.del('media', id)
  const tenantRecord = await tx.get('tenant', tenant)
  if (tenantRecord != null) tx.put('tenant', tenant, { ...tenantRecord, logicalBytes: tenantRecord.logicalBytes - record.size })
}

export function mediaId (tenant: TenantName, cid: CidString): string {
  return `${tenant}/${cid}`
}

/**
 * Whether a tenant may learn that the node holds a blob, by hash: a blob
 * anyone can read, or one the tenant holds itself. A blob held only
 * privately by others is treated as absent (an add by hash must then send
 * its bytes), so a hash never reveals, or hands over, another tenant's
 * private file. The node itself (`''`) sees public blobs only.
 */
export async function visibleTo (db: IndexDb, blob: Pick<BlobRecord, 'cid' | 'publicRefs'>, tenant: TenantName | ''): Promise<boolean> {
  if (blob.publicRefs > 0) return true
  return (await db.refsOf(blob.cid)).some(ref => refTenant(ref) === tenant)
}
