import { createHash } from 'node:crypto'
import { access, close, open, rename, write } from 'node:fs'
import { mkdir, rm, stat, readFile } from 'node:fs/promises'
import path from 'node:path'
import { FsBlockstore } from 'blockstore-fs'
import { NextToLast } from 'blockstore-fs/sharding'
import { LRUCache } from 'lru-cache'
import { CID } from 'multiformats/cid'
import { DAG_PB_CODEC, IDENTITY_HASH, RAW_CODEC } from '../../protocol/cid-profile.ts'
import { cidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { Block } from '../ingest/dag-builder.ts'

export interface BlocksOptions {
  /** Bytes of verified blocks kept in memory. */
  cacheBytes: number
  onCorrupt?: (cid: CID) => void
}

/**
 * The filesystem blockstore with the guarantees fdn needs on top: a block is
 * verified against its CID every time it comes off the disk (a corrupt block
 * is an error, never data), hot verified blocks are served from memory, and
 * concurrent writes of the same block are serialised.
 */
export class Blocks {
  private readonly fs: FsBlockstore
  private readonly sharding = new NextToLast()
  private readonly cache: LRUCache<string, Uint8Array> | undefined
  private readonly writing = new Map<string, Promise<void>>()
  /** Shard directories known to exist: each is made once, not at every write. */
  private readonly shards = new Set<string>()
  private readonly onCorrupt: ((cid: CID) => void) | undefined

  constructor (dir: string, options: BlocksOptions) {
    this.fs = new FsBlockstore(dir, { shardingStrategy: this.sharding })
    this.cache = options.cacheBytes > 0
      ? new LRUCache({ maxSize: options.cacheBytes, sizeCalculation: (bytes) => Math.max(1, bytes.length) })
      : undefined
    this.onCorrupt = options.onCorrupt
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
   * temporary file removed if anything fails.
   */
  async put (block: Block): Promise<void> {
    const key = block.cid.toString()
    const inFlight = this.writing.get(key)
    if (inFlight != null) return await inFlight
    const write = (async () => {
      const { dir, file } = this.sharding.encode(block.cid)
      const shard = path.join(this.fs.path, dir)
      const target = path.join(shard, file)
      const temp = path.join(shard, `.${file}.tmp`)
      if (await exists(target)) return
      try {
        if (!this.shards.has(shard)) {
          await mkdir(shard, { recursive: true })
          this.shards.add(shard)
        }
        try {
          await writeWhole(temp, block.bytes)
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
          // the shard directory went away under us: make it again, once
          this.shards.delete(shard)
          await mkdir(shard, { recursive: true })
          this.shards.add(shard)
          await writeWhole(temp, block.bytes)
        }
        await new Promise<void>((resolve, reject) => { rename(temp, target, err => { err == null ? resolve() : reject(err) }) })
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
    const cached = options.fresh === true ? undefined : this.cache?.get(key)
    if (cached != null) return cached
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
    if (options.cache !== false) this.cache?.set(key, bytes)
    return bytes
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

async function exists (file: string): Promise<boolean> {
  return await new Promise(resolve => { access(file, err => { resolve(err == null) }) })
}

/** Creates or truncates `file` and writes all of `bytes` (which may live in shared memory) to it. */
async function writeWhole (file: string, bytes: Uint8Array): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    open(file, 'w', (err, fd) => {
      if (err != null) { reject(err); return }
      const fail = (cause: Error): void => { close(fd, () => { reject(cause) }) }
      const next = (offset: number): void => {
        if (offset >= bytes.length) {
          close(fd, err => { err == null ? resolve() : reject(err) })
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
