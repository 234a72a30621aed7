import { createHash } from 'node:crypto'
import { rm, stat } from 'node:fs/promises'
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

  /** Stores a block unless it is there already. Resolves once it is on disk under its final name. */
  async put (block: Block): Promise<void> {
    const key = block.cid.toString()
    const inFlight = this.writing.get(key)
    if (inFlight != null) return await inFlight
    const write = (async () => {
      if (await this.fs.has(block.cid)) return
      try {
        await this.fs.put(block.cid, block.bytes)
      } catch (err) {
        // blockstore-fs writes through a temporary file, which a failed write (a full disk) leaves behind
        const { dir, file } = this.sharding.encode(block.cid)
        await rm(path.join(this.fs.path, dir, `.${file}.tmp`), { force: true }).catch(() => {})
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

  /** The block's bytes, verified against its CID. */
  async get (cid: CID, signal?: AbortSignal, options: { fresh?: boolean } = {}): Promise<Uint8Array> {
    if (cid.multihash.code === IDENTITY_HASH) return cid.multihash.digest
    const key = cid.toString()
    const cached = options.fresh === true ? undefined : this.cache?.get(key)
    if (cached != null) return cached
    const parts: Uint8Array[] = []
    try {
      for await (const part of this.fs.get(cid, { signal })) parts.push(part)
    } catch (err) {
      if (signal?.aborted === true) throw new FdnError('aborted', 'request aborted')
      throw new FdnError('not_found', `block ${cidString(cid)} is not in the store`, { cause: err })
    }
    const bytes = Buffer.concat(parts)
    if (!createHash('sha256').update(bytes).digest().equals(cid.multihash.digest)) {
      this.onCorrupt?.(cid)
      throw new FdnError('corrupt_block', `block ${cidString(cid)} on disk does not match its CID`)
    }
    this.cache?.set(key, bytes)
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
