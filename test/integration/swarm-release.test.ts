/**
 * A holder that is down when its origin drops a blob is told to drop its
 * copy once it is back: the release is retried at every repair round, not
 * lost with the first try.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { DeleteObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { startDaemon } from '../helpers/daemon.ts'
import { jpeg, sha256Hex } from '../helpers/bytes.ts'
import { rawCidOfSha256 } from '../../protocol/retrieve-api.ts'
import { blobView, startSwarm, status, waitFor } from '../helpers/swarm.ts'
import type { SwarmMember } from '../helpers/swarm.ts'
import { createTenant, s3Client } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'

describe('releases reach a holder that was down', () => {
  let nodes: SwarmMember[]
  let tenant: Tenant

  before(async () => {
    nodes = await startSwarm(2, { FDN_REPLICAS: '2', FDN_REPAIR_INTERVAL: '1s' })
    tenant = await createTenant(nodes[0]!.daemon, 'release-test')
  })
  after(async () => {
    await Promise.all(nodes.map(async node => await node.daemon.stop()))
  })

  it('a copy whose release was missed is dropped after the holder restarts', async () => {
    const s3 = s3Client(nodes[0]!.daemon, tenant)
    const body = jpeg(64 * 1024, 'released while away')
    await s3.send(new PutObjectCommand({ Bucket: 'release-test', Key: 'a.jpg', Body: body, ContentType: 'image/jpeg' }))
    // a file of one chunk is one raw block: its CID is its SHA-256
    const cid = rawCidOfSha256(sha256Hex(body))
    assert.notEqual(await blobView(nodes[0]!, cid), undefined)
    await waitFor(async () => (await blobView(nodes[1]!, cid))?.refs.some(ref => ref.kind === 'replica') === true, 20_000, 'the holder to keep a copy')

    const holder = nodes[1]!
    await holder.daemon.stop()
    await s3.send(new DeleteObjectCommand({ Bucket: 'release-test', Key: 'a.jpg' }))
    assert.equal(await blobView(nodes[0]!, cid), undefined, 'the origin dropped the blob')

    nodes[1] = { ...holder, daemon: await startDaemon({ dataDir: holder.dataDir, env: holder.env }) }
    assert.notEqual(await blobView(nodes[1]!, cid), undefined, 'the holder still has the copy it was not told about')
    await waitFor(async () => (await blobView(nodes[1]!, cid)) == null, 30_000, 'the restarted holder to drop the copy')
  })
})
