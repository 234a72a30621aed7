// A disk that fills up: the data directory is a small tmpfs (this needs root,
// as CI has; the test fails rather than skips without it). Uploads that no
// longer fit get 507, everything acknowledged before stays served, and the
// store stays consistent.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readdir, rm, statfs } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { adminFetch, blockFiles, runCli, sha256Hex, startDaemon, tempDir } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'

const run = promisify(execFile)
const MiB = 1024 * 1024

interface Acknowledged { cid: string, sha256: string, size: number }

async function add (daemon: RunningDaemon, bytes: Uint8Array): Promise<{ status: number, body: { cid?: string, error?: { code: string, message: string } } }> {
  const response = await adminFetch(daemon, '/admin/v1/blobs', { method: 'POST', body: bytes })
  return { status: response.status, body: await response.json() as { cid?: string, error?: { code: string, message: string } } }
}

async function assertServed (daemon: RunningDaemon, acked: Acknowledged[]): Promise<void> {
  for (const { cid, sha256, size } of acked) {
    const response = await fetch(`${daemon.http}/ipfs/${cid}`)
    assert.equal(response.status, 200, cid)
    const bytes = Buffer.from(await response.arrayBuffer())
    assert.equal(bytes.length, size)
    assert.equal(sha256Hex(bytes), sha256, `${cid} byte-identical`)
  }
}

async function assertVerifies (dataDir: string, blobs: number): Promise<void> {
  const result = await runCli(['verify', '--json'], { FDN_DATA: dataDir })
  assert.equal(result.code, 0, `${result.stdout}${result.stderr}`)
  const report = JSON.parse(result.stdout) as { blobs: number, missing: unknown[], corrupt: unknown[] }
  assert.deepEqual(report.missing, [])
  assert.deepEqual(report.corrupt, [])
  assert.equal(report.blobs, blobs)
}

describe('a data disk that fills up', () => {
  let mountPoint: string
  let daemon: RunningDaemon | undefined

  before(async () => {
    mountPoint = await tempDir('fdn-full-')
    // no skipping: without the privilege to mount, this test fails loudly
    await run('mount', ['-t', 'tmpfs', '-o', 'size=8m,mode=0700', 'tmpfs', mountPoint])
    const fs = await statfs(mountPoint)
    assert.ok(fs.blocks * fs.bsize <= 8 * MiB, 'the data directory is the small tmpfs')
  })

  after(async () => {
    if (daemon != null) await daemon.kill()
    await run('umount', [mountPoint]).catch(async () => await run('umount', ['-l', mountPoint]))
    await rm(mountPoint, { recursive: true, force: true })
  })

  it('answers 507 once full, keeps serving what it acknowledged, and stays consistent', async () => {
    daemon = await startDaemon({ dataDir: mountPoint })
    const acked: Acknowledged[] = []
    let refused: { status: number, body: { error?: { code: string, message: string } } } | undefined
    // 700 KiB single-block files and 1.5 MiB two-leaf files, until the disk refuses one
    for (let i = 0; i < 30 && refused == null; i++) {
      const bytes = randomBytes(i % 3 === 2 ? 1.5 * MiB : 700 * 1024)
      const result = await add(daemon, bytes)
      if (result.status === 201) acked.push({ cid: result.body.cid as string, sha256: sha256Hex(bytes), size: bytes.length })
      else refused = result
    }
    assert.ok(refused != null, 'the 8 MB disk filled up')
    assert.equal(refused.status, 507, JSON.stringify(refused.body))
    assert.equal(refused.body.error?.code, 'insufficient_storage')
    assert.ok(acked.length >= 4, `several uploads fit before the disk was full (${acked.length})`)

    // more uploads while full: a clear 507 every time, never a 500
    for (const size of [3 * MiB, 900 * 1024, 2 * MiB + 3]) {
      const result = await add(daemon, randomBytes(size))
      assert.equal(result.status, 507, `${size} B while full: ${JSON.stringify(result.body)}`)
      assert.equal(result.body.error?.code, 'insufficient_storage')
    }
    // the CLI says so in one line
    const cli = await runCli(['add', '-'], { FDN_DATA: mountPoint }, randomBytes(2 * MiB))
    assert.notEqual(cli.code, 0)
    assert.match(cli.stderr, /^fdn: [^\n]*(disk|insufficient_storage)[^\n]*\n$/)

    await assertServed(daemon, acked)
    await assertVerifies(mountPoint, acked.length)
    const status = await (await adminFetch(daemon, '/admin/v1/status')).json() as { blobs: number, physicalBytes: number }
    assert.equal(status.blobs, acked.length)
    // failed uploads removed their own blocks, half-written ones included: the disk holds exactly what the index counts
    assert.equal((await blockFiles(mountPoint)).bytes, status.physicalBytes)
    const leftovers = (await readdir(path.join(mountPoint, 'blocks'), { recursive: true })).filter(name => name.endsWith('.tmp'))
    assert.deepEqual(leftovers, [], 'no temporary files of failed block writes')
    const gc = await runCli(['gc', '--json'], { FDN_DATA: mountPoint })
    assert.equal(gc.code, 0, gc.stderr)
    assert.equal((JSON.parse(gc.stdout) as { blocksRemoved: number }).blocksRemoved, 0)

    // the node keeps working: a file that fits in what is left is accepted
    const small = randomBytes(1000)
    const fits = await add(daemon, small)
    assert.equal(fits.status, 201, `a 1000 B file after the disk filled: ${JSON.stringify(fits.body)}`)
    acked.push({ cid: fits.body.cid as string, sha256: sha256Hex(small), size: small.length })

    // a clean stop and a restart on the full disk serve everything
    assert.equal(await daemon.stop(), 0, daemon.output())
    daemon = await startDaemon({ dataDir: mountPoint })
    await assertServed(daemon, acked)
    await assertVerifies(mountPoint, acked.length)
    assert.equal(await daemon.stop(), 0, daemon.output())
    daemon = undefined
  })
})
