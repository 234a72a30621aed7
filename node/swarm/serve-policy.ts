import type { CID } from 'multiformats/cid'
import { cidString } from '../../protocol/cid.ts'
import type { MediaStore } from '../store/media-store.ts'

/**
 * Which blocks this node hands to any peer that asks (bitswap). A blob whose
 * references are all private is not served by hash on the gateway, and not
 * to the swarm either, except while a grant lets a trusted peer copy it
 * (replication to a holder, a recovery). Blocks inside a DAG are reachable
 * only through its root, so only roots are checked, as on the gateway.
 */
export class ServePolicy {
  private readonly store: MediaStore
  private readonly grants = new Map<string, number>()

  constructor (store: MediaStore) {
    this.store = store
  }

  /** Lets the swarm fetch a private blob for `ttlMs`. */
  grant (cid: string, ttlMs: number): void {
    const until = Date.now() + ttlMs
    if ((this.grants.get(cid) ?? 0) < until) this.grants.set(cid, until)
  }

  async mayServe (cid: CID): Promise<boolean> {
    const key = cidString(cid)
    const blob = await this.store.stat(cid)
    if (blob == null || blob.publicRefs > 0) return true
    const until = this.grants.get(key)
    if (until == null) return false
    if (until >= Date.now()) return true
    this.grants.delete(key)
    return false
  }
}
