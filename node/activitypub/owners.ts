import type { CidString } from '../../protocol/cid.ts'
import type { IndexDb, Range, Tx } from '../store/index-db.ts'
import type { OwnerRecord } from '../store/records.ts'

/**
 * The ActivityPub owners of media: which actor's status carried which blob,
 * for which tenant (empty: the node's own prefetch). `owner` rows are keyed
 * `{actor}\n{status}\n{cid}\n{tenant}`, so one prefix finds an actor's media
 * and a longer one a status's; `owned` counts the rows per tenant and blob,
 * so a Delete releases a tenant's copy only with its last owner.
 */
export interface Owner {
  actor: string
  /** The status (post) URI; empty for media of the actor itself (avatar, header). */
  status: string
}

export interface OwnedMedia extends Owner {
  cid: CidString
  tenant: string
  url: string
  key?: string
}

export function ownerKey (media: Pick<OwnedMedia, 'actor' | 'status' | 'cid' | 'tenant'>): string {
  return `${media.actor}\n${media.status}\n${media.cid}\n${media.tenant}`
}

export function ownedKey (tenant: string, cid: CidString): string {
  return `${tenant}\n${cid}`
}

/** Records that an owner's status carries a blob a tenant (or the node) keeps; the same row twice changes only its key. */
export async function recordOwner (tx: Tx, media: OwnedMedia): Promise<void> {
  const id = ownerKey(media)
  const existing = await tx.get('owner', id)
  const record: OwnerRecord = { tenant: media.tenant, url: media.url, ...(media.key != null ? { key: media.key } : existing?.key != null ? { key: existing.key } : {}), at: existing?.at ?? new Date().toISOString() }
  tx.put('owner', id, record)
  if (existing == null) {
    const counted = ownedKey(media.tenant, media.cid)
    tx.put('owned', counted, (await tx.get('owned', counted) ?? 0) + 1)
  }
}

/** Forgets one owner row; returns how many rows still name that tenant's copy of the blob. */
export async function forgetOwner (tx: Tx, media: OwnedMedia): Promise<number> {
  tx.del('owner', ownerKey(media))
  const counted = ownedKey(media.tenant, media.cid)
  const left = Math.max((await tx.get('owned', counted) ?? 1) - 1, 0)
  if (left === 0) tx.del('owned', counted)
  else tx.put('owned', counted, left)
  return left
}

/** The range of `owner` rows of an actor's status, or of all the actor's media. */
export function ownerRange (owner: { actor: string, status?: string }): Range {
  const prefix = owner.status != null ? `${owner.actor}\n${owner.status}\n` : `${owner.actor}\n`
  return { gte: prefix, lt: `${prefix}\xff` }
}

/** Reads up to `limit` owner rows of the range. */
export async function ownedMedia (db: IndexDb, owner: { actor: string, status?: string }, limit: number): Promise<OwnedMedia[]> {
  const rows: OwnedMedia[] = []
  for await (const [key, record] of db.entries('owner', { ...ownerRange(owner), limit })) {
    const [actor = '', status = '', cid = '', tenant = ''] = key.split('\n')
    rows.push({ actor, status, cid: cid as CidString, tenant, url: record.url, ...(record.key != null ? { key: record.key } : {}) })
  }
  return rows
}
