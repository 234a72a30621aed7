// The read side of the store: every block verified before it is served (the
// plain read, the lent read of the S3 single-block path, cached or not), the
// verified-block cache's admission, the lent buffers' reuse, and the index's
// record caches staying coherent with its transactions.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import { pino } from 'pino'
import { generateKeyPair, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { Blocks } from '../../node/store/blocks.ts'
import { blockCid } from '../../node/ingest/dag-builder.ts'
import { FrequencySketch } from '../../node/store/frequency-sketch.ts'
import { IndexDb } from '../../node/store/index-db.ts'
import { MediaStore } from '../../node/store/media-store.ts'
import { FSYNC } from '../../node/store/syncer.ts'
import { ObjectStore } from '../../node/objects/object-store.ts'
import { TenantRegistry } from '../../node/tenants/registry.ts'
import { RAW_CODEC } from '../../protocol/cid-profile.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { ObjectKey, TenantName } from '../../protocol/names.ts'
import type { TenantRecord } from '../../node/objects/types.ts'
import { seededBytes } from '../helpers/bytes.ts'

const KiB = 1024

async function blockFile (dir: string, cid: CID): Promise<string> {
  const names = await readdir(dir, { recursive: true })
  const suffix = `${cid.toString().slice(-2)}`
  const found = names.filter(name => name.endsWith('.data') && path.dirname(name).toLowerCase() === suffix.toLowerCase())
  const all = names.filter(name => name.endsWith('.data'))
  for (const name of found.length > 0 ? found : all) {
    const bytes = await readFile(path.join(dir, name))
    if (blockCid(RAW_CODEC, bytes).equals(cid)) return path.join(dir, name)
  }
  throw new Error(`no file for ${cid.toString()}`)
}

async function corrupt (file: string): Promise<void> {
  const bytes = await readFile(file)
  bytes[bytes.length >> 1]! ^= 0xff
  await writeFile(file, bytes)
}

const isCorrupt = (err: unknown): boolean => err instanceof FdnError && err.code === 'corrupt_block'

describe('block reads', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(path.join(tmpdir(), 'fdn-block-reads-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('never hands out a block that does not match its CID: get and lease, with and without a cache', async () => {
    for (const cacheBytes of [0, 4 * 1024 * KiB]) {
      const blocksDir = path.join(dir, `corrupt-${cacheBytes}`)
      const corrupted: CID[] = []
      const blocks = new Blocks(blocksDir, { cacheBytes, syncer: FSYNC, onCorrupt: (cid) => { corrupted.push(cid) } })
      await blocks.open()
      const bytes = seededBytes(300 * KiB, `corrupt-${cacheBytes}`)
      const cid = blockCid(RAW_CODEC, bytes)
      await blocks.put({ cid, bytes })
      const file = await blockFile(blocksDir, cid)
      await corrupt(file)
      await assert.rejects(blocks.get(cid), isCorrupt)
      await assert.rejects(blocks.lease(cid), isCorrupt)
      await assert.rejects(blocks.lease(cid, { size: bytes.length }), isCorrupt)
      assert.equal(corrupted.length, 3)
      // a file cut short is no better
      await writeFile(file, bytes.subarray(0, 1000))
      await assert.rejects(blocks.lease(cid, { size: bytes.length }), isCorrupt)
      await assert.rejects(blocks.get(cid), isCorrupt)
      // and the right bytes, put back, are served again
      await writeFile(file, bytes)
      assert.ok(Buffer.from(await blocks.get(cid)).equals(bytes))
      await blocks.close()
    }
  })

  it('lends reusable buffers for blocks the cache does not keep, and never the same one twice at once', async () => {
    const blocks = new Blocks(path.join(dir, 'lease'), { cacheBytes: 0, syncer: FSYNC })
    await blocks.open()
    const a = seededBytes(1024 * KiB, 'lease-a')
    const b = seededBytes(200 * KiB, 'lease-b')
    const cidA = blockCid(RAW_CODEC, a)
    const cidB = blockCid(RAW_CODEC, b)
    await blocks.put({ cid: cidA, bytes: a })
    await blocks.put({ cid: cidB, bytes: b })
    const first = await blocks.lease(cidA)
    const second = await blocks.lease(cidB, { size: b.length })
    assert.notEqual(first.bytes.buffer, second.bytes.buffer, 'two lent reads share no memory')
    assert.ok(Buffer.from(first.bytes).equals(a))
    assert.ok(Buffer.from(second.bytes).equals(b))
    const lent = first.bytes.buffer
    first.release()
    first.release() // a second release changes nothing
    const third = await blocks.lease(cidB)
    assert.equal(third.bytes.buffer, lent, 'a released buffer is reused')
    assert.ok(Buffer.from(third.bytes).equals(b))
    const fourth = await blocks.lease(cidA)
    assert.notEqual(fourth.bytes.buffer, lent, 'released once, lent once')
    assert.ok(Buffer.from(fourth.bytes).equals(a))
    second.release()
    third.release()
    fourth.release()
    await blocks.close()
  })

  it('admits blocks while the cache has room, then only those asked for more often than the one they would evict', async () => {
    const blocksDir = path.join(dir, 'admission')
    const blocks = new Blocks(blocksDir, { cacheBytes: 3 * 100 * KiB, syncer: FSYNC })
    await blocks.open()
    const made = Array.from({ length: 5 }, (_, i) => seededBytes(100 * KiB, `admit-${i}`))
    const cids = made.map(bytes => blockCid(RAW_CODEC, bytes))
    for (const [i, bytes] of made.entries()) await blocks.put({ cid: cids[i]!, bytes })
    // fill the cache with 0, 1, 2 (read twice: they are hot), then read 3 once: it passes through
    for (const i of [0, 1, 2, 0, 1, 2]) await blocks.get(cids[i]!)
    await blocks.get(cids[3]!)
    // the cached blocks are served from memory: corrupting their files changes nothing
    for (const i of [0, 1, 2, 3]) await corrupt(await blockFile(blocksDir, cids[i]!))
    for (const i of [0, 1, 2]) assert.ok(Buffer.from(await blocks.get(cids[i]!)).equals(made[i]!), `block ${i} stayed cached`)
    await assert.rejects(blocks.get(cids[3]!), isCorrupt, 'block 3 was not kept')
    // block 4, asked for often, gets in
    for (let k = 0; k < 5; k++) await blocks.get(cids[4]!)
    await corrupt(await blockFile(blocksDir, cids[4]!))
    assert.ok(Buffer.from(await blocks.get(cids[4]!)).equals(made[4]!), 'block 4 was admitted')
    await blocks.close()
  })

  it('counts requests in a frequency sketch that fades', () => {
    const sketch = new FrequencySketch(1024) // ages (halves every counter) after 10 × 1024 additions
    const digest = (i: number): Uint8Array => blockCid(RAW_CODEC, Buffer.from(`sketch ${i}`)).multihash.digest
    for (let k = 0; k < 12; k++) sketch.increment(digest(1))
    sketch.increment(digest(2))
    // a count-min sketch never counts less than what happened
    assert.ok(sketch.estimate(digest(1)) >= 12)
    assert.ok(sketch.estimate(digest(2)) >= 1)
    assert.ok(sketch.estimate(digest(1)) > sketch.estimate(digest(2)))
    // 700 other blocks asked for 15 times each: past the sample, every count halves
    for (let i = 0; i < 700; i++) for (let k = 0; k < 15; k++) sketch.increment(digest(1000 + i))
    assert.ok(sketch.estimate(digest(1)) < 12, `estimate ${sketch.estimate(digest(1))}`)
  })
})

