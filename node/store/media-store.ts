import { readdir, rm, stat, statfs } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { CHUNK_SIZE, DAG_PB_CODEC, IDENTITY_HASH, RAW_CODEC } from '../../protocol/cid-profile.ts'
import { cidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import { dagPbLinks, decodeFileNode } from '../../protocol/unixfs-file.ts'
import type { GcResponse, VerifyResponse } from '../../protocol/admin-api.ts'
import type { Block } from '../ingest/dag-builder.ts'
import { importStream } from '../ingest/import-stream.ts'
import { HashPool } from '../ingest/hash-pool.ts'
import { detectMediaType } from '../ingest/media-type.ts'
import { Blocks } from './blocks.ts'
import { Claims } from './claims.ts'
import { IndexDb } from './index-db.ts'
import type { CommitResult } from './index-db.ts'
import type { BlobRecord, RefRecord, Stats } from './records.ts'
import { createHash } from 'node:crypto'

export interface MediaStoreOptions {
  dataDir: string
  blockCacheBytes: number
  /** Free disk below which uploads are refused before a byte is written. */
  minFreeSpace: number
  log: Logger
}

export interface AddOptions {
  maxSize: number
  ref: Omit<RefRecord, 'created'>
  signal?: AbortSignal
}

/** A byte range of a file: first byte and one past the last. */
export interface ByteRange {
  start: number
  end: number
}

/** Steno's temporary files older than this are leftovers of a crash. */
const STALE_TEMP_MS = 10 * 60 * 1000

/**
 * The content-addressed store: blocks on disk, the index in level. Blocks are
 * written before the index batch that references them, so a crash leaves at
 * worst unreferenced blocks (collected by `gc`), never a reference to a
 * missing block.
 */
export class MediaStore {
  readonly blocksDir: string
  private readonly blocks: Blocks
  private readonly index: IndexDb
  private readonly claims = new Claims()
  private readonly deleting = new Map<string, Promise<void>>()
  private readonly hashPool = new HashPool({ slotSize: CHUNK_SIZE })
  private readonly options: MediaStoreOptions

  constructor (options: MediaStoreOptions) {
    this.options = options
    this.blocksDir = path.join(options.dataDir, 'blocks')
    this.blocks = new Blocks(this.blocksDir, {
      cacheBytes: options.blockCacheBytes,
      onCorrupt: (cid) => { options.log.error({ block: cidString(cid) }, 'corrupt block on disk: not served') }
    })
    this.index = new IndexDb(path.join(options.dataDir, 'index'))
  }

  async open (): Promise<void> {
    await this.blocks.open()
    await this.index.open()
  }

  async close (): Promise<void> {
    await this.index.close()
    await this.blocks.close()
    await this.hashPool.close()
  }

  /** Ingests a byte stream and records a reference to it. */
  async add (source: AsyncIterable<Uint8Array>, options: AddOptions): Promise<CommitResult> {
    await this.checkFreeSpace()
    const claimed: CID[] = []
    const blockSizes = new Map<string, number>()
    const sink = {
      put: async (block: Block) => {
        blockSizes.set(cidString(block.cid), block.bytes.length)
        const key = blockKey(block.cid)
        this.claims.claim(key)
        claimed.push(block.cid)
        await this.deleting.get(key)
        await this.blocks.put(block)
      }
    }
    try {
      const { blocks, ...record } = await importStream(source, sink, { maxSize: options.maxSize, signal: options.signal, hashPool: this.hashPool })
      const commit = await this.index.addRef({ record: { ...record, cid: cidString(record.cid), blocks: blocks.length }, blocks, blockSizes }, options.ref)
      this.release(claimed)
      return commit
    } catch (err) {
      this.release(claimed)
      // nothing of a failed upload stays: blocks only it wrote go now, not at the next gc
      for (const cid of claimed) {
        await this.dropIfUnused(cid).catch((cleanup: unknown) => { this.options.log.warn({ err: cleanup }, 'could not remove a block of a failed upload; gc will') })
      }
      throw err
    }
  }

  private release (claimed: CID[]): void {
    for (const cid of claimed) this.claims.release(blockKey(cid))
  }

  async stat (cid: CID): Promise<BlobRecord | undefined> {
    if (cid.multihash.code === IDENTITY_HASH) return await identityRecord(cid)
    return await this.index.getBlob(cid)
  }

  /** Whether the node holds this exact block (raw or a DAG node). */
  async hasBlock (cid: CID): Promise<boolean> {
    return await this.blocks.has(cid)
  }

  /** One verified block. */
  async block (cid: CID, signal?: AbortSignal): Promise<Uint8Array> {
    return await this.blocks.get(cid, signal)
  }

  /** The file's bytes in `range`, block by block, each verified before it is yielded. */
  async * read (cid: CID, range: ByteRange, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
    if (range.end <= range.start) return
    const bytes = await this.blocks.get(cid, signal)
    if (cid.code === RAW_CODEC) {
      yield bytes.subarray(range.start, range.end)
      return
    }
    let offset = 0
    for (const child of decodeFileNode(bytes)) {
      const childStart = offset
      offset += child.fileSize
      if (offset <= range.start) continue
      if (childStart >= range.end) break
      yield * this.read(child.cid, {
        start: Math.max(0, range.start - childStart),
        end: Math.min(child.fileSize, range.end - childStart)
      }, signal)
    }
  }

  /** Every block of the DAG in depth-first order (each once unless `dups`): the body of a CAR. */
  async * dagBlocks (root: CID, options: { dups?: boolean, signal?: AbortSignal } = {}): AsyncGenerator<Block> {
    const seen = new Set<string>()
    const stack: CID[] = [root]
    while (stack.length > 0) {
      const cid = stack.pop() as CID
      const key = cid.toString()
      if (options.dups !== true && seen.has(key)) continue
      seen.add(key)
      const bytes = await this.blocks.get(cid, options.signal)
      yield { cid, bytes }
      if (cid.code !== RAW_CODEC) stack.push(...dagPbLinks(bytes).reverse())
    }
  }

  async stats (): Promise<Stats> {
    return await this.index.stats()
  }

  /** Reads every block of every blob from disk and checks it against its CID. */
  async verify (): Promise<VerifyResponse> {
    const report: VerifyResponse = { blobs: 0, blocks: 0, ok: 0, missing: [], corrupt: [] }
    for await (const blob of this.index.allBlobs()) {
      report.blobs++
      const stack: CID[] = [CID.parse(blob.cid)]
      const seen = new Set<string>()
      while (stack.length > 0) {
        const cid = stack.pop() as CID
        if (seen.has(cid.toString())) continue
        seen.add(cid.toString())
        report.blocks++
        let bytes: Uint8Array
        try {
          bytes = await this.blocks.get(cid, undefined, { fresh: true })
        } catch (err) {
          const entry = { cid: blob.cid, block: cidString(cid) }
          if (err instanceof FdnError && err.code === 'corrupt_block') report.corrupt.push(entry)
          else report.missing.push(entry)
          continue
        }
        report.ok++
        if (cid.code !== RAW_CODEC) stack.push(...dagPbLinks(bytes))
      }
    }
    return report
  }

  /** Removes blocks no blob references (left by crashes or failed uploads). */
  async gc (): Promise<GcResponse> {
    const report: GcResponse = { blocksScanned: 0, blocksRemoved: 0, bytesFreed: 0 }
    const unused: CID[] = []
    for await (const cid of this.blocks.all()) {
      report.blocksScanned++
      if (!this.claims.isClaimed(blockKey(cid)) && !await this.isReferenced(cid)) unused.push(cid)
    }
    for (const cid of unused) {
      const freed = await this.dropIfUnused(cid)
      if (freed > 0) {
        report.blocksRemoved++
        report.bytesFreed += freed
      }
    }
    report.bytesFreed += await this.removeStaleTemps()
    return report
  }

  /**
   * Deletes a block that no blob references and no ingest has claimed. The
   * claim check and the `deleting` mark happen in one synchronous step, and a
   * writer waits for `deleting` before it looks for the block, so a block is
   * never deleted under an ingest that is about to rely on it.
   */
  private async dropIfUnused (cid: CID): Promise<number> {
    if (await this.isReferenced(cid)) return 0
    const key = blockKey(cid)
    if (this.claims.isClaimed(key) || this.deleting.has(key)) return 0
    let size = 0
    const removal = (async () => {
      size = await this.blocks.sizeOf(cid).catch(() => 0)
      await this.blocks.delete(cid)
    })()
    this.deleting.set(key, removal.catch(() => {}))
    try {
      await removal
    } finally {
      this.deleting.delete(key)
    }
    return size
  }

  /**
   * Whether any blob's DAG holds these bytes. The blockstore files a block by
   * its multihash alone (and lists it back as a CIDv0, i.e. dag-pb), while the
   * index counts references per CID: ask for the raw and the dag-pb CID alike.
   */
  private async isReferenced (cid: CID): Promise<boolean> {
    for (const codec of [RAW_CODEC, DAG_PB_CODEC]) {
      if (await this.index.blockRefCount(CID.createV1(codec, cid.multihash)) > 0) return true
    }
    return false
  }

  private async removeStaleTemps (): Promise<number> {
    let freed = 0
    const now = Date.now()
    for (const shard of await readdir(this.blocksDir).catch(() => [] as string[])) {
      const dir = path.join(this.blocksDir, shard)
      for (const name of await readdir(dir).catch(() => [] as string[])) {
        if (!name.endsWith('.tmp')) continue
        const file = path.join(dir, name)
        const info = await stat(file).catch(() => undefined)
        if (info == null || now - info.mtimeMs < STALE_TEMP_MS) continue
        await rm(file, { force: true })
        freed += info.size
      }
    }
    return freed
  }

  private async checkFreeSpace (): Promise<void> {
    if (this.options.minFreeSpace === 0) return
    const fs = await statfs(this.options.dataDir)
    const free = fs.bavail * fs.bsize
    if (free < this.options.minFreeSpace) {
      throw new FdnError('insufficient_storage', `the node's disk has ${free} bytes free, below its ${this.options.minFreeSpace} byte reserve`)
    }
  }
}

/** What claims and deletions are keyed by: the multihash, as the blockstore files blocks by it whatever the codec. */
function blockKey (cid: CID): string {
  return base32.encode(cid.multihash.bytes)
}

async function identityRecord (cid: CID): Promise<BlobRecord> {
  const bytes = cid.multihash.digest
  return {
    cid: cidString(cid),
    size: bytes.length,
    sha256: createHash('sha256').update(bytes).digest('hex'),
    md5: createHash('md5').update(bytes).digest('hex'),
    mediaType: await detectMediaType(bytes),
    firstSeen: new Date(0).toISOString(),
    refcount: 0,
    blocks: 0,
    storedBytes: 0
  }
}
