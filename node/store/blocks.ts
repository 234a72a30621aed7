import { createHash } from 'node:crypto'
import { access, close, fstat, open, read, rename, write } from 'node:fs'
import { mkdir, rm, stat, readFile } from 'node:fs/promises'
import path from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast } from 'blockstore-fs/sharding'
import { LRUCache } from 'lru-cache'
import { CID } from 'multiformats/cid'
import { CHUNK_SIZE, DAG_PB_CODEC, IDENTITY_HASH, RAW_CODEC } from '../../protocol/cid-profile.ts'
import { cidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { Block } from '../ingest/dag-builder.ts'
import { shortLivedBytes } from '../ingest/young-gc.ts'
import { FrequencySketch } from './frequency-sketch.ts'
import type { Syncer } from './syncer.ts'

/**
 * A verified block for one use. `release` must be called once nothing reads
 * `bytes` any more (the answer has been handed to the OS, or abandoned);
 * `bytes` must not be touched after it.
 */
export interface BlockLease {
  readonly bytes: Uint8Array
  readonly release: () => void
}

/** Reusable read buffers kept while idle: enough for the requests in flight on a busy node. */
const SPARE_READ_BUFFERS = 16

export interface BlocksOptions {
  /** Bytes of verified blocks kept in memory. */
  cacheBytes: number
  /** Flushes each block file before its rename and its directory after (FDN_FSYNC). */
  syncer: Syncer
  onCorrupt?: (cid: CID) => void
}

/**
 * The filesystem blockstore with the guarantees fdn needs on top: a block is
 * verified against its CID every time it comes off the disk (a corrupt block
 * is an error, never data), hot verified blocks are served from memory, and
 * concurrent writes of the same block are serialised.
 *
 * The cache admits what fits while it has room; once full, a block read from
 * disk replaces the least recently used one only if it has been asked for
 * more often lately (FrequencySketch). A block not kept dies young: its read
 * counts towards the next young collection (young-gc.ts), so reading media
 * the cache does not keep costs no full collections of the heap.
 */
export class Blocks {
  private readonly fs: FsBlockstore
  private readonly sharding = new NextToLast()
  private readonly cache: LRUCache<string, CachedBlock> | undefined
  private readonly sketch: FrequencySketch | undefined
  private readonly writing = new Map<string, Promise<void>>()
  /** Idle buffers of `lease` reads (CHUNK_SIZE each): a block the cache does not keep is read into one and handed back. */
  private readonly spare: ArrayBuffer[] = []
  /** Shard directories known to exist: each is made once, not at every write. */
  private readonly shards = new Set<string>()
  private readonly onCorrupt: ((cid: CID) => void) | undefined
  private readonly syncer: Syncer

  constructor (dir: string, options: BlocksOptions) {
    this.fs = new FsBlockstore(dir, { shardingStrategy: this.sharding })
    this.cache = options.cacheBytes > 0
      ? new LRUCache<string, CachedBlock>({ maxSize: options.cacheBytes, sizeCalculation: (entry) => Math.max(1, entry.bytes.length) })
      : undefined
    // about four counters per block the cache can hold, counting blocks of 16 KiB
    this.sketch = this.cache != null ? new FrequencySketch(Math.min(1 << 20, Math.max(1024, options.cacheBytes / 4096))) : undefined
    this.onCorrupt = options.onCorrupt
    this.syncer = options.syncer
  }

  async open (): Promise<void> {
    await this.fs.open()
  }

  async close (): Promise<void> {
    await this.fs.close()
  }

  /**
   * Stores a block unless it is there already. Resolves once it is on disk
   * under its final name: written to a temporary file beside it and renamed,
   * in blockstore-fs's layout (so reads, listing and gc find it), with the
   * temporary file removed if anything fails. With a durable syncer the file
   * is flushed before the rename (a name never points at bytes still in the
   * page cache) and its directory after it, so the block survives a power
   * loss once this resolves.
   */
  async put (block: Block, options: { overwrite?: boolean } = {}): Promise<void> {
    const key = block.cid.toString()
    const inFlight = this.writing.get(key)
    if (inFlight != null) return await inFlight
    const write = (async () => {
      const { dir, file } = this.sharding.encode(block.cid)
      const shard = path.join(this.fs.path, dir)
      const target = path.join(shard, file)
      const temp = path.join(shard, `.${file}.tmp`)
      if (options.overwrite !== true && await exists(target)) return
      try {
        if (!this.shards.has(shard)) await this.makeShard(shard)
        try {
          await writeWhole(temp, block.bytes, this.syncer)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
          // the shard directory went away under us: make it again, once
          this.shards.delete(shard)
          await this.makeShard(shard)
          await writeWhole(temp, block.bytes, this.syncer)
        }
        await new Promise<void>((resolve, reject) => { rename(temp, target, err => { err == null ? resolve() : reject(err) }) })
        await this.syncer.directory(shard)
      } catch (err) {
        await rm(temp, { force: true }).catch(() => {})
        throw err
      }
    })()
    this.writing.set(key, write)
    try {
      await write
    } catch (err) {
      throw storageError(err)
    } finally {
      this.writing.delete(key)
    }
  }

  /** Makes a shard directory, its entry in the blocks directory as durable as the blocks it will hold. */
  private async makeShard (shard: string): Promise<void> {
    await mkdir(shard, { recursive: true })
    await this.syncer.directory(this.fs.path)
    this.shards.add(shard)
  }

  /** Writes a verified block over a damaged copy on disk (atomically, by rename). */
  async replace (block: Block): Promise<void> {
    if (!createHash('sha256').update(block.bytes).digest().equals(block.cid.multihash.digest)) {
      throw new FdnError('corrupt_block', `replacement for block ${cidString(block.cid)} does not match its CID`)
    }
    await this.put(block, { overwrite: true })
  }

  async has (cid: CID): Promise<boolean> {
    if (cid.multihash.code === IDENTITY_HASH) return true
    return await this.fs.has(cid)
  }

  /**
   * The block's bytes, verified against its CID. `fresh` reads the disk even
   * when the block is cached (verify); `cache: false` does not keep what it
   * read (bulk internal reads, which would evict the hot media).
   */
  async get (cid: CID, signal?: AbortSignal, options: { fresh?: boolean, cache?: boolean } = {}): Promise<Uint8Array> {
    if (cid.multihash.code === IDENTITY_HASH) return cid.multihash.digest
    const key = cid.toString()
    const keep = options.fresh !== true && options.cache !== false
    if (keep) this.sketch?.increment(cid.multihash.digest)
    const cached = options.fresh === true ? undefined : this.cache?.get(key)
    if (cached != null) return cached.bytes
    const { dir, file } = this.sharding.encode(cid)
    let bytes: Buffer
    try {
      bytes = await readFile(path.join(this.fs.path, dir, file), { signal })
    } catch (err) {
      if (signal?.aborted === true) throw new FdnError('aborted', 'request aborted')
      throw new FdnError('not_found', `block ${cidString(cid)} is not in the store`, { cause: err })
    }
    if (!createHash('sha256').update(bytes).digest().equals(cid.multihash.digest)) {
      this.onCorrupt?.(cid)
      throw new FdnError('corrupt_block', `block ${cidString(cid)} on disk does not match its CID`)
    }
    if (keep && this.admits(cid, bytes.length)) this.cache?.set(key, { bytes, digest: cid.multihash.digest })
    else shortLivedBytes(bytes.length)
    return bytes
  }

  /**
   * A verified block for answering one request, without making garbage: a
   * cached block is shared, a block the cache keeps is read as by `get`, and
   * any other is read into a reusable buffer that `release` takes back.
   * `size`: the block's size, when the caller knows it (from the index).
   */
  async lease (cid: CID, options: { size?: number, signal?: AbortSignal } = {}): Promise<BlockLease> {
    if (cid.multihash.code === IDENTITY_HASH) return { bytes: cid.multihash.digest, release: noop }
    const key = cid.toString()
    this.sketch?.increment(cid.multihash.digest)
    const cached = this.cache?.get(key)
    if (cached != null) return { bytes: cached.bytes, release: noop }
    const { signal } = options
    const { dir, file } = this.sharding.encode(cid)
    let fd: number
    try {
      signal?.throwIfAborted()
      fd = await new Promise<number>((resolve, reject) => { open(path.join(this.fs.path, dir, file), 'r', (err, fd) => { err == null ? resolve(fd) : reject(err) }) })
    } catch (err) {
      if (signal?.aborted === true) throw new FdnError('aborted', 'request aborted')
      throw new FdnError('not_found', `block ${cidString(cid)} is not in the store`, { cause: err })
    }
    let slot: ArrayBuffer | undefined
    try {
      const size = options.size ?? await new Promise<number>((resolve, reject) => { fstat(fd, (err, stats) => { err == null ? resolve(stats.size) : reject(err) }) })
      const keep = this.admits(cid, size)
      slot = keep || size > CHUNK_SIZE ? undefined : this.spare.pop() ?? new ArrayBuffer(CHUNK_SIZE)
      const target = slot !== undefined ? Buffer.from(slot, 0, size) : Buffer.allocUnsafeSlow(size)
      const bytes = target.subarray(0, await readInto(fd, target, signal))
      if (!createHash('sha256').update(bytes).digest().equals(cid.multihash.digest)) {
        this.onCorrupt?.(cid)
        throw new FdnError('corrupt_block', `block ${cidString(cid)} on disk does not match its CID`)
      }
      if (slot === undefined) {
        if (keep) this.cache?.set(key, { bytes, digest: cid.multihash.digest })
        else shortLivedBytes(bytes.length)
        return { bytes, release: noop }
      }
      const lent = slot
      slot = undefined
      let released = false
      return {
        bytes,
        release: () => {
          if (released) return
          released = true
          if (this.spare.length < SPARE_READ_BUFFERS) this.spare.push(lent)
        }
      }
    } catch (err) {
      if (signal?.aborted === true) throw new FdnError('aborted', 'request aborted')
      if (err instanceof FdnError) throw err
      throw new FdnError('not_found', `block ${cidString(cid)} could not be read`, { cause: err })
    } finally {
      // nothing read into a slot that is not lent out: it can go back at once
      if (slot !== undefined && this.spare.length < SPARE_READ_BUFFERS) this.spare.push(slot)
      close(fd, noop)
    }
  }

  /** Whether the cache takes a block just read: while it has room, or when it is asked for more than the block it would evict. */
  private admits (cid: CID, size: number): boolean {
    const cache = this.cache
    if (cache == null || this.sketch == null || size > cache.maxSize) return false
    if (cache.calculatedSize + size <= cache.maxSize) return true
    for (const victim of cache.rvalues()) return victim == null || this.sketch.estimate(cid.multihash.digest) > this.sketch.estimate(victim.digest)
    return true
  }

  async delete (cid: CID): Promise<void> {
    // the file is named by the multihash alone: forget the bytes under every CID they were cached as
    for (const codec of [RAW_CODEC, DAG_PB_CODEC]) this.cache?.delete(CID.createV1(codec, cid.multihash).toString())
    this.cache?.delete(cid.toString())
    await this.fs.delete(cid)
  }

  /** Every block CID on disk. */
  async * all (): AsyncGenerator<CID> {
    for await (const { cid } of this.fs.getAll()) yield cid
  }

  /** Bytes a block takes on disk, without reading it. */
  async sizeOf (cid: CID): Promise<number> {
    const { dir, file } = this.sharding.encode(cid)
    return (await stat(path.join(this.fs.path, dir, file))).size
  }
}

interface CachedBlock {
  bytes: Uint8Array
  /** the multihash digest: what the frequency sketch counts */
  digest: Uint8Array
}

function noop (): void {}

/** Reads from the start of `fd` until `target` is full or the file ends; answers the bytes read. */
async function readInto (fd: number, target: Buffer, signal: AbortSignal | undefined): Promise<number> {
  let filled = 0
  while (filled < target.length) {
    signal?.throwIfAborted()
    const n = await new Promise<number>((resolve, reject) => {
      read(fd, target, filled, target.length - filled, filled, (err, bytesRead) => { err == null ? resolve(bytesRead) : reject(err) })
    })
    if (n === 0) break
    filled += n
  }
  return filled
}

async function exists (file: string): Promise<boolean> {
  return await new Promise(resolve => { access(file, err => { resolve(err == null) }) })
}

/** Creates or truncates `file`, writes all of `bytes` (which may live in shared memory) to it and has `syncer` flush it. */
async function writeWhole (file: string, bytes: Uint8Array, syncer: Syncer): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    open(file, 'w', (err, fd) => {
      if (err != null) { reject(err); return }
      const fail = (cause: Error): void => { close(fd, () => { reject(cause) }) }
      const next = (offset: number): void => {
        if (offset >= bytes.length) {
          syncer.file(fd).then(() => { close(fd, err => { err == null ? resolve() : reject(err) }) }, fail)
          return
        }
        write(fd, bytes, offset, bytes.length - offset, null, (err, written) => {
          if (err != null) fail(err)
          else if (written === 0) fail(new Error(`wrote nothing to ${file}`))
          else next(offset + written)
        })
      }
      next(0)
    })
  })
}

/** Maps a filesystem failure on write to the error the client should see. */
function storageError (err: unknown): FdnError {
  const code = findErrno(err)
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new FdnError('insufficient_storage', 'the node is out of disk space', { cause: err })
  }
  return new FdnError('internal', `block write failed: ${(err as Error).message}`, { cause: err })
}

function findErrno (err: unknown): string | undefined {
  for (let e: unknown = err, depth = 0; e != null && depth < 5; depth++) {
    const code = (e as NodeJS.ErrnoException).code
    // errno codes only (ENOSPC, EACCES, …): blockstore-fs wraps them in errors coded ERR_PUT_FAILED
    if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return code
    const message = (e as Error).message
    const match = typeof message === 'string' ? /\b(ENOSPC|EDQUOT|EACCES|EROFS)\b/.exec(message) : null
    if (match != null) return match[1]
    e = (e as { cause?: unknown }).cause
  }
  return undefined
}
