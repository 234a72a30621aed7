import type { CID } from 'multiformats/cid'
import type { MediaStore } from '../store/media-store.ts'

/** Grants kept before expired ones are swept (each is one hold in flight). */
const SWEEP_AT = 10_000

/**
 * Which blocks this node hands to a peer that asks (bitswap). A block of a
 * public blob goes to anyone. A block whose every blob is private goes only
 * to a peer holding a grant for one of those blobs, each by peer ID and for a
 * bounded time: the peer asked to hold a copy (for as long as a hold takes),
 * the origin recovering what it left here. Everyone else, the same peers
 * outside their grants included, is told the node does not have it, as for a
 * block it never stored: a peer's gateway read keeps what it fetches as a
 * public cache copy, so being named in a placement must not be enough. A
 * block is judged by every blob that holds it, so the leaves of a private
 * file are as private as its root.
 */
export class ServePolicy {
  private readonly store: MediaStore
  /** `{cid}\n{peer}` → until when that peer may copy that private blob (a hold in flight). */
  private readonly grants = new Map<string, number>()

  constructor (store: MediaStore) {
    this.store = store
  }

  /** Lets `peer`, and no one else, fetch the private blob `cid` for `ttlMs`. */
  grant (cid: string, peer: string, ttlMs: number): void {
    const key = grantKey(cid, peer)
    const until = Date.now() + ttlMs
    if ((this.grants.get(key) ?? 0) < until) this.grants.set(key, until)
    if (this.grants.size > SWEEP_AT) this.sweep()
  }

  /** Whether `peer` may have this block; no peer is the node's own read. */
  async mayServe (cid: CID, peer: string | undefined): Promise<boolean> {
    if (peer == null) return true
    for await (const blob of this.store.blobsContaining(cid)) {
      if (blob.publicRefs > 0 || this.granted(blob.cid, peer)) return true
    }
    return false
  }

  private granted (cid: string, peer: string): boolean {
    const key = grantKey(cid, peer)
    const until = this.grants.get(key)
    if (until == null) return false
    if (until >= Date.now()) return true
    this.grants.delete(key)
    return false
  }

  private sweep (): void {
    const now = Date.now()
    for (const [key, until] of this.grants) if (until < now) this.grants.delete(key)
  }
}

function grantKey (cid: string, peer: string): string {
  return `${cid}\n${peer}`
}
