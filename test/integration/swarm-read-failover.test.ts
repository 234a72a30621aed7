/**
 * A gateway read of a blob the reader lacks streams it from the swarm while
 * it arrives. When the holder it is reading from dies mid-stream, the read
 * goes on from another holder at the next block: the client gets every
 * byte, never a cut response.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { readFile, rm } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { addBytes, startDaemon } from '../helpers/daemon.ts'
import { blobView, initNode, status, waitFor } from '../helpers/swarm.ts'
import type { SwarmMember } from '../helpers/swarm.ts'

const MiB = 1024 * 1024
/** Larger than what a read asks ahead (32 leaves) plus the loopback socket buffers: blocks are still wanted when the holder dies. */
const SIZE = 64 * MiB

const ENV = {
  FDN_REPLICAS: '2',
  FDN_REPAIR_INTERVAL: '1s',
  FDN_FETCH_TIMEOUT: '20s',
  FDN_CACHE_SIZE: '1MB',
  FDN_BLOCK_CACHE: '0',
  FDN_MAX_OBJECT_SIZE: '256MB',
  FDN_LOG_LEVEL: 'info'
}

describe('a streamed swarm read whose holder dies', { timeout: 300_000 }, () => {
  const members: SwarmMember[] = []
  let bytes: Buffer
  let cid: string

  before(async () => {
    const [a, b, reader] = await Promise.all([initNode(), initNode(), initNode()])
    // the two holders trust each other only, so the copy goes to b; the reader trusts both and asks them first
    const aEnv = { ...ENV, FDN_TRUSTED_PEERS: b.peerId }
    const aDaemon = await startDaemon({ dataDir: a.dataDir, env: aEnv })
    const bootstrap = (await status(aDaemon)).addresses.swarm[0]
    members.push({ ...a, env: aEnv, daemon: aDaemon })
    const bEnv = { ...ENV, FDN_TRUSTED_PEERS: a.peerId, FDN_BOOTSTRAP: bootstrap }
    members.push({ ...b, env: bEnv, daemon: await startDaemon({ dataDir: b.dataDir, env: bEnv }) })
    const rEnv = { ...ENV, FDN_TRUSTED_PEERS: `${a.peerId},${b.peerId}`, FDN_BOOTSTRAP: bootstrap }
    members.push({ ...reader, env: rEnv, daemon: await startDaemon({ dataDir: reader.dataDir, env: rEnv }) })
    await waitFor(async () => (await status(members[2].daemon)).swarm.trustedHealthy === 2, 30_000, 'the reader to see both holders')
    bytes = randomBytes(SIZE)
    cid = (await addBytes(members[0].daemon, bytes)).cid
    await waitFor(async () => (await blobView(members[1], cid))?.refs.some(ref => ref.kind === 'replica') === true, 60_000, 'the second holder to keep its copy')
  })

  after(async () => {
    await Promise.all(members.map(async member => await member.daemon.kill()))
    await Promise.all(members.map(async member => await rm(member.dataDir, { recursive: true, force: true })))
  })

  it('delivers every byte when the holder it reads from is SIGKILLed mid-stream', async () => {
    const holders = members.slice(0, 2)
    const reader = members[2]
    assert.equal(await blobView(reader, cid), undefined, 'the reader lacks the blob')
    const before = await Promise.all(holders.map(async holder => await written(holder)))
    const response = await fetch(`${reader.daemon.http}/ipfs/${cid}`)
    assert.equal(response.status, 200)
    assert.equal(response.headers.get('transfer-encoding'), 'chunked', 'the body streams while the blob arrives')
    const body = response.body?.getReader()
    assert.ok(body != null)
    const chunks: Buffer[] = []
    let received = 0
    let killed = false
    for (;;) {
      const next = await body.read().catch((err: unknown) => {
        throw new Error(`the response was cut after ${received} of ${SIZE} bytes (${(err as Error).message}); the reader logged:\n${errors(reader)}`)
      })
      if (next.done) break
      chunks.push(Buffer.from(next.value))
      received += next.value.length
      if (!killed && received >= 2 * MiB) {
        // the holder sending the blocks writes megabytes since the read began, the other next to nothing
        let sent: number[] = []
        await waitFor(async () => {
          sent = await Promise.all(holders.map(async (holder, i) => await written(holder) - before[i]))
          return Math.max(...sent) > 8 * MiB
        }, 10_000, 'a holder to send the blocks')
        const serving = sent[0] > sent[1] ? 0 : 1
        assert.ok(sent[1 - serving] < 4 * MiB, `one holder sends the blocks: ${sent.join(' and ')} bytes written`)
        await holders[serving].daemon.kill()
        killed = true
      }
      // slowly: the transfer from the holders is still in flight, paced by this reader
      if (received < 8 * MiB) await sleep(5)
    }
    assert.ok(killed, 'the holder was killed mid-stream')
    assert.equal(received, SIZE)
    assert.ok(Buffer.concat(chunks).equals(bytes), 'the body is the blob, byte for byte')
  })
})

/** Bytes the member's process has written (files and sockets), from /proc. */
async function written (member: SwarmMember): Promise<number> {
  const io = await readFile(`/proc/${member.daemon.process.pid}/io`, 'utf8')
  return Number(/^wchar: (\d+)$/m.exec(io)?.[1])
}

function errors (member: SwarmMember): string {
  return member.daemon.output().split('\n').filter(line => line.includes('"level":50') || line.includes('"level":40')).slice(-10).join('\n') || 'nothing at warn or error'
}