describe('index record caches', () => {
  let dir: string
  let index: IndexDb
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fdn-index-cache-'))
    index = new IndexDb(path.join(dir, 'index'), { sync: true })
    await index.open()
  })
  after(async () => {
    await index.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('reads its own commits, absent keys included, even with reads in flight', async () => {
    const tenant = (name: string, objects: number): TenantRecord => ({ name, accessKeyId: 'AK', secret: 's', quota: null, replicas: 1, created: 'now', objects, logicalBytes: 0 }) as unknown as TenantRecord
    for (let round = 1; round <= 50; round++) {
      // reads of a key not cached yet, still in flight while a transaction commits it (then deletes it)
      const name = `t${round}`
      const racing = Promise.all([index.get('tenant', name), index.get('tenant', name)])
      await index.transact(async (tx) => { tx.put('tenant', name, tenant(name, round)) })
      await racing
      assert.equal((await index.get('tenant', name))?.objects, round)
      const again = index.get('tenant', name)
      await index.transact(async (tx) => { tx.put('tenant', name, tenant(name, round + 1)) })
      await again
      assert.equal((await index.get('tenant', name))?.objects, round + 1)
      if (round % 2 === 0) {
        const gone = index.get('tenant', name)
        await index.transact(async (tx) => { tx.del('tenant', name) })
        await gone
        assert.equal(await index.get('tenant', name), undefined)
      }
    }
  })

  it('hands out cached records frozen, so no caller changes them in place', async () => {
    await index.transact(async (tx) => { tx.put('meta', 'stats', { objects: 1, blobs: 1, logicalBytes: 1, physicalBytes: 1 }) })
    const stats = await index.get('meta', 'stats')
    assert.ok(Object.isFrozen(stats))
    assert.throws(() => { (stats as { objects: number }).objects = 2 })
  })
})

