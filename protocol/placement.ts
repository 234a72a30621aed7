import { createHash } from 'node:crypto'

/**
 * Rendezvous (highest-random-weight) placement: which peers should hold a
 * blob. Every node computes the same order from the same peer list, and the
 * order of two peers never depends on a third, so a peer leaving or joining
 * moves only the blobs it ranked first for.
 */

/** A peer's weight for a CID: the first 8 bytes (big-endian) of sha256(`${cid}\n${peerId}`). */
export function placementScore (cid: string, peerId: string): bigint {
  return createHash('sha256').update(`${cid}\n${peerId}`, 'utf8').digest().readBigUInt64BE(0)
}

export interface Placed { peer: string, score: bigint }

/** The order of rankPeers: higher score first, then lower peer id (UTF-16 order). */
export function byPlacement (a: Placed, b: Placed): number {
  if (a.score !== b.score) return a.score > b.score ? -1 : 1
  return a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0
}

/**
 * Candidates ordered by highest-random-weight for this CID: score = first 8
 * bytes (big-endian) of sha256(`${cid}\n${peerId}`); ties by peer id.
 * Stable: removing a peer does not reorder the others. Duplicates in `peers`
 * appear once.
 */
export function rankPeers (cid: string, peers: readonly string[]): string[] {
  return [...new Set(peers)]
    .map((peer): Placed => ({ peer, score: placementScore(cid, peer) }))
    .sort(byPlacement)
    .map(entry => entry.peer)
}
