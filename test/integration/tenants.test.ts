import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { adminFetch, runCli, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { createTenant, errorOf, nodeStatus, s3Client } from '../helpers/s3.ts'
import { pngBytes } from '../helpers/bytes.ts'

async function filesUnder (dir: string): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) out.push(path.join(entry.parentPath, entry.name))
  }
  return out
}

describe('fdn tenant', () => {
  let daemon: RunningDaemon
  let env: Record<string, string>

  before(async () => {
    daemon = await startDaemon()
    env = { FDN_DATA: daemon.dataDir }
  })
  after(async () => { await daemon.stop() })

  it('add prints the key pair once with settings for Mastodon, Pixelfed and Misskey', async () => {
    const result = await runCli(['tenant', 'add', 'mastodon-social', '--quota', '500GB'], env)
    assert.equal(result.code, 0, result.stderr)
    const keyId = /access key id:\s+(FDN[A-Z2-7]{17})/.exec(result.stdout)?.[1]
    const secret = /secret access key:\s+(\S{40})/.exec(result.stdout)?.[1]
    assert.ok(keyId != null && secret != null, result.stdout)
    for (const line of ['S3_ENABLED=true', 'S3_BUCKET=mastodon-social', `AWS_ACCESS_KEY_ID=${keyId}`, `AWS_SECRET_ACCESS_KEY=${secret}`,
      'S3_PROTOCOL=http', `S3_HOSTNAME=${new URL(daemon.http).host}`, `S3_ENDPOINT=${daemon.http}`, `S3_ALIAS_HOST=${new URL(daemon.http).host}/mastodon-social`,
      'FILESYSTEM_CLOUD=s3', 'AWS_USE_PATH_STYLE_ENDPOINT=true', 'Bucket: mastodon-social']) {
      assert.ok(result.stdout.includes(line), `missing ${line}`)
    }
    // the secret is kept sealed: no file of the data directory holds it in clear
    for (const file of await filesUnder(daemon.dataDir)) {
      assert.ok(!(await readFile(file)).includes(secret), `${file} holds the plain secret`)
    }
  })

  it('add --json gives name, bucket, key pair and the settings', async () => {
    const result = await runCli(['tenant', 'add', 'pixelfed', '--replicas', '3', '--json'], env)
    assert.equal(result.code, 0, result.stderr)
    const created = JSON.parse(result.stdout) as Record<string, unknown> & { settings: { pixelfed: Record<string, string> } }
    assert.equal(created.name, 'pixelfed')
    assert.equal(created.bucket, 'pixelfed')
    assert.match(String(created.accessKeyId), /^FDN[A-Z2-7]{17}$/)
    assert.equal(String(created.secretAccessKey).length, 40)
    assert.equal(created.replicas, 3)
    assert.equal(created.quota, null)
    assert.equal(created.settings.pixelfed.AWS_BUCKET, 'pixelfed')
  })

  it('refuses duplicates, invalid and reserved names with one line', async () => {
    // a name the node refuses is a usage error (exit 2); a name already taken is a conflict (exit 1)
    for (const [name, pattern, code] of [['pixelfed', /exists already/, 1], ['Bad_Name', /not a valid tenant/, 2], ['ab', /not a valid tenant/, 2], ['ipfs', /reserved/, 2]] as const) {
      const result = await runCli(['tenant', 'add', name], env)
      assert.equal(result.code, code, name)
      assert.match(result.stderr, pattern)
      assert.equal(result.stderr.trim().split('\n').length, 1)
    }
  })

  it('list and show never print the secret', async () => {
    const list = await runCli(['tenant', 'list', '--json'], env)
    const tenants = JSON.parse(list.stdout) as Array<Record<string, unknown>>
    assert.deepEqual(tenants.map(t => t.name).sort(), ['mastodon-social', 'pixelfed'])
    assert.ok(tenants.every(t => !('secretAccessKey' in t) && !('secret' in t)))
    const show = JSON.parse((await runCli(['tenant', 'show', 'mastodon-social', '--json'], env)).stdout) as Record<string, unknown>
    assert.equal(show.quota, 500 * 1024 ** 3)
    assert.equal(show.objects, 0)
    assert.equal(show.logicalBytes, 0)
    assert.ok(!('secretAccessKey' in show))
    const human = await runCli(['tenant', 'list'], env)
    assert.match(human.stdout, /mastodon-social\s+0\s+0 B\s+500\.0 GiB/)
  })

  it('set changes quota and replicas; none removes the quota', async () => {
    const set = JSON.parse((await runCli(['tenant', 'set', 'mastodon-social', '--quota', 'none', '--replicas', '4', '--json'], env)).stdout) as Record<string, unknown>
    assert.equal(set.quota, null)
    assert.equal(set.replicas, 4)
    const zero = JSON.parse((await runCli(['tenant', 'set', 'mastodon-social', '--quota', '0', '--json'], env)).stdout) as Record<string, unknown>
    assert.equal(zero.quota, 0)
    const bad = await runCli(['tenant', 'set', 'mastodon-social', '--replicas', '99'], env)
    assert.notEqual(bad.code, 0)
    const nothing = await runCli(['tenant', 'set', 'mastodon-social'], env)
    assert.equal(nothing.code, 2)
    const missing = await runCli(['tenant', 'show', 'nobody-here'], env)
    assert.equal(missing.code, 1)
    assert.match(missing.stderr, /no tenant named 'nobody-here'/)
  })

  it('remove refuses while the tenant holds objects; --purge deletes them and frees their blobs', async () => {
    const tenant = await createTenant(daemon, 'misskey')
    const s3 = s3Client(daemon, tenant)
    const bodies = ['files/a.png', 'files/b.png'].map(Key => ({ Key, Body: pngBytes(2048 + Key.length) }))
    for (const { Key, Body } of bodies) await s3.send(new PutObjectCommand({ Bucket: 'misskey', Key, Body }))
    // each is one raw block: its CID is the SHA-256 of its bytes
    const cids = bodies.map(({ Body }) => CID.createV1(0x55, Digest.create(0x12, createHash('sha256').update(Body).digest())).toString())
    for (const cid of cids) assert.equal((await adminFetch(daemon, `/admin/v1/blobs/${cid}`)).status, 200)
    const refused = await runCli(['tenant', 'remove', 'misskey'], env)
    assert.equal(refused.code, 1)
    assert.match(refused.stderr, /still holds 2 objects.*--purge/)
    assert.equal((await nodeStatus(daemon)).objects, 2)
    const purged = JSON.parse((await runCli(['tenant', 'remove', 'misskey', '--purge', '--json'], env)).stdout) as { objectsDeleted: number }
    assert.equal(purged.objectsDeleted, 2)
    const status = await nodeStatus(daemon)
    assert.equal(status.objects, 0)
    // the blobs went with the objects (other blobs of the node, such as the other tenants' manifests, stay)
    for (const cid of cids) assert.equal((await adminFetch(daemon, `/admin/v1/blobs/${cid}`)).status, 404)
    // its key is gone with it
    assert.equal((await errorOf(s3.send(new PutObjectCommand({ Bucket: 'misskey', Key: 'x', Body: 'x' })))).name, 'InvalidAccessKeyId')
  })

  it('remove deletes an empty tenant and its key', async () => {
    const removed = await runCli(['tenant', 'remove', 'pixelfed', '--json'], env)
    assert.equal(removed.code, 0, removed.stderr)
    const list = JSON.parse((await runCli(['tenant', 'list', '--json'], env)).stdout) as Array<{ name: string }>
    assert.deepEqual(list.map(t => t.name), ['mastodon-social'])
  })
})
