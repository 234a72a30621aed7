import type { CidString } from '../../protocol/cid.ts'
import type { Tx } from './index-db.ts'
import type { BlobRecord, RefKind, RefRecord } from './records.ts'

/** A blob just imported: recorded with its first reference unless already held. */
export interface NewBlob {
  record: Omit<BlobRecord, 'refcount' | 'firstSeen' | 'publicRefs'>
  /** Multihash keys of its distinct blocks, with their sizes. */
  blockSizes: ReadonlyMap<string, number>
}

export interface RefInput {
  kind: RefKind
  holder: string
  public: boolean
}

export function refKey (cid: CidString, kind: RefKind, holder: string): string {
  return `${cid}/${kind}:${holder}`
}

/** The `root` row saying that the block `blockKey` (its multihash) is part of the blob `cid`. */
export function rootKey (blockKey: string, cid: string): string {
  return `${blockKey}/${cid}`
}

/**
 * Logical bytes are what the node's users hold: parts of unfinished uploads,
 * manifests and copies kept for the swarm do not count.
 */
function countsAsLogical (kind: RefKind): boolean {
  return kind === 'object' || kind === 'pin' || kind === 'media'
}

/**
 * Records a reference to a blob, creating the blob (and counting its blocks)
 * if the index does not hold it yet. Adding the same holder twice changes
 * nothing but its public flag.
 */
export async function addRef (tx: Tx, cid: CidString, ref: RefInput, blob?: NewBlob): Promise<{ blob: BlobRecord, created: boolean }> {
  let record = await tx.get('blob', cid)
  const created = record == null
  if (record == null) {
    if (blob == null) throw new Error(`blob ${cid} is not in the index`)
    record = { ...blob.record, refcount: 0, publicRefs: 0, firstSeen: new Date().toISOString() }
    let newBytes = 0
    for (const [key, size] of blob.blockSizes) {
      const count = (await tx.get('block', key))?.count ?? 0
      if (count === 0) newBytes += size
      tx.put('block', key, { count: count + 1, size })
    }
    tx.put('dag', cid, [...blob.blockSizes.keys()])
    for (const key of blob.blockSizes.keys()) tx.put('root', rootKey(key, cid), true)
    tx.put('digest', blob.record.sha256, cid)
    // the disk holds each block once, however many blobs share it
    await tx.updateStats(stats => { stats.blobs++; stats.physicalBytes += newBytes })
  }
  const key = refKey(cid, ref.kind, ref.holder)
  // a blob just created has no references yet
  const existing = created ? undefined : await tx.get('ref', key)
  if (existing == null) {
    record = { ...record, refcount: record.refcount + 1, publicRefs: record.publicRefs + (ref.public ? 1 : 0) }
    const size = record.size
    if (countsAsLogical(ref.kind)) await tx.updateStats(stats => { stats.logicalBytes += size })
    tx.put('ref', key, { ...ref, created: new Date().toISOString() })
  } else if (existing.public !== ref.public) {
    record = { ...record, publicRefs: record.publicRefs + (ref.public ? 1 : -1) }
    tx.put('ref', key, { ...existing, public: ref.public })
  }
  tx.put('blob', cid, record)
  tx.touchedBlobs.add(cid)
  return { blob: record, created }
}

/**
 * Drops a reference. When the last one goes, the blob leaves the index and
 * its blocks' counts drop; blocks no blob holds any more are handed to the
 * store (tx.freedBlocks) to delete after the batch commits.
 */
export async function removeRef (tx: Tx, cid: CidString, kind: RefKind, holder: string): Promise<void> {
  const key = refKey(cid, kind, holder)
  const ref = await tx.get('ref', key)
  const record = await tx.get('blob', cid)
  if (ref == null || record == null) return
  tx.del('ref', key)
  tx.touchedBlobs.add(cid)
  const size = record.size
  if (countsAsLogical(kind)) await tx.updateStats(stats => { stats.logicalBytes -= size })
  if (record.refcount > 1) {
    tx.put('blob', cid, { ...record, refcount: record.refcount - 1, publicRefs: record.publicRefs - (ref.public ? 1 : 0) })
    return
  }
  tx.del('blob', cid)
  let freedBytes = 0
  for (const key of await tx.get('dag', cid) ?? []) {
    tx.del('root', rootKey(key, cid))
    const block = await tx.get('block', key)
    if (block == null) continue
    if (block.count > 1) {
      tx.put('block', key, { ...block, count: block.count - 1 })
    } else {
      tx.del('block', key)
      tx.freedBlocks.push(key)
      freedBytes += block.size
    }
  }
  tx.del('dag', cid)
  if (await tx.get('digest', record.sha256) === cid) tx.del('digest', record.sha256)
  tx.removedBlobs.push(cid)
  await tx.updateStats(stats => { stats.blobs--; stats.physicalBytes -= freedBytes })
}

export async function setRefPublic (tx: Tx, cid: CidString, kind: RefKind, holder: string, isPublic: boolean): Promise<void> {
  const ref = await tx.get('ref', refKey(cid, kind, holder))
  if (ref == null || ref.public === isPublic) return
  await addRef(tx, cid, { kind, holder, public: isPublic })
}
