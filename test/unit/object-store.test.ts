import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pino } from 'pino'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { MediaStore } from '../../node/store/media-store.ts'
import { FSYNC } from '../../node/store/syncer.ts'
import { ObjectStore } from '../../node/objects/object-store.ts'
import { TenantRegistry } from '../../node/tenants/registry.ts'
import type { ObjectKey, TenantName } from '../../protocol/names.ts'
import type { PutOptions } from '../../node/objects/types.ts'
import { MiB, seededBytes } from '../helpers/bytes.ts'
import { importStream } from '../../node/ingest/import-stream.ts'

const T = (name: string): TenantName => name as TenantName
const K = (key: string): ObjectKey => key as ObjectKey

async function * chunks (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536)
}

async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const part of source) parts.push(part)
  return Buffer.concat(parts)
}

async function blockFiles (dir: string): Promise<number> {
  return (await readdir(dir, { recursive: true })).filter(name => name.endsWith('.data')).length
}

const put = (acl: 'private' | 'public-read' = 'private'): PutOptions => ({ headers: { contentType: 'image/png' }, metadata: {}, acl, maxSize: Infinity })

describe('ObjectStore over a real MediaStore', () => {
  let dir: string
  let store: MediaStore
  let objects: ObjectStore
  let tenants: TenantRegistry

  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fdn-objects-'))
    store = new MediaStore({ dataDir: dir, blockCacheBytes: 0, minFreeSpace: 0, syncer: FSYNC, log: pino({ level: 'silent' }) })
    await store.open()
    tenants = new TenantRegistry(store, privateKeyToProtobuf(await generateKeyPair('Ed25519')), 2)
    objects = new ObjectStore(store, tenants)
    await tenants.create({ name: 'alpha' })
    await tenants.create({ name: 'beta', quota: 3 * MiB })
  })
  after(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('stores the same bytes once across tenants and keys, and frees them with the last reference', async () => {
    const bytes = seededBytes(2 * MiB + 5, 'dedup')
    const a = await objects.put(T('alpha'), K('media/a.png'), chunks(bytes), put())
    const b = await objects.put(T('beta'), K('other/b.png'), chunks(bytes), put())
    assert.equal(a.cid, b.cid)
    let stats = await store.stats()
    assert.equal(stats.blobs, 1)
    assert.equal(stats.objects, 2)
    assert.equal(stats.logicalBytes, 2 * bytes.length)
    assert.ok(stats.physicalBytes < bytes.length + 1024, 'one copy on disk')
    assert.equal(await blockFiles(store.blocksDir), 4)
    await objects.delete(T('alpha'), K('media/a.png'))
    assert.ok((await collect(objects.read(await objects.head(T('beta'), K('other/b.png')), { start: 0, end: bytes.length }))).equals(bytes))
    await objects.delete(T('beta'), K('other/b.png'))
    stats = await store.stats()
    assert.deepEqual(stats, { objects: 0, blobs: 0, logicalBytes: 0, physicalBytes: 0 })
    assert.equal(await blockFiles(store.blocksDir), 0, 'blocks freed with the last reference')
    await objects.delete(T('beta'), K('other/b.png')) // idempotent
  })

  it('copies without moving bytes and keeps the tenant totals', async () => {
    const bytes = seededBytes(1000, 'copy')
    const original = await objects.put(T('alpha'), K('x'), chunks(bytes), put('public-read'))
    const copy = await objects.copy(T('alpha'), { tenant: T('alpha'), key: K('x') }, K('y'), { metadataDirective: 'REPLACE', headers: { contentType: 'image/gif' }, metadata: { a: '1' }, acl: 'private' })
    assert.equal(copy.cid, original.cid)
    assert.equal(copy.headers.contentType, 'image/gif')
    assert.equal((await store.stats()).blobs, 1)
    const alpha = await tenants.require('alpha')
    assert.equal(alpha.objects, 2)
    assert.equal(alpha.logicalBytes, 2000)
    await assert.rejects(objects.copy(T('alpha'), { tenant: T('alpha'), key: K('x') }, K('x'), { metadataDirective: 'COPY', headers: {}, metadata: {}, acl: 'private' }), { code: 'invalid_request' })
    await objects.delete(T('alpha'), K('x'))
    await objects.delete(T('alpha'), K('y'))
  })

  it('counts public references: ACL changes make a blob public or private', async () => {
    const record = await objects.put(T('alpha'), K('acl'), chunks(seededBytes(500, 'acl')), put('public-read'))
    const { CID } = await import('multiformats/cid')
    assert.equal((await store.stat(CID.parse(record.cid)))?.publicRefs, 1)
    await objects.setAcl(T('alpha'), K('acl'), 'private')
    assert.equal((await store.stat(CID.parse(record.cid)))?.publicRefs, 0)
    await objects.setAcl(T('alpha'), K('acl'), 'public-read')
    assert.equal((await store.stat(CID.parse(record.cid)))?.publicRefs, 1)
    await objects.delete(T('alpha'), K('acl'))
  })

  it('refuses uploads past the quota, keeping nothing', async () => {
    await objects.put(T('beta'), K('one'), chunks(seededBytes(2 * MiB, 'q1')), put())
    await assert.rejects(objects.put(T('beta'), K('two'), chunks(seededBytes(2 * MiB, 'q2')), put()), { code: 'quota_exceeded' })
    await assert.rejects(objects.put(T('beta'), K('two'), chunks(seededBytes(2 * MiB, 'q2')), { ...put(), expectedSize: 2 * MiB }), { code: 'quota_exceeded' })
    // replacing a key counts only the growth
    await objects.put(T('beta'), K('one'), chunks(seededBytes(3 * MiB, 'q3')), put())
    const beta = await tenants.require('beta')
    assert.equal(beta.logicalBytes, 3 * MiB)
    assert.equal((await store.stats()).blobs, 1, 'the refused upload and the replaced blob are gone')
    await objects.delete(T('beta'), K('one'))
  })

  it('lists with prefix, delimiter and pages as S3 does', async () => {
    const keys = ['a/1', 'a/2', 'a/b/3', 'b', 'c/x/1', 'c/y/2', 'd', 'é/z']
    for (const key of keys) await objects.put(T('alpha'), K(key), chunks(Buffer.from(key)), put())
    const all = await objects.list(T('alpha'), { maxKeys: 1000 })
    assert.deepEqual(all.objects.map(o => o.key), keys)
    const top = await objects.list(T('alpha'), { delimiter: '/', maxKeys: 1000 })
    assert.deepEqual(top.objects.map(o => o.key), ['b', 'd'])
    assert.deepEqual(top.commonPrefixes, ['a/', 'c/', 'é/'])
    const underA = await objects.list(T('alpha'), { prefix: 'a/', delimiter: '/', maxKeys: 1000 })
    assert.deepEqual(underA.objects.map(o => o.key), ['a/1', 'a/2'])
    assert.deepEqual(underA.commonPrefixes, ['a/b/'])
    // page through the delimited listing two entries at a time
    const seen: string[] = []
    let after: string | undefined
    for (let page = 0; page < 10; page++) {
      const result = await objects.list(T('alpha'), { delimiter: '/', maxKeys: 2, after })
      seen.push(...result.objects.map(o => o.key), ...result.commonPrefixes)
      if (!result.isTruncated) break
      after = result.nextAfter
    }
    assert.deepEqual(seen.sort(), ['a/', 'b', 'c/', 'd', 'é/'])
    for (const key of keys) await objects.delete(T('alpha'), K(key))
  })

  it('assembles a multipart upload into the CID a single upload of the same bytes has', async () => {
    const bytes = seededBytes(12 * MiB + 333, 'multipart')
    const upload = await objects.createUpload(T('alpha'), K('video.mp4'), { headers: { contentType: 'video/mp4' }, metadata: {}, acl: 'public-read' })
    const cuts = [0, 5 * MiB + 7, 10 * MiB + 9, bytes.length]
    const parts = []
    for (let i = 0; i < 3; i++) {
      parts.push(await objects.uploadPart(T('alpha'), upload.uploadId, i + 1, chunks(bytes.subarray(cuts[i], cuts[i + 1])), { maxSize: Infinity }))
    }
    await assert.rejects(objects.completeUpload(T('alpha'), upload.uploadId, [{ partNumber: 2, etag: parts[1]?.etag ?? '' }, { partNumber: 1, etag: parts[0]?.etag ?? '' }]), { code: 'invalid_part_order' })
    await assert.rejects(objects.completeUpload(T('alpha'), upload.uploadId, [{ partNumber: 1, etag: 'nope' }]), { code: 'invalid_part' })
    const done = await objects.completeUpload(T('alpha'), upload.uploadId, parts.map(p => ({ partNumber: p.partNumber, etag: `"${p.etag}"` })))
    const single = await importStream(chunks(bytes), { put: async () => {} }, { maxSize: Infinity })
    assert.equal(done.cid, single.cid.toString())
    assert.match(done.etag, /^[0-9a-f]{32}-3$/)
    assert.ok((await collect(objects.read(done, { start: 0, end: bytes.length }))).equals(bytes))
    const stats = await store.stats()
    assert.equal(stats.blobs, 1, 'the parts are freed once assembled')
    assert.equal(stats.logicalBytes, bytes.length)
    await assert.rejects(objects.listParts(T('alpha'), upload.uploadId, { maxParts: 10 }), { code: 'no_such_upload' })
    await objects.delete(T('alpha'), K('video.mp4'))
  })

  it('aborts and expires unfinished uploads, freeing their parts', async () => {
    const upload = await objects.createUpload(T('alpha'), K('left'), { headers: {}, metadata: {}, acl: 'private' })
    await objects.uploadPart(T('alpha'), upload.uploadId, 1, chunks(seededBytes(1000, 'p1')), { maxSize: Infinity })
    assert.equal((await store.stats()).blobs, 1)
    assert.equal((await store.stats()).logicalBytes, 0, 'parts are not logical bytes')
    assert.equal((await objects.listUploads(T('alpha'), { maxUploads: 10 })).uploads.length, 1)
    assert.equal(await objects.expireUploads(new Date(Date.now() + 1000)), 1)
    assert.equal((await store.stats()).blobs, 0)
    await assert.rejects(objects.uploadPart(T('alpha'), upload.uploadId, 2, chunks(Buffer.from('x')), { maxSize: Infinity }), { code: 'no_such_upload' })
  })

  it('makes upload IDs a command line cannot mistake for an option', async () => {
    const ids = await Promise.all(Array.from({ length: 200 }, async () => (await objects.createUpload(T('alpha'), K('ids'), { headers: {}, metadata: {}, acl: 'private' })).uploadId))
    for (const id of ids) assert.match(id, /^[0-9a-f]{48}$/)
    assert.equal(new Set(ids).size, ids.length)
    for (const id of ids) await objects.abortUpload(T('alpha'), id)
  })

  it('refuses keys S3 refuses', async () => {
    await assert.rejects(objects.put(T('alpha'), K('x'.repeat(1025)), chunks(Buffer.from('a')), put()), { code: 'key_too_long' })
    await assert.rejects(objects.put(T('alpha'), K('a\0b'), chunks(Buffer.from('a')), put()), { code: 'invalid_request' })
    await assert.rejects(objects.put(T('nobody'), K('a'), chunks(Buffer.from('a')), put()), { code: 'no_such_bucket' })
  })
})
