import type { CID } from 'multiformats/cid'
import { cidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { TenantName } from '../../protocol/names.ts'
import { requireMedia } from './media-check.ts'
import { holdMedia } from '../objects/media-refs.ts'
import type { MediaStore } from '../store/media-store.ts'
import type { BlobRecord } from '../store/records.ts'

/**
 * `PUT /api/v1/blobs/{cid}`: a tenant adds media it already knows the CID of.
 * The bytes must rebuild exactly that CID under fdn's CID profile, or
 * nothing is kept; the tenant holds the blob with a `media` reference.
 */
export async function addByHash (store: MediaStore, tenant: TenantName, cid: CID, body: AsyncIterable<Uint8Array>, options: { maxSize: number, signal?: AbortSignal, verify?: (hashes: { sha256: string, md5: string }) => void }): Promise<BlobRecord> {
  const want = cidString(cid)
  return await store.ingest(body, { maxSize: options.maxSize, signal: options.signal, verify: options.verify }, async (tx, blob) => {
    if (blob.record.cid !== want) {
      throw new FdnError('digest_mismatch', `the body is ${blob.record.cid} under fdn's CID profile (raw leaves, 1 MiB chunks), not ${want}: nothing was kept`)
    }
    requireMedia(blob.record.mediaType, 'the body')
    await holdMedia(tx, tenant, want, blob.record.size, { unowned: true, blob })
    return (await tx.get('blob', want))!
  })
}

/** The tenant holds a blob the node has already (an add by hash whose body need not be read). */
export async function holdExisting (store: MediaStore, tenant: TenantName, blob: BlobRecord): Promise<void> {
  requireMedia(blob.mediaType, blob.cid)
  await store.transact(async tx => { await holdMedia(tx, tenant, blob.cid, blob.size, { unowned: true }) })
}
