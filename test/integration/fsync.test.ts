// FDN_FSYNC on and off, on real daemons: both accept PutObject and multipart
// parts, and both keep everything they acknowledged across a SIGKILL (what
// FDN_FSYNC=false promises; a power loss, which only true survives, cannot be
// staged here: test/unit/fsync.test.ts checks what is flushed).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, randomInt } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, GetObjectCommand, PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'
import { runCli, sha256Hex, startDaemon, tempDir, waitFor } from '../helpers/daemon.ts'
import type { DaemonOptions } from '../helpers/daemon.ts'
import { createTenant, s3Client } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'

const MiB = 1024 * 1024
const WORKERS = 3
const SIZES = [0, 1, 20_000, 300 * 1024, MiB, MiB + 1, 2 * MiB + 500]

interface Acknowledged { sha256: string, size: number }

async function getBytes (client: S3Client, bucket: string, key: string): Promise<Buffer> {
  const out = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))
  return Buffer.from(await out.Body!.transformToByteArray())
}

/** Starts the daemon twice on one data directory with `setting`, SIGKILLing the first during concurrent PutObjects. */
async function killDuringPuts (setting: Pick<DaemonOptions, 'env' | 'args'>): Promise<void> {
  const dataDir = await tempDir('fdn-fsync-')
  const first = await startDaemon({ dataDir, ...setting })
  const tenant: Tenant = await createTenant(first, 'fsync')
  let client = s3Client(first, tenant)

  // two acknowledged parts of an upload that is completed only after the crash
  const parts = [randomBytes(5 * MiB), randomBytes(1000)]
  const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: tenant.bucket, Key: 'multipart.bin' }))
  const etags: string[] = []
  for (const [i, body] of parts.entries()) {
    etags.push((await client.send(new UploadPartCommand({ Bucket: tenant.bucket, Key: 'multipart.bin', UploadId, PartNumber: i + 1, Body: body }))).ETag ?? '')
  }

  const acked = new Map<string, Acknowledged>()
  const unexpected: unknown[] = []
  let killed = false
  let next = 0
  const worker = async (): Promise<void> => {
    while (!killed) {
      const key = `objects/${next++}.bin`
      const body = randomBytes(SIZES[randomInt(SIZES.length)] as number)
      try {
        await client.send(new PutObjectCommand({ Bucket: tenant.bucket, Key: key, Body: body }))
      } catch (err) {
        if (!killed) unexpected.push(err)
        return
      }
      // answered 200: from here on it must survive the crash
      acked.set(key, { sha256: sha256Hex(body), size: body.length })
    }
  }
  const workers = Array.from({ length: WORKERS }, async () => { await worker() })
  await waitFor(() => acked.size >= 5 || unexpected.length > 0, 'five PutObjects acknowledged', 30_000)
  await sleep(randomInt(0, 300))
  killed = true
  await first.kill()
  await Promise.all(workers)
  client.destroy()
  assert.deepEqual(unexpected, [], 'no PutObject failed before the kill')

  const second = await startDaemon({ dataDir, ...setting })
  try {
    client = s3Client(second, tenant)
    for (const [key, expected] of acked) {
      const bytes = await getBytes(client, tenant.bucket, key)
      assert.equal(bytes.length, expected.size, key)
      assert.equal(sha256Hex(bytes), expected.sha256, `${key} is byte-identical after the crash`)
    }
    await client.send(new CompleteMultipartUploadCommand({
      Bucket: tenant.bucket,
      Key: 'multipart.bin',
      UploadId,
      MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) }
    }))
    assert.ok((await getBytes(client, tenant.bucket, 'multipart.bin')).equals(Buffer.concat(parts)), 'the parts acknowledged before the crash make the object')
    const verify = await runCli(['verify', '--json'], { FDN_DATA: dataDir })
    assert.equal(verify.code, 0, verify.stderr)
    const report = JSON.parse(verify.stdout) as { missing: unknown[], corrupt: unknown[] }
    assert.deepEqual({ missing: report.missing, corrupt: report.corrupt }, { missing: [], corrupt: [] })
  } finally {
    client.destroy()
    assert.equal(await second.stop(), 0)
  }
  await rm(dataDir, { recursive: true, force: true })
}

describe('FDN_FSYNC: acknowledged writes survive SIGKILL with either setting', () => {
  it('FDN_FSYNC=true (environment): every acknowledged PutObject and part is back after a SIGKILL', async () => {
    await killDuringPuts({ env: { FDN_FSYNC: 'true' } })
  })

  it('--fsync false (flag): every acknowledged PutObject and part is back after a SIGKILL', async () => {
    await killDuringPuts({ args: ['--fsync', 'false'] })
  })
})
