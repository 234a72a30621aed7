/**
 * `fdn recover` on a node that no trusted peer has answered yet: it waits up
 * to --wait for them, and says that nothing was recovered (exit 1, the peers
 * it asked) rather than reporting an empty success; once a peer is back the
 * same command recovers. A trusted peer that stays silent while another
 * answers makes the recovery partial, and it says so.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { randomBytes } from 'node:crypto'
import { adminFetch, runCli, startDaemon } from '../helpers/daemon.ts'
import { createTenant, s3Client } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { initNode, status, waitFor } from '../helpers/swarm.ts'
import type { SwarmMember } from '../helpers/swarm.ts'
import type { RecoverReport } from '../../protocol/admin-api.ts'

const ENV = { FDN_REPLICAS: '2', FDN_REPAIR_INTERVAL: '1s' }

describe('fdn recover waits for its trusted peers', { timeout: 180_000 }, () => {
  let node: SwarmMember
  let peer: SwarmMember
  let tenant: Tenant
  const bytes = randomBytes(300 * 1024)

  before(async () => {
    const [a, b] = await Promise.all([initNode(), initNode()])
    const nodeEnv = { ...ENV, FDN_TRUSTED_PEERS: b.peerId }
    node = { ...a, env: nodeEnv, daemon: await startDaemon({ dataDir: a.dataDir, env: nodeEnv }) }
    const peerEnv = { ...ENV, FDN_TRUSTED_PEERS: a.peerId, FDN_BOOTSTRAP: (await status(node.daemon)).addresses.swarm[0] }
    peer = { ...b, env: peerEnv, daemon: await startDaemon({ dataDir: b.dataDir, env: peerEnv }) }
    tenant = await createTenant(node.daemon, 'waiting')
    await s3Client(node.daemon, tenant).send(new PutObjectCommand({ Bucket: tenant.bucket, Key: 'a.bin', Body: bytes, ContentType: 'application/octet-stream' }))
    // the peer keeps the object's copy and the tenant's manifest for the node
    await waitFor(async () => (await status(node.daemon)).replication.pending === 0 && (await status(peer.daemon)).swarm.heldForPeers >= 2, 60_000, 'the peer to hold the copies')
  })

  after(async () => {
    await Promise.all([node, peer].map(async member => await member.daemon.kill()))
    await Promise.all([node, peer].map(async member => await rm(member.dataDir, { recursive: true, force: true })))
  })

  it('refuses a bad wait with a 400 before asking anyone', async () => {
    for (const body of ['{"waitMs":-1}', '{"waitMs":1.5}', '{"waitMs":"30s"}', '{"waitMs":86400001}', '{"wait":1000}', '[1000]', '{"waitMs":']) {
      const response = await adminFetch(node.daemon, '/admin/v1/recover', { method: 'POST', body, headers: { 'content-type': 'application/json' } })
      assert.equal(response.status, 400, body)
      const answer = await response.json() as { error: { code: string, message: string } }
      assert.ok(answer.error.message.length > 0, body)
    }
  })

  it('says no trusted peer answered within --wait, then recovers once the peer is back', async () => {
    await peer.daemon.stop()
    await node.daemon.stop()
    for (const name of await readdir(node.dataDir)) {
      if (name !== 'identity.key') await rm(path.join(node.dataDir, name), { recursive: true, force: true })
    }
    node.daemon = await startDaemon({ dataDir: node.dataDir, env: node.env })

    const started = Date.now()
    const silent = await runCli(['recover', '--wait', '2s', '--json'], { FDN_DATA: node.dataDir })
    const took = Date.now() - started
    assert.equal(silent.code, 1, `${silent.stderr} ${silent.stdout}`)
    assert.match(silent.stderr, new RegExp(`^fdn: no trusted peer answered within 2s \\(asked ${peer.peerId}\\): nothing was recovered`))
    const report = JSON.parse(silent.stdout) as RecoverReport
    assert.deepEqual(report.answered, [])
    assert.deepEqual(report.unanswered.map(entry => entry.peer), [peer.peerId])
    assert.match(report.unanswered[0].reason, /^no answer within the wait/)
    assert.equal(report.tenantsRestored, 0)
    // the CLI's own start-up and the daemon's answer besides the 2 s wait
    assert.ok(took < 8_000, `recover took ${took} ms`)
    assert.equal((await status(node.daemon)).objects, 0)

    // asked before the peer is up: the recovery waits for it
    const recovering = runCli(['recover', '--wait', '60s', '--json'], { FDN_DATA: node.dataDir }, undefined, { timeoutMs: 120_000 })
    peer.daemon = await startDaemon({ dataDir: peer.dataDir, env: { ...peer.env, FDN_BOOTSTRAP: (await status(node.daemon)).addresses.swarm[0] } })
    const recovered = await recovering
    assert.equal(recovered.code, 0, `${recovered.stderr} ${recovered.stdout}`)
    const done = JSON.parse(recovered.stdout) as RecoverReport
    assert.deepEqual(done.answered, [peer.peerId])
    assert.deepEqual(done.unanswered, [])
    assert.equal(done.tenantsRestored, 1)
    assert.equal(done.objectsRestored, 1)
    const answer = await s3Client(node.daemon, tenant).send(new GetObjectCommand({ Bucket: tenant.bucket, Key: 'a.bin' }))
    assert.ok(Buffer.from(await answer.Body?.transformToByteArray() ?? []).equals(bytes))
  })

  it('reports a partial recovery when one trusted peer answers and another does not', async () => {
    const absent = await initNode()
    await node.daemon.stop()
    node.env = { ...node.env, FDN_TRUSTED_PEERS: `${peer.peerId},${absent.peerId}` }
    node.daemon = await startDaemon({ dataDir: node.dataDir, env: node.env })
    await rm(absent.dataDir, { recursive: true, force: true })
    await waitFor(async () => (await status(node.daemon)).swarm.trustedHealthy === 1, 30_000, 'the node to reach its peer again')

    const partial = await runCli(['recover', '--wait', '2s', '--json'], { FDN_DATA: node.dataDir })
    assert.equal(partial.code, 1, `${partial.stderr} ${partial.stdout}`)
    assert.match(partial.stderr, /^fdn: 1 of 2 trusted peers did not answer, so what only they hold was not recovered: run 'fdn recover' again once those peers are back/)
    const report = JSON.parse(partial.stdout) as RecoverReport
    assert.deepEqual(report.answered, [peer.peerId])
    assert.deepEqual(report.unanswered.map(entry => entry.peer), [absent.peerId])
    assert.equal(report.objectsRestored, 1, 'what the answering peer holds is recovered')
    assert.deepEqual(report.missing, [])

    const text = await runCli(['recover', '--wait', '1s'], { FDN_DATA: node.dataDir })
    assert.equal(text.code, 1)
    assert.match(text.stdout, new RegExp(`trusted peers that did not answer \\(1 of 2\\):\\n +${absent.peerId} +no answer within the wait`))
  })
})
