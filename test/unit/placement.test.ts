import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { cidString } from '../../protocol/cid.ts'
import { byPlacement, placementScore, rankPeers } from '../../protocol/placement.ts'

let peers: string[]
let newcomer: string
const cids = Array.from({ length: 10_000 }, (_, i) =>
  cidString(CID.createV1(0x55, Digest.create(0x12, createHash('sha256').update(`blob ${i}`).digest()))))

before(async () => {
  const ids = await Promise.all(Array.from({ length: 11 }, async () => peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()))
  peers = ids.slice(0, 10)
  newcomer = ids[10]!
})

describe('rendezvous placement', () => {
  it('scores by the first 8 bytes of sha256(cid \\n peer), highest first', () => {
    const expected = (cid: string, peer: string): bigint => BigInt(`0x${createHash('sha256').update(`${cid}\n${peer}`).digest('hex').slice(0, 16)}`)
    for (const cid of cids.slice(0, 50)) {
      const ranked = rankPeers(cid, peers)
      const scores = ranked.map(peer => expected(cid, peer))
      for (let i = 1; i < scores.length; i++) assert.ok(scores[i - 1]! > scores[i]!, 'scores must decrease')
      assert.equal(placementScore(cid, ranked[0]!), scores[0])
    }
    assert.equal(placementScore('a', 'b'), expected('a', 'b'))
  })

  it('is deterministic and independent of the input order', () => {
    for (const cid of cids.slice(0, 200)) {
      const ranked = rankPeers(cid, peers)
      assert.deepEqual([...ranked].sort(), [...peers].sort())
      assert.deepEqual(rankPeers(cid, peers), ranked)
      assert.deepEqual(rankPeers(cid, [...peers].reverse()), ranked)
    }
    assert.notDeepEqual(rankPeers(cids[0]!, peers), rankPeers(cids[1]!, peers), 'different CIDs should rank differently')
  })

  it('handles no peers, one peer and duplicates', () => {
    assert.deepEqual(rankPeers(cids[0]!, []), [])
    assert.deepEqual(rankPeers(cids[0]!, [peers[0]!]), [peers[0]])
    assert.deepEqual(rankPeers(cids[0]!, [...peers, ...peers]), rankPeers(cids[0]!, peers))
  })

  it('breaks equal scores by peer id', () => {
    // Distinct peers tie only on a 64-bit collision, so the comparator is checked directly.
    const sorted = [{ peer: 'b', score: 5n }, { peer: 'c', score: 9n }, { peer: 'a', score: 5n }, { peer: 'z', score: 1n }].sort(byPlacement)
    assert.deepEqual(sorted.map(entry => entry.peer), ['c', 'a', 'b', 'z'])
    const [a, b] = [peers[0]!, peers[1]!]
    assert.deepEqual(rankPeers(cids[0]!, [a, b]), placementScore(cids[0]!, a) > placementScore(cids[0]!, b) ? [a, b] : [b, a])
  })

  it('spreads first places evenly (each of 10 peers first 7–13 % of 10,000 CIDs)', () => {
    const firsts = new Map<string, number>(peers.map(peer => [peer, 0]))
    for (const cid of cids) {
      const first = rankPeers(cid, peers)[0]!
      firsts.set(first, firsts.get(first)! + 1)
    }
    for (const [peer, count] of firsts) {
      assert.ok(count >= 700 && count <= 1300, `${peer} first for ${count} of 10000`)
    }
  })

  it('removing a peer keeps the relative order of the others', () => {
    for (let drop = 0; drop < peers.length; drop++) {
      const remaining = peers.filter((_, i) => i !== drop)
      for (const cid of cids.slice(0, 500)) {
        assert.deepEqual(rankPeers(cid, remaining), rankPeers(cid, peers).filter(peer => peer !== peers[drop]))
      }
    }
  })

  it('adding a peer moves only ~1/n of first places, all to the newcomer', () => {
    let moved = 0
    for (const cid of cids) {
      const before = rankPeers(cid, peers)
      const after = rankPeers(cid, [...peers, newcomer])
      assert.deepEqual(after.filter(peer => peer !== newcomer), before)
      if (after[0] !== before[0]) {
        moved++
        assert.equal(after[0], newcomer)
      }
    }
    const share = moved / cids.length
    assert.ok(share > 0.06 && share < 0.125, `${(share * 100).toFixed(1)} % of first places moved (expected ~${(100 / 11).toFixed(1)} %)`)
  })
})
