/**
 * A delete that lands while the object's copies are still being placed
 * (found by `npm run chaos`): every peer asked to hold a copy is told to
 * drop it, and a deleted private blob is served by no gateway afterwards,
 * not even by a node that was named in its placement.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { jpeg, sha256Hex } from '../helpers/bytes.ts'
import { createTenant, s3Client } from '../helpers/s3.ts'
import { blobView, startSwarm, waitFor } from '../helpers/swarm.ts'
import type { SwarmMember } from '../helpers/swarm.ts'
import { rawCidOfSha256 } from '../../protocol/retrieve-api.ts'

describe('a delete right after a put', { timeout: 180_000 }, () => {
  let nodes: SwarmMember[]

  before(async () => {
    nodes = await startSwarm(3, { FDN_REPAIR_INTERVAL: '1s', FDN_FETCH_TIMEOUT: '3s' })
  })
  after(async () => {
    await Promise.all((nodes ?? []).map(async node => await node.daemon.stop()))
  })

  it('leaves no copy on any holder, and no gateway serves the deleted private blob', async () => {
    const tenant = await createTenant(nodes[0]!.daemon, 'short-lived', { replicas: 3 })
    const s3 = s3Client(nodes[0]!.daemon, tenant)
    const cids: string[] = []
    // deleted 0 to 1.35 s after its put: some while their holds are in flight, some after
    for (let i = 0; i < 10; i++) {
      const body = jpeg(20_000 + i, `deleted soon ${i}`)
      await s3.send(new PutObjectCommand({ Bucket: tenant.bucket, Key: `k${i}`, Body: body }))
      await sleep(i * 150)
      await s3.send(new DeleteObjectCommand({ Bucket: tenant.bucket, Key: `k${i}` }))
      cids.push(rawCidOfSha256(sha256Hex(body)))
    }
    const holding = async (): Promise<string[]> => {
      const held: string[] = []
      for (const [i, cid] of cids.entries()) {
        for (const [n, node] of nodes.entries()) {
          const view = await blobView(node, cid)
          if (view != null) held.push(`k${i} on node ${n} (${view.refs.map(ref => ref.kind).join(',')})`)
        }
      }
      return held
    }
    await waitFor(async () => (await holding()).length === 0, 30_000, 'every copy to be released').catch(async (err: unknown) => {
      throw new Error(`${(err as Error).message}: still held: ${(await holding()).join('; ')}`)
    })
    for (const cid of cids) {
      for (const [n, node] of nodes.entries()) {
        const response = await fetch(`${node.daemon.http}/ipfs/${cid}`)
        await response.arrayBuffer()
        assert.notEqual(response.status, 200, `node ${n} serves the deleted private blob ${cid}`)
      }
    }
  })
})
