// A disk full to the last byte fails a write of the index itself (starting
// a multipart upload writes no block, only a LevelDB batch). LevelDB's log then ends in a
// half-written record, and it appended the next batches after it, where
// recovery cannot read them: every write acknowledged after the disk filled
// was lost at the next restart (found by `npm run chaos`). The data directory
// is a small tmpfs: this needs root, as CI has; it fails rather than skips.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { mkdir, open, rm } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { runCli, startDaemon, tempDir } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { createTenant } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { jpeg, sha256Hex } from '../helpers/bytes.ts'

const run = promisify(execFile)

/** Writes a file until the disk refuses even 512 bytes. */
async function fillDisk (file: string): Promise<void> {
  const handle = await open(file, 'a')
  const chunk = Buffer.alloc(1024 * 1024)
  try {
    for (let i = 0; i < 100; i++) await handle.write(chunk)
  } catch (err) {
    assert.equal((err as NodeJS.ErrnoException).code, 'ENOSPC')
  }
  for (let size = chunk.length / 2; size >= 512; size /= 2) await handle.write(chunk.subarray(0, size)).catch(() => {})
  await handle.close()
}

describe('an index write refused by a full disk', () => {
  let mountPoint: string
  let dataDir: string
  let daemon: RunningDaemon | undefined
  let tenant: Tenant
  const env = { FDN_MIN_FREE_SPACE: '0' }
  const s3 = (): S3Client => new S3Client({
    endpoint: daemon!.http,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: tenant,
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED'
  })
  const status = async (promise: Promise<unknown>): Promise<number> => {
    try {
      await promise
      return 200
    } catch (err) {
      return (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 0
    }
  }

  before(async () => {
    mountPoint = await tempDir('fdn-full-index-')
    await run('mount', ['-t', 'tmpfs', '-o', 'size=32m,mode=0700', 'tmpfs', mountPoint])
    dataDir = path.join(mountPoint, 'data')
    await mkdir(dataDir)
  })

  after(async () => {
    if (daemon != null) await daemon.kill()
    await run('umount', [mountPoint]).catch(async () => await run('umount', ['-l', mountPoint]))
    await rm(mountPoint, { recursive: true, force: true })
  })

  it('is a 507, and every write acknowledged once space is back survives a SIGKILL', async () => {
    daemon = await startDaemon({ dataDir, env })
    tenant = await createTenant(daemon, 'full')
    let client = s3()
    const acknowledged = new Map<string, string | undefined>()
    for (let i = 0; i < 60; i++) {
      const body = jpeg(2000, `early ${i}`)
      await client.send(new PutObjectCommand({ Bucket: 'full', Key: `early/${i}`, Body: body }))
      acknowledged.set(`early/${i}`, sha256Hex(body))
    }

    await fillDisk(path.join(mountPoint, 'filler'))
    // starting an upload writes only the index (and frees nothing, as a delete would): one finds the log's last page full
    let refused: number | undefined
    for (let i = 0; i < 500 && refused == null; i++) {
      const code = await status(client.send(new CreateMultipartUploadCommand({ Bucket: 'full', Key: `upload/${i}` })))
      if (code !== 200) refused = code
    }
    assert.equal(refused, 507, 'an index write on a full disk is refused as insufficient storage')
    // what the node acknowledged is still served while the disk is full
    const kept = [...acknowledged].find(([, sha]) => sha != null)!
    const read = await client.send(new GetObjectCommand({ Bucket: 'full', Key: kept[0] }))
    assert.equal(sha256Hex(Buffer.from(await read.Body!.transformToByteArray())), kept[1])

    await rm(path.join(mountPoint, 'filler'))
    for (let i = 0; i < 5; i++) {
      const body = jpeg(3000, `late ${i}`)
      await client.send(new PutObjectCommand({ Bucket: 'full', Key: `late/${i}`, Body: body }))
      acknowledged.set(`late/${i}`, sha256Hex(body))
    }
    await client.send(new DeleteObjectCommand({ Bucket: 'full', Key: 'early/59' }))
    acknowledged.set('early/59', undefined)

    await daemon.kill()
    daemon = await startDaemon({ dataDir, env })
    client = s3()
    for (const [key, sha] of acknowledged) {
      if (sha == null) {
        assert.equal(await status(client.send(new GetObjectCommand({ Bucket: 'full', Key: key }))), 404, `${key} stays deleted`)
        continue
      }
      const response = await client.send(new GetObjectCommand({ Bucket: 'full', Key: key }))
      assert.equal(sha256Hex(Buffer.from(await response.Body!.transformToByteArray())), sha, `${key} survived the restart`)
    }
    const verify = await runCli(['verify', '--json'], { FDN_DATA: dataDir })
    const report = JSON.parse(verify.stdout) as { missing: unknown[], corrupt: unknown[] }
    assert.deepEqual(report.missing, [], 'no blob lost a block')
    assert.deepEqual(report.corrupt, [])
  })
})
