// The S3 API driven by Debian's awscli v2 (/usr/bin/aws, installed by the set-up when missing):
// the high-level `aws s3 cp|ls|rm|sync` and `aws s3api` calls, against a real `fdn start`.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { startDaemon, tempDir } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { MiB, pngBytes, seededBytes } from '../helpers/bytes.ts'
import { HeadObjectCommand, ListMultipartUploadsCommand, ListObjectsV2Command } from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'
import { awsCli, createTenant, ensureAwsCli, s3Client } from '../helpers/s3.ts'
import type { AwsCli } from '../helpers/s3.ts'

const md5 = (bytes: Uint8Array): string => createHash('md5').update(bytes).digest('hex')

async function walk (dir: string, base = dir): Promise<string[]> {
  const out: string[] = []
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const file = path.join(dir, entry.name)
    if (entry.isDirectory()) out.push(...await walk(file, base))
    else out.push(path.relative(base, file))
  }
  return out.sort()
}

describe('S3 API with awscli v2', () => {
  let daemon: RunningDaemon
  let aws: AwsCli
  let s3: S3Client
  let local: string
  // the tree `aws s3 sync` moves; the large file goes through `aws s3 cp` alone
  const files: Record<string, Buffer> = {
    'avatar.png': pngBytes(40 * 1024),
    'media/one two+three.jpg': seededBytes(70 * 1024, 'one'),
    'media/nested/ünïcode.bin': seededBytes(3000, 'unicode')
  }
  const large = seededBytes(9 * MiB + 5, 'large')

  const head = async (Key: string): Promise<{ ContentLength?: number, ETag?: string }> => await s3.send(new HeadObjectCommand({ Bucket: 'pixelfed', Key }))
  const keys = async (Prefix: string): Promise<string[]> => ((await s3.send(new ListObjectsV2Command({ Bucket: 'pixelfed', Prefix }))).Contents ?? []).map((c) => c.Key!)

  before(async () => {
    // installs awscli when missing, and fails the suite if it cannot
    ensureAwsCli()
    daemon = await startDaemon({ env: { FDN_MAX_OBJECT_SIZE: '64MB' } })
    const tenant = await createTenant(daemon, 'pixelfed')
    aws = await awsCli(daemon, tenant)
    s3 = s3Client(daemon, tenant)
    local = await tempDir('fdn-awscli-files-')
    for (const [name, bytes] of Object.entries(files)) {
      await mkdir(path.dirname(path.join(local, 'up', name)), { recursive: true })
      await writeFile(path.join(local, 'up', name), bytes)
    }
    await writeFile(path.join(local, 'large.mp4'), large)
  })
  after(async () => {
    s3?.destroy()
    await daemon?.stop()
  })

  it('is Debian\'s awscli v2, and lists the tenant\'s bucket: `aws s3 ls`', async () => {
    const [version, buckets] = await Promise.all([aws.ok(['--version']), aws.ok(['s3', 'ls'])])
    assert.match(version, /^aws-cli\/2\./)
    assert.match(buckets, /\bpixelfed\n/)
  })

  it('copies files up, down and across: `aws s3 cp` (multipart above 8 MB)', async () => {
    await Promise.all([
      aws.ok(['s3', 'cp', path.join(local, 'up', 'avatar.png'), 's3://pixelfed/public/avatar.png', '--acl', 'public-read', '--content-type', 'image/png']),
      aws.ok(['s3', 'cp', path.join(local, 'large.mp4'), 's3://pixelfed/video/large.mp4'])
    ])
    const served = await fetch(`${daemon.http}/pixelfed/public/avatar.png`)
    assert.equal(served.status, 200)
    assert.equal(served.headers.get('content-type'), 'image/png')
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(files['avatar.png']!))
    assert.match((await head('video/large.mp4')).ETag ?? '', /-2"$/, 'uploaded in 8 MB parts')

    await Promise.all([
      aws.ok(['s3', 'cp', 's3://pixelfed/video/large.mp4', path.join(local, 'large-down.mp4')]),
      // a server-side copy of a multipart-sized object: UploadPartCopy
      aws.ok(['s3', 'cp', 's3://pixelfed/video/large.mp4', 's3://pixelfed/copied/large.mp4'])
    ])
    assert.equal(md5(await readFile(path.join(local, 'large-down.mp4'))), md5(large))
    assert.equal((await head('copied/large.mp4')).ContentLength, large.length)
  })

  it('syncs a tree up, down, and with deletions: `aws s3 sync`, `aws s3 rm`', async () => {
    await aws.ok(['s3', 'sync', path.join(local, 'up'), 's3://pixelfed/tree/'])
    assert.deepEqual(await keys('tree/'), Object.keys(files).map((name) => `tree/${name}`).sort())
    const [top, again] = await Promise.all([
      aws.ok(['s3', 'ls', 's3://pixelfed/tree/']),
      aws.ok(['s3', 'sync', path.join(local, 'up'), 's3://pixelfed/tree/']),
      aws.ok(['s3', 'sync', 's3://pixelfed/tree/', path.join(local, 'down')])
    ])
    assert.match(top, /PRE media\//)
    assert.match(top, /avatar\.png/)
    assert.equal(again.trim(), '', 'nothing changed: nothing to upload')
    assert.deepEqual(await walk(path.join(local, 'down')), Object.keys(files).sort())
    for (const [name, bytes] of Object.entries(files)) {
      assert.equal(md5(await readFile(path.join(local, 'down', name))), md5(bytes), name)
    }

    await aws.ok(['s3', 'rm', 's3://pixelfed/tree/avatar.png'])
    const deleted = await aws.ok(['s3', 'sync', 's3://pixelfed/tree/', path.join(local, 'down'), '--delete'])
    assert.match(deleted, /delete: .*avatar\.png/)
    await aws.ok(['s3', 'rm', '--recursive', 's3://pixelfed/tree/'])
    assert.deepEqual(await keys('tree/'), [])
  })

  it('drives the object API: `aws s3api put-object`, `head-object`, ACLs, `list-objects-v2`', async () => {
    const body = path.join(local, 'up', 'media', 'one two+three.jpg')
    const key = 'api/one two+three.jpg'
    const url = `${daemon.http}/pixelfed/api/one%20two%2Bthree.jpg`
    const put = await aws.json<{ ETag: string }>(['s3api', 'put-object', '--bucket', 'pixelfed', '--key', key, '--body', body,
      '--content-type', 'image/jpeg', '--cache-control', 'max-age=60', '--metadata', 'origin=awscli', '--acl', 'public-read'])
    assert.equal(put.ETag, `"${md5(files['media/one two+three.jpg']!)}"`)
    const [headed, acl, list] = await Promise.all([
      aws.json<{ ContentType: string, CacheControl: string, Metadata: Record<string, string> }>(['s3api', 'head-object', '--bucket', 'pixelfed', '--key', key]),
      aws.json<{ Grants: Array<{ Permission: string, Grantee: { URI?: string } }> }>(['s3api', 'get-object-acl', '--bucket', 'pixelfed', '--key', key]),
      aws.json<{ Contents: Array<{ Key: string, Size: number }>, KeyCount: number }>(['s3api', 'list-objects-v2', '--bucket', 'pixelfed', '--prefix', 'api/']),
      aws.ok(['s3api', 'put-object-acl', '--bucket', 'pixelfed', '--key', 'public/avatar.png', '--acl', 'private'])
    ])
    assert.equal(headed.ContentType, 'image/jpeg')
    assert.equal(headed.CacheControl, 'max-age=60')
    assert.deepEqual(headed.Metadata, { origin: 'awscli' })
    assert.ok(acl.Grants.some((g) => g.Grantee.URI === 'http://acs.amazonaws.com/groups/global/AllUsers' && g.Permission === 'READ'))
    assert.deepEqual(list.Contents.map((c) => c.Key), [key])
    assert.equal((await fetch(url)).status, 200)
    const privateAvatar = await fetch(`${daemon.http}/pixelfed/public/avatar.png`)
    assert.equal(privateAvatar.status, 403, 'put-object-acl --acl private')
    await privateAvatar.arrayBuffer()

    // an AccessControlPolicy document without AllUsers makes it private, one granting AllUsers READ public again
    const policy = (grants: unknown[]): string => JSON.stringify({ Owner: { ID: 'x' }, Grants: grants })
    const allUsers = { Grantee: { Type: 'Group', URI: 'http://acs.amazonaws.com/groups/global/AllUsers' }, Permission: 'READ' }
    await aws.ok(['s3api', 'put-object-acl', '--bucket', 'pixelfed', '--key', key, '--access-control-policy', policy([])])
    assert.equal((await fetch(url)).status, 403)
    await aws.ok(['s3api', 'put-object-acl', '--bucket', 'pixelfed', '--key', key, '--access-control-policy', policy([allUsers])])
    const served = await fetch(url)
    assert.equal(served.status, 200)
    await served.arrayBuffer()
  })

  it('drives multipart by hand: `aws s3api create-multipart-upload`, `upload-part`, `list-parts`, `complete-multipart-upload`', async () => {
    const partOne = path.join(local, 'part1')
    const partTwo = path.join(local, 'part2')
    const one = seededBytes(5 * MiB, 'cli-part-1')
    const two = seededBytes(1000, 'cli-part-2')
    await writeFile(partOne, one)
    await writeFile(partTwo, two)
    const key = ['--bucket', 'pixelfed', '--key', 'mp/file.bin']
    const [{ UploadId }, { UploadId: abandoned }] = await Promise.all([
      aws.json<{ UploadId: string }>(['s3api', 'create-multipart-upload', ...key]),
      aws.json<{ UploadId: string }>(['s3api', 'create-multipart-upload', '--bucket', 'pixelfed', '--key', 'mp/abandoned'])
    ])
    const [{ ETag: e1 }, { ETag: e2 }] = await Promise.all([
      aws.json<{ ETag: string }>(['s3api', 'upload-part', ...key, '--upload-id', UploadId, '--part-number', '1', '--body', partOne]),
      aws.json<{ ETag: string }>(['s3api', 'upload-part', ...key, '--upload-id', UploadId, '--part-number', '2', '--body', partTwo])
    ])
    const [parts, uploads] = await Promise.all([
      aws.json<{ Parts: Array<{ PartNumber: number }> }>(['s3api', 'list-parts', ...key, '--upload-id', UploadId]),
      aws.json<{ Uploads: Array<{ Key: string, UploadId: string }> }>(['s3api', 'list-multipart-uploads', '--bucket', 'pixelfed'])
    ])
    assert.deepEqual(parts.Parts.map((p) => p.PartNumber), [1, 2])
    assert.deepEqual(uploads.Uploads.map((u) => u.Key), ['mp/abandoned', 'mp/file.bin'])
    const [done] = await Promise.all([
      aws.json<{ ETag: string, Key: string }>(['s3api', 'complete-multipart-upload', ...key, '--upload-id', UploadId,
        '--multipart-upload', JSON.stringify({ Parts: [{ PartNumber: 1, ETag: e1 }, { PartNumber: 2, ETag: e2 }] })]),
      aws.ok(['s3api', 'abort-multipart-upload', '--bucket', 'pixelfed', '--key', 'mp/abandoned', '--upload-id', abandoned])
    ])
    assert.match(done.ETag, /-2"$/)
    assert.equal(done.Key, 'mp/file.bin')
    await aws.ok(['s3api', 'get-object', ...key, path.join(local, 'mp-down')])
    assert.ok((await readFile(path.join(local, 'mp-down'))).equals(Buffer.concat([one, two])))
    const left = await s3.send(new ListMultipartUploadsCommand({ Bucket: 'pixelfed' }))
    assert.equal(left.Uploads, undefined)
  })

  it('refuses what a tenant may not do, with S3\'s errors', async () => {
    const [other, mb, policy, missing] = await Promise.all([
      aws.run(['s3', 'ls', 's3://someone-else/']),
      aws.run(['s3', 'mb', 's3://pixelfed']),
      aws.run(['s3api', 'get-bucket-policy', '--bucket', 'pixelfed']),
      aws.run(['s3api', 'head-object', '--bucket', 'pixelfed', '--key', 'api/none'])
    ])
    assert.notEqual(other.code, 0)
    assert.match(other.stderr, /AccessDenied/)
    assert.match(mb.stderr, /BucketAlreadyOwnedByYou/)
    assert.match(policy.stderr, /NotImplemented/)
    assert.notEqual(missing.code, 0)
    assert.match(missing.stderr, /404|Not Found/)
  })
})
