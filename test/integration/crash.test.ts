// Crash consistency: SIGKILL the daemon at random moments while concurrent
// uploads of various sizes are in flight. Every upload it acknowledged must be
// served byte-identical after a restart, the index must never reference a
// missing block, and gc must clean up what the crashes left.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { adminFetch, blockFiles, runCli, sha256Hex, startDaemon, tempDir, waitFor } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'

const MiB = 1024 * 1024
const ROUNDS = 4
const WORKERS = 3
/**
 * Sizes around the 1 MiB chunk boundary, and multi-block files whose ingest
 * takes a while. 1-byte files and the 1-byte tails of MiB + 1 files often
 * share a block, which physicalBytes must count once.
 */
const SIZES = [0, 1, 777, 20_000, 64 * 1024, 300 * 1024, MiB - 1, MiB, MiB + 1, 2 * MiB + 500, 4 * MiB + 17]

interface Acknowledged { sha256: string, size: number, round: number }

interface VerifyReport { blobs: number, blocks: number, ok: number, missing: unknown[], corrupt: unknown[] }

async function assertServed (daemon: RunningDaemon, acked: Map<string, Acknowledged>, filter: (a: Acknowledged) => boolean): Promise<number> {
  let checked = 0
  for (const [cid, expected] of acked) {
    if (!filter(expected)) continue
    const response = await fetch(`${daemon.http}/ipfs/${cid}`)
    assert.equal(response.status, 200, `acknowledged ${cid} (${expected.size} B, round ${expected.round}) is served`)
    const bytes = Buffer.from(await response.arrayBuffer())
    assert.equal(bytes.length, expected.size, cid)
    assert.equal(sha256Hex(bytes), expected.sha256, `${cid} is byte-identical`)
    checked++
  }
  return checked
}

async function verify (daemon: RunningDaemon): Promise<VerifyReport> {
  const result = await runCli(['verify', '--json'], { FDN_DATA: daemon.dataDir })
  const report = JSON.parse(result.stdout) as VerifyReport
  assert.deepEqual({ missing: report.missing, corrupt: report.corrupt }, { missing: [], corrupt: [] }, 'no reference to a missing or corrupt block')
  assert.equal(result.code, 0, result.stderr)
  assert.equal(report.ok, report.blocks)
  return report
}

describe('SIGKILL during concurrent ingest', () => {
  it(`${ROUNDS} rounds of ${WORKERS} concurrent uploaders killed at a random moment lose nothing acknowledged`, async () => {
    const dataDir = await tempDir('fdn-crash-')
    const acked = new Map<string, Acknowledged>()
    /** A few acknowledged files, sent again to exercise dedup across crashes. */
    const resend: Buffer[] = []
    const kills: number[] = []
    let attempts = 0

    for (let round = 1; round <= ROUNDS; round++) {
      const daemon = await startDaemon({ dataDir })
      // everything acknowledged before the previous kill is back
      await assertServed(daemon, acked, a => a.round === round - 1)

      let killed = false
      const unexpected: unknown[] = []
      const worker = async (): Promise<void> => {
        while (!killed) {
          const again = resend.length > 0 && randomInt(6) === 0
          const bytes = again ? resend[randomInt(resend.length)] as Buffer : randomBytes(SIZES[randomInt(SIZES.length)] as number)
          attempts++
          let answer: { cid: string, size: number }
          try {
            const response = await adminFetch(daemon, '/admin/v1/blobs', { method: 'POST', body: bytes })
            const text = await response.text()
            assert.ok(response.status === 201 || response.status === 200, `${response.status} ${text}`)
            answer = JSON.parse(text) as { cid: string, size: number }
          } catch (err) {
            if (!killed) unexpected.push(err)
            return
          }
          // acknowledged: the daemon answered, so this must survive any crash from now on
          assert.equal(answer.size, bytes.length)
          const previous = acked.get(answer.cid)
          if (previous != null) assert.equal(previous.sha256, sha256Hex(bytes))
          else acked.set(answer.cid, { sha256: sha256Hex(bytes), size: bytes.length, round })
          if (!again && bytes.length <= 2 * MiB && resend.length < 4) resend.push(bytes)
        }
      }
      const workers = Array.from({ length: WORKERS }, async () => { await worker() })
      // killed at a random moment once this round has acknowledged two uploads: on a busy machine (or
      // with every write flushed to a slow disk, FDN_FSYNC) a fixed delay may pass before any is
      const before = acked.size
      await waitFor(() => acked.size >= before + 2 || unexpected.length > 0, `round ${round}: two uploads acknowledged`, 60_000)
      const killAt = randomInt(0, 550)
      kills.push(killAt)
      await sleep(killAt)
      killed = true
      await daemon.kill()
      await Promise.all(workers)
      assert.deepEqual(unexpected, [], `no upload failed before the kill (round ${round})`)
    }
    assert.ok(acked.size >= ROUNDS * 2, `enough uploads were acknowledged to prove anything: ${acked.size} of ${attempts} (kills ${kills.join(', ')} ms after each round's second)`)

    const daemon = await startDaemon({ dataDir })
    try {
      assert.equal(await assertServed(daemon, acked, () => true), acked.size)
      const before = await verify(daemon)
      assert.ok(before.blobs >= acked.size, 'every acknowledged blob is in the index (and maybe some unacknowledged ones that committed)')
      const statusBefore = await (await adminFetch(daemon, '/admin/v1/status')).json() as { blobs: number, physicalBytes: number }
      assert.equal(statusBefore.blobs, before.blobs, 'the totals in the index match its blobs')
      assert.ok((await blockFiles(dataDir)).bytes >= statusBefore.physicalBytes, 'the disk holds at least what the index counts')

      // gc removes what the crashes left behind, and nothing anyone holds
      const gc = await runCli(['gc', '--json'], { FDN_DATA: dataDir })
      assert.equal(gc.code, 0, gc.stderr)
      const report = JSON.parse(gc.stdout) as { blocksScanned: number, blocksRemoved: number }
      const after = await verify(daemon)
      assert.equal(after.blobs, before.blobs)
      assert.equal(after.blocks, before.blocks)
      const disk = await blockFiles(dataDir)
      assert.equal(disk.count, report.blocksScanned - report.blocksRemoved)
      const statusAfter = await (await adminFetch(daemon, '/admin/v1/status')).json() as { physicalBytes: number }
      assert.equal(disk.bytes, statusAfter.physicalBytes, 'after gc the disk holds exactly the blocks the index counts')
      assert.equal(await assertServed(daemon, acked, () => true), acked.size)
      const second = JSON.parse((await runCli(['gc', '--json'], { FDN_DATA: dataDir })).stdout) as { blocksRemoved: number }
      assert.equal(second.blocksRemoved, 0)
    } finally {
      assert.equal(await daemon.stop(), 0)
    }
    await rm(dataDir, { recursive: true, force: true })
  })
})
