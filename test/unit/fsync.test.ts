// FDN_FSYNC: what the store flushes to the disk before it acknowledges a write.
// The store is given a Syncer that records each flush and then does it for real
// (fs.fsync), so removing a flush from the write path fails these tests; the
// index's batches are watched where they reach LevelDB's binding.
import { after, afterEach, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { fstatSync, readdirSync, readlinkSync } from 'node:fs'
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Level } from 'level'
import { CID } from 'multiformats/cid'
import { pino } from 'pino'
import { CONFIG_FILE, loadConfig } from '../../node/config/load.ts'
import { ADMIN_TOKEN_FILE, IDENTITY_FILE, initDataDir } from '../../node/identity/identity.ts'
import { MediaStore } from '../../node/store/media-store.ts'
import { FSYNC, NO_SYNC, syncerFor } from '../../node/store/syncer.ts'
import type { Syncer } from '../../node/store/syncer.ts'
import { MiB, seededBytes } from '../helpers/bytes.ts'

interface FileFlush { ino: number, path: string }
interface DirectoryFlush { dir: string, entries: Set<string> }

/** FSYNC, recording what each flush covered: the file's inode and the name it had, a directory's entries. */
function watchingSyncer (): Syncer & { files: FileFlush[], directories: DirectoryFlush[] } {
  const files: FileFlush[] = []
  const directories: DirectoryFlush[] = []
  return {
    durable: true,
    files,
    directories,
    file: async (fd) => {
      files.push({ ino: fstatSync(fd).ino, path: readlinkSync(`/proc/self/fd/${fd}`) })
      await FSYNC.file(fd)
    },
    directory: async (dir) => {
      directories.push({ dir: path.resolve(dir), entries: new Set(readdirSync(dir)) })
      await FSYNC.directory(dir)
    }
  }
}

/** The `sync` option of every batch that reaches LevelDB's binding while `work` runs. */
async function batchSyncs (work: () => Promise<void>): Promise<Array<boolean | undefined>> {
  const proto = Level.prototype as unknown as { _batch: (ops: unknown[], options: { sync?: boolean }) => Promise<void> }
  const original = proto._batch
  const seen: Array<boolean | undefined> = []
  proto._batch = async function (this: unknown, ops, options) {
    seen.push(options.sync)
    await original.call(this, ops, options)
  }
  try {
    await work()
  } finally {
    proto._batch = original
  }
  return seen
}

async function * once (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes
}

/** Every block file under blocks/: shard, name and inode. */
async function blockFiles (blocksDir: string): Promise<Array<{ shard: string, name: string, ino: number }>> {
  const found: Array<{ shard: string, name: string, ino: number }> = []
  for (const shard of await readdir(blocksDir)) {
    const dir = path.join(blocksDir, shard)
    if (!(await stat(dir)).isDirectory()) continue
    for (const name of await readdir(dir)) found.push({ shard: dir, name, ino: (await stat(path.join(dir, name))).ino })
  }
  return found
}

const log = pino({ level: 'silent' })

