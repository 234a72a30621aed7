import type { PrivateKey } from '@libp2p/interface'
import { signRecord, encodeManifest } from '../../protocol/swarm-records.ts'
import type { ManifestObject } from '../../protocol/swarm-records.ts'
import type { Logger } from '../log.ts'
import type { MediaStore } from '../store/media-store.ts'
import { addRef, removeRef } from '../store/refs.ts'
import type { ObjectRecord } from '../objects/types.ts'

/** A burst of writes to one tenant publishes one manifest, this long after the last. */
const DEBOUNCE_MS = 1000
/** …but a tenant written to without pause is still published this often. */
const MAX_DELAY_MS = 10_000

/**
 * Publishes each tenant's index as a signed, versioned manifest blob (a
 * `manifest` reference, replicated like any blob this node originates), a
 * little after the tenant's objects change. The previous version's
 * reference goes in the same transaction, so holders are released from it.
 */
export class ManifestPublisher {
  private readonly store: MediaStore
  private readonly key: PrivateKey
  private readonly self: string
  private readonly log: Logger
  private readonly dirty = new Map<string, { timer: NodeJS.Timeout, since: number }>()
  /** One publish at a time per tenant: two versions computed side by side could leave the older one last. */
  private readonly chains = new Map<string, Promise<void>>()
  private stopped = false

  constructor (store: MediaStore, key: PrivateKey, self: string, log: Logger) {
    this.store = store
    this.key = key
    this.self = self
    this.log = log
  }

  /** Tenants whose manifest is not published yet: counted as pending replication. */
  get pending (): number {
    return this.dirty.size
  }

  async start (): Promise<void> {
    this.store.onChange(changes => { for (const tenant of changes.tenants) void this.changed(tenant) })
    // tenants changed while the node was down, or never published
    for await (const [name] of this.store.db.entries('tenant')) {
      if (await this.store.db.get('manifest', `${this.self}/${name}`) == null) this.mark(name)
    }
  }

  async stop (): Promise<void> {
    this.stopped = true
    for (const { timer } of this.dirty.values()) clearTimeout(timer)
    await Promise.allSettled(this.chains.values())
  }

  /** A removed tenant's manifest goes at once (its holders are released); a changed one is published a little later. */
  private async changed (tenant: string): Promise<void> {
    if (await this.store.db.get('tenant', tenant) != null) {
      this.mark(tenant)
      return
    }
    clearTimeout(this.dirty.get(tenant)?.timer)
    this.dirty.delete(tenant)
    await this.run(tenant)
  }

  private async run (tenant: string): Promise<void> {
    const work = (this.chains.get(tenant) ?? Promise.resolve()).then(async () => { await this.publish(tenant) })
      .catch((err: unknown) => {
        this.log.warn({ err, tenant }, 'could not publish a tenant manifest; retrying')
        this.mark(tenant)
      })
    this.chains.set(tenant, work)
    await work
    if (this.chains.get(tenant) === work) this.chains.delete(tenant)
  }

  mark (tenant: string): void {
    if (this.stopped) return
    const previous = this.dirty.get(tenant)
    const since = previous?.since ?? Date.now()
    clearTimeout(previous?.timer)
    const delay = Math.max(0, Math.min(DEBOUNCE_MS, since + MAX_DELAY_MS - Date.now()))
    const timer = setTimeout(() => {
      this.dirty.delete(tenant)
      void this.run(tenant)
    }, delay)
    this.dirty.set(tenant, { timer, since })
  }

  private async publish (tenant: string): Promise<void> {
    const pointerKey = `${this.self}/${tenant}`
    const record = await this.store.db.get('tenant', tenant)
    const previous = await this.store.db.get('manifest', pointerKey)
    if (record == null) {
      // the tenant was removed: its manifest goes, and holders are released
      if (previous != null) await this.store.transact(async tx => { await removeRef(tx, previous.cid, 'manifest', tenant); tx.del('manifest', pointerKey) })
      return
    }
    const objects: ManifestObject[] = []
    for await (const [id, object] of this.store.db.entries('object', { gt: `${tenant}/`, lt: `${tenant}0` })) {
      objects.push(manifestObject(id.slice(tenant.length + 1), object))
    }
    const version = Math.max(Date.now(), (previous?.version ?? 0) + 1)
    const signed = await signRecord(this.key, {
      type: 'fdn/manifest',
      v: 1,
      origin: this.self,
      tenant,
      version,
      time: new Date().toISOString(),
      tenantRecord: { ...record },
      objects
    })
    const bytes = encodeManifest(signed)
    try {
      await this.store.ingest((async function * () { yield bytes })(), { maxSize: Infinity }, async (tx, blob) => {
        const current = await tx.get('manifest', pointerKey)
        // the tenant went, or a newer version is in: throwing lets the ingest remove what it wrote
        if (await tx.get('tenant', tenant) == null || (current != null && current.version >= version)) throw new Superseded()
        await addRef(tx, blob.record.cid, { kind: 'manifest', holder: tenant, public: false }, blob)
        if (current != null && current.cid !== blob.record.cid) await removeRef(tx, current.cid, 'manifest', tenant)
        tx.put('manifest', pointerKey, { version, cid: blob.record.cid })
      })
    } catch (err) {
      if (err instanceof Superseded) return
      throw err
    }
    this.log.debug({ tenant, version, objects: objects.length }, 'published a tenant manifest')
  }
}

/** A manifest computed for a state that is gone before it could be recorded. */
class Superseded extends Error {}

function manifestObject (key: string, object: ObjectRecord): ManifestObject {
  const { contentType, ...headers } = object.headers
  return {
    key,
    cid: object.cid,
    size: object.size,
    contentType: contentType ?? 'application/octet-stream',
    acl: object.acl,
    etag: object.etag,
    mtime: object.mtime,
    meta: object.metadata,
    headers: Object.fromEntries(Object.entries(headers).filter((entry): entry is [string, string] => entry[1] != null)),
    ...(object.parts != null ? { parts: object.parts } : {})
  }
}
