import type { CID } from 'multiformats/cid'
import type { MediaStore } from './media-store.ts'

/**
 * Whether anyone may read this block by hash: some blob whose DAG holds it
 * is public. A block of private blobs only (a leaf of a private file as much
 * as its root) is not, whatever its CID.
 */
export async function publiclyReadable (store: MediaStore, cid: CID): Promise<boolean> {
  for await (const blob of store.blobsContaining(cid)) if (blob.publicRefs > 0) return true
  return false
}