describe('FDN_FSYNC=true: the store flushes before it acknowledges', () => {
  let dir: string
  let store: MediaStore | undefined
  before(async () => { dir = await mkdtemp(path.join(tmpdir(), 'fdn-fsync-')) })
  afterEach(async () => { await store?.close(); store = undefined })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('flushes every block file under its temporary name, then its directory once the block has its final name, then commits the index with sync', async () => {
    const syncer = watchingSyncer()
    const dataDir = path.join(dir, 'on')
    const opened = new MediaStore({ dataDir, blockCacheBytes: 0, minFreeSpace: 0, syncer, log })
    store = opened
    await opened.open()
    syncer.files.length = 0
    syncer.directories.length = 0
    // four 1 MiB leaves and a partial one, and the root node: six block files
    const bytes = seededBytes(4 * MiB + 300_000, 'fsync-on')
    const syncs = await batchSyncs(async () => { await opened.add(once(bytes), { maxSize: 10 * MiB }) })

    const files = await blockFiles(opened.blocksDir)
    assert.equal(files.length, 6)
    for (const file of files) {
      const flushed = syncer.files.filter(f => f.ino === file.ino)
      assert.equal(flushed.length, 1, `${file.name} was flushed once`)
      assert.equal(flushed[0]?.path, path.join(file.shard, `.${file.name}.tmp`), `${file.name} was flushed under its temporary name, before the rename`)
      assert.ok(syncer.directories.some(d => d.dir === file.shard && d.entries.has(file.name)), `${path.basename(file.shard)}/ was flushed after ${file.name} was renamed into it`)
    }
    // the shard directories are new: their entries in blocks/ were flushed too
    const shards = new Set(files.map(f => path.basename(f.shard)))
    assert.ok(syncer.directories.some(d => d.dir === opened.blocksDir && [...shards].every(s => d.entries.has(s))), 'blocks/ was flushed with the new shards in it')
    assert.deepEqual(syncs, [true], 'the index batch that acknowledges the blob is a synchronous write')
  })

  it('commits every index transaction with sync, not only those of ingests', async () => {
    const dataDir = path.join(dir, 'tx')
    const opened = new MediaStore({ dataDir, blockCacheBytes: 0, minFreeSpace: 0, syncer: FSYNC, log })
    store = opened
    await opened.open()
    const syncs = await batchSyncs(async () => {
      await opened.transact(async tx => { tx.put('akey', 'AKIDFSYNCTEST', 'tenant') })
      await opened.transact(async tx => { tx.del('akey', 'AKIDFSYNCTEST') })
    })
    assert.deepEqual(syncs, [true, true])
  })

  it('flushes the identity key, admin token and config file, and the data directory with them in it, as init makes them', async () => {
    const syncer = watchingSyncer()
    const parent = path.join(dir, 'init')
    const dataDir = path.join(parent, 'data')
    await initDataDir(dataDir, { syncer })
    for (const name of [IDENTITY_FILE, ADMIN_TOKEN_FILE, CONFIG_FILE]) {
      const { ino } = await stat(path.join(dataDir, name))
      assert.equal(syncer.files.filter(f => f.ino === ino).length, 1, `${name} was flushed`)
    }
    const last = syncer.directories.filter(d => d.dir === dataDir).at(-1)
    assert.deepEqual([IDENTITY_FILE, ADMIN_TOKEN_FILE, CONFIG_FILE].filter(name => last?.entries.has(name) !== true), [], 'the data directory was flushed holding all three')
    assert.ok(syncer.directories.some(d => d.dir === parent && d.entries.has('data')), 'the new data directory\'s own entry was flushed')
    assert.ok(syncer.directories.some(d => d.dir === dir && d.entries.has('init')), 'and that of the parent mkdir made for it')
    assert.equal((await stat(path.join(dataDir, IDENTITY_FILE))).mode & 0o777, 0o600)

    // a second init writes nothing, so flushes nothing
    const again = watchingSyncer()
    const result = await initDataDir(dataDir, { syncer: again })
    assert.deepEqual([result.createdIdentity, result.createdToken, result.createdConfig], [false, false, false])
    assert.deepEqual([again.files.length, again.directories.length], [0, 0])
  })
})

describe('FDN_FSYNC=false', () => {
  let dir: string
  before(async () => { dir = await mkdtemp(path.join(tmpdir(), 'fdn-nosync-')) })
  after(async () => { await rm(dir, { recursive: true, force: true }) })

  it('is the setting\'s off switch: the store commits without sync and keeps every byte', async () => {
    const config = (env: Record<string, string>, flags: Record<string, string> = {}): boolean => loadConfig({ env: { FDN_DATA: dir, ...env }, flags }).fsync
    assert.equal(config({}), true, 'on by default')
    assert.equal(config({ FDN_FSYNC: 'false' }), false)
    assert.equal(config({ FDN_FSYNC: '0' }, { fsync: 'true' }), true, 'the flag wins')
    assert.equal(syncerFor(false), NO_SYNC)
    assert.equal(syncerFor(true), FSYNC)

    const store = new MediaStore({ dataDir: path.join(dir, 'off'), blockCacheBytes: 0, minFreeSpace: 0, syncer: NO_SYNC, log })
    await store.open()
    try {
      const bytes = seededBytes(2 * MiB + 1, 'fsync-off')
      let cid = ''
      const syncs = await batchSyncs(async () => { cid = (await store.add(once(bytes), { maxSize: 10 * MiB })).blob.cid })
      assert.deepEqual(syncs, [false])
      const read: Uint8Array[] = []
      for await (const chunk of store.read(CID.parse(cid), { start: 0, end: bytes.length })) read.push(chunk)
      assert.ok(Buffer.concat(read).equals(bytes))
    } finally {
      await store.close()
    }
  })
})