describe('ObjectStore: the body check before the commit', () => {
  let dir: string
  let store: MediaStore
  let objects: ObjectStore
  before(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'fdn-verify-'))
    store = new MediaStore({ dataDir: dir, blockCacheBytes: 1024 * KiB, minFreeSpace: 0, syncer: FSYNC, log: pino({ level: 'silent' }) })
    await store.open()
    const tenants = new TenantRegistry(store, privateKeyToProtobuf(await generateKeyPair('Ed25519')), 1)
    objects = new ObjectStore(store, tenants)
    await tenants.create({ name: 'alpha' })
  })
  after(async () => {
    await store.close()
    await rm(dir, { recursive: true, force: true })
  })

  it('hands the store\'s SHA-256 and MD5 to `verify`, and keeps nothing when it throws', async () => {
    const bytes = seededBytes(1536 * KiB, 'verify')
    const source = async function * (): AsyncGenerator<Uint8Array> { for (let i = 0; i < bytes.length; i += 65536) yield bytes.subarray(i, i + 65536) }
    const seen: Array<{ sha256: string, md5: string }> = []
    const options = { headers: {}, metadata: {}, acl: 'private' as const, maxSize: Infinity }
    await assert.rejects(objects.put('alpha' as TenantName, 'refused' as ObjectKey, source(), {
      ...options,
      verify: (hashes) => { seen.push(hashes); throw new Error('refused by the check') }
    }), /refused by the check/)
    const { createHash } = await import('node:crypto')
    assert.deepEqual(seen, [{ sha256: createHash('sha256').update(bytes).digest('hex'), md5: createHash('md5').update(bytes).digest('hex') }])
    await assert.rejects(objects.head('alpha' as TenantName, 'refused' as ObjectKey), (err: unknown) => err instanceof FdnError && err.code === 'no_such_key')
    assert.equal((await store.stats()).physicalBytes, 0)
    assert.equal((await readdir(path.join(dir, 'blocks'), { recursive: true })).filter(name => name.endsWith('.data')).length, 0)
    // the same body, accepted, is an object whose single-block read (none here: two blocks) falls back to streaming
    const record = await objects.put('alpha' as TenantName, 'kept' as ObjectKey, source(), options)
    assert.equal(await objects.singleBlock(record), undefined)
  })

  it('lends the bytes of a single-block object, verified', async () => {
    const bytes = seededBytes(700 * KiB, 'single')
    const record = await objects.put('alpha' as TenantName, 'single' as ObjectKey, (async function * () { yield bytes })(), { headers: {}, metadata: {}, acl: 'private', maxSize: Infinity })
    const lease = await objects.singleBlock(record)
    assert.ok(lease !== undefined)
    assert.ok(Buffer.from(lease.bytes).equals(bytes))
    lease.release()
    assert.equal(CID.parse(record.cid).code, RAW_CODEC)
  })
})
