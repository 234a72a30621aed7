import type { CidString } from '../../protocol/cid.ts'
import type { ObjectKey, TenantName } from '../../protocol/names.ts'
import type { Logger } from '../log.ts'
import { mediaId, releaseMedia } from '../objects/media-refs.ts'
import { objectId } from '../objects/object-store.ts'
import type { ObjectStore } from '../objects/object-store.ts'
import type { Tx } from '../store/index-db.ts'
import type { MediaStore } from '../store/media-store.ts'
import { goneBlobKey, goneObjectKey } from '../store/records.ts'
import { refKey, removeRef } from '../store/refs.ts'
import { CACHE_HOLDER } from '../swarm/blob-cache.ts'
import { forgetOwner, ownedMedia } from './owners.ts'
import type { OwnedMedia } from './owners.ts'

/** Whose media a verified Delete removes: one status's, or (no status) all of the actor's. */
export interface DeletionTarget {
  actor: string
  status?: string
}

export interface DeletionOutcome {
  /** Owner rows removed. */
  owners: number
  /** Tenants' keys removed (the retrieve API's `key`). */
  objects: number
  /** Tenants' key-less media references released. */
  media: number
  /** Cache copies dropped. */
  cached: number
  /** Every blob the deletion touched. */
  cids: CidString[]
  /** Blobs that left this node (no reference remained). */
  freed: CidString[]
}

/** Owner rows handled per index transaction: bounds a transaction's size whatever an actor posted. */
const BATCH = 200

/**
 * Carries out an owner's Delete on this node: every tenant's copy of the
 * media that entered with that owner loses its reference (the object under
 * its `key`, the key-less `media` reference, the node's prefetched cache
 * copy), the URL cache forgets the URLs, and what no one else holds is
 * freed. Keys and blobs removed this way answer 410 Gone on the public
 * paths (`gone` table). A blob another owner or tenant still holds stays:
 * the same image posted twice is deleted with its last post.
 */
export class Deletions {
  private readonly store: MediaStore
  private readonly objects: ObjectStore
  private readonly log: Logger

  constructor (options: { store: MediaStore, objects: ObjectStore, log: Logger }) {
    this.store = options.store
    this.objects = options.objects
    this.log = options.log
  }

  async apply (target: DeletionTarget): Promise<DeletionOutcome> {
    const outcome: DeletionOutcome = { owners: 0, objects: 0, media: 0, cached: 0, cids: [], freed: [] }
    const touched = new Set<CidString>()
    for (;;) {
      const rows = await ownedMedia(this.store.db, target, BATCH)
      if (rows.length === 0) break
      await this.store.transact(async tx => {
        const cids = new Set<CidString>()
        for (const row of rows) {
          await this.removeRow(tx, row, outcome)
          cids.add(row.cid)
        }
        for (const cid of cids) {
          touched.add(cid)
          if (await this.settle(tx, cid, target.actor, outcome)) outcome.freed.push(cid)
        }
      })
    }
    outcome.cids = [...touched]
    if (outcome.owners > 0) this.log.info({ ...target, ...outcome, cids: outcome.cids.length, freed: outcome.freed.length }, 'applied an owner\'s Delete')
    return outcome
  }

  /**
   * What a trusted peer removed for an owner's Delete: this node drops its
   * cache copies of those blobs; durable references (tenants' objects and
   * media, pins) are untouched, and copies held for the peer go when its
   * release arrives. A blob left with nothing else answers 410 from now on.
   */
  async dropCached (cids: readonly CidString[], actor: string, peer: string): Promise<number> {
    const outcome: DeletionOutcome = { owners: 0, objects: 0, media: 0, cached: 0, cids: [], freed: [] }
    for (let start = 0; start < cids.length; start += BATCH) {
      await this.store.transact(async tx => {
        for (const cid of cids.slice(start, start + BATCH)) {
          await this.settle(tx, cid, actor, outcome)
          const left = await tx.refsOf(cid)
          if (left.every(ref => ref.kind === 'replica' && ref.holder === peer)) tx.put('gone', goneBlobKey(cid), { actor, at: new Date().toISOString() })
        }
      })
    }
    return outcome.cached
  }

  private async removeRow (tx: Tx, row: OwnedMedia, outcome: DeletionOutcome): Promise<void> {
    const left = await forgetOwner(tx, row)
    outcome.owners++
    const at = new Date().toISOString()
    if (row.key != null && row.tenant !== '' && await this.objects.unlinkIf(tx, row.tenant as TenantName, row.key as ObjectKey, row.cid)) {
      outcome.objects++
      tx.put('gone', goneObjectKey(objectId(row.tenant as TenantName, row.key)), { actor: row.actor, at })
    }
    if (left === 0) {
      if (row.tenant === '') {
        if (await tx.get('ref', refKey(row.cid, 'cache', CACHE_HOLDER)) != null) {
          await removeRef(tx, row.cid, 'cache', CACHE_HOLDER)
          outcome.cached++
        }
      } else if (await ownerOnly(tx, row.tenant as TenantName, row.cid)) {
        await releaseMedia(tx, row.tenant as TenantName, row.cid)
        outcome.media++
      }
    }
    if ((await tx.get('url', row.url))?.cid === row.cid) tx.del('url', row.url)
  }

  /**
   * A blob held now only as cache loses that copy too: the deleted media is
   * not served from a cache. Returns whether the blob is not here (any
   * more), which then answers 410 for it.
   */
  private async settle (tx: Tx, cid: CidString, actor: string, outcome: DeletionOutcome): Promise<boolean> {
    const refs = await tx.refsOf(cid)
    if (refs.length > 0 && refs.every(ref => ref.kind === 'cache')) {
      for (const ref of refs) await removeRef(tx, cid, ref.kind, ref.holder)
      outcome.cached += refs.length
    }
    if (await tx.get('blob', cid) != null) return false
    tx.put('gone', goneBlobKey(cid), { actor, at: new Date().toISOString() })
    return true
  }
}

/** A tenant's key-less media that only its owners keep: added by hash or retrieved without an owner, it stays. */
async function ownerOnly (tx: Tx, tenant: TenantName, cid: CidString): Promise<boolean> {
  const media = await tx.get('media', mediaId(tenant, cid))
  return media != null && media.unowned !== true
}
