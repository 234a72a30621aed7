import { readdir, rm, stat, statfs } from 'node:fs/promises'
import path from 'node:path'
import type { Logger } from 'pino'
import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { CHUNK_SIZE, IDENTITY_HASH, RAW_CODEC } from '../../protocol/cid-profile.ts'
import { cidString } from '../../protocol/cid.ts'
import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import { dagPbLinks, decodeFileNode } from '../../protocol/unixfs-file.ts'
import type { GcResponse, VerifyResponse } from '../../protocol/admin-api.ts'
import type { Block } from '../ingest/dag-builder.ts'
import { importStream } from '../ingest/import-stream.ts'
import { HashPool } from '../ingest/hash-pool.ts'
import { detectMediaType } from '../ingest/media-type.ts'
import { Blocks } from './blocks.ts'
import type { BlockLease } from './blocks.ts'
import { Claims } from './claims.ts'
import { IndexDb } from './index-db.ts'
import type { Tx } from './index-db.ts'
import type { BlobRecord, Stats } from './records.ts'
import { addRef, rootKey } from './refs.ts'
import type { Syncer } from './syncer.ts'
import type { NewBlob } from './refs.ts'
import * as Digest from 'multiformats/hashes/digest'
import { createHash } from 'node:crypto'

export interface MediaStoreOptions {
  dataDir: string
  blockCacheBytes: number
  /** Free disk below which uploads are refused before a byte is written. */
  minFreeSpace: number
  /** Whether (and how) blocks and index batches are flushed to the disk before a write resolves (FDN_FSYNC). */
  syncer: Syncer
  log: Logger
}

export interface IngestOptions {
  maxSize: number
  signal?: AbortSignal
  /**
   * Checks the file's digests (hex) once all of it is in and its blocks are
   * written, before the index batch: a throw refuses the upload and removes
   * what only it wrote. The S3 API compares the client's payload hash and
   * Content-MD5 here, against the store's own hashes of the bytes.
   */
  verify?: (hashes: { sha256: string, md5: string }) => void
}

/** A byte range of a file: first byte and one past the last. */
export interface ByteRange {
  start: number
  end: number
}

/** What a committed transaction changed, for the swarm to act on (provide, replicate, release). */
export interface BlobChanges {
  /** Blobs whose references changed (new blobs included). */
  touched: string[]
  /** Blobs whose last reference went. */
  removed: string[]
  /** Tenants whose record or objects changed. */
  tenants: string[]
}

/** Fetches a verified copy of one block from elsewhere, when the local one is corrupt or missing. */
export type BlockRepairer = (cid: CID, signal?: AbortSignal) => Promise<Uint8Array>

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
  private readonly hashPool = new HashPool({ slotSize: CHUNK_SIZE, threaded: ['md5'] })
  private readonly options: MediaStoreOptions
  private readonly listeners: Array<(changes: BlobChanges) => void> = []
  private repairer: BlockRepairer | undefined
  private readonly repairing = new Map<string, Promise<Uint8Array>>()

  constructor (options: MediaStoreOptions) {
    this.options = options
    this.blocksDir = path.join(options.dataDir, 'blocks')
    this.blocks = new Blocks(this.blocksDir, {
      cacheBytes: options.blockCacheBytes,
      syncer: options.syncer,
      onCorrupt: (cid) => { options.log.error({ block: cidString(cid) }, 'corrupt block on disk: not served') }
    })
    this.index = new IndexDb(path.join(options.dataDir, 'index'), { sync: options.syncer.durable })
  }

  async open (): Promise<void> {
    await this.blocks.open()
    await this.index.open()
    // the entries of blocks/ and index/ themselves, should open have made them
    await this.options.syncer.directory(this.options.dataDir)
    await this.indexDigests()
    await this.indexRoots()
  }

  /** Blobs stored before the `digest` table existed get their entry once, at the first start that has it. */
  private async indexDigests (): Promise<void> {
    for await (const _ of this.index.entries('digest', { limit: 1 })) return
    let missing: Array<[string, string]> = []
    const flush = async (): Promise<void> => {
      const batch = missing
      missing = []
      await this.index.transact(async tx => { for (const [sha256, cid] of batch) tx.put('digest', sha256, cid as CidString) })
    }
    for await (const [cid, blob] of this.index.entries('blob')) {
      missing.push([blob.sha256, cid])
      if (missing.length >= 1000) await flush()
    }
    if (missing.length > 0) await flush()
  }

  /** Blobs stored before the `root` table existed get their rows once, at the first start that has it. */
  private async indexRoots (): Promise<void> {
    for await (const _ of this.index.entries('root', { limit: 1 })) return
    let missing: string[] = []
    const flush = async (): Promise<void> => {
      const batch = missing
      missing = []
      await this.index.transact(async tx => { for (const key of batch) tx.put('root', key, true) })
    }
    for await (const [cid, blocks] of this.index.entries('dag')) {
      for (const key of blocks) missing.push(rootKey(key, cid))
      if (missing.length >= 1000) await flush()
    }
    if (missing.length > 0) await flush()
  }

  async close (): Promise<void> {
    await this.index.close()
    await this.blocks.close()
    await this.hashPool.close()
  }

  /**
   * Ingests a byte stream, then runs `commit` in the index transaction that
   * records the blob: it adds the references (an object, a pin, a part) that
   * keep it. Nothing of a failed ingest or commit stays.
   */
  async ingest<T> (source: AsyncIterable<Uint8Array>, options: IngestOptions, commit: (tx: Tx, blob: NewBlob) => Promise<T>): Promise<T> {
    await this.checkFreeSpace()
    const claimed: string[] = []
    const blockSizes = new Map<string, number>()
    const sink = {
      put: async (block: Block) => {
        const key = blockKey(block.cid)
        blockSizes.set(key, block.bytes.length)
        this.claims.claim(key)
        claimed.push(key)
        await this.deleting.get(key)
        await this.blocks.put(block)
      }
    }
    try {
      const { blocks, ...imported } = await importStream(source, sink, { maxSize: options.maxSize, signal: options.signal, hashPool: this.hashPool })
      options.verify?.({ sha256: imported.sha256, md5: imported.md5 })
      const blob: NewBlob = { record: { ...imported, cid: cidString(imported.cid), blocks: blocks.length }, blockSizes }
      const result = await this.transact(async tx => await commit(tx, blob))
      this.release(claimed)
      return result
    } catch (err) {
      this.release(claimed)
      // nothing of a failed upload stays: blocks only it wrote go now, not at the next gc
      for (const key of claimed) {
        await this.dropIfUnused(key).catch((cleanup: unknown) => { this.options.log.warn({ err: cleanup }, 'could not remove a block of a failed upload; gc will') })
      }
      throw err
    }
  }

  /** An operator's `fdn add`: a public pin. */
  async add (source: AsyncIterable<Uint8Array>, options: IngestOptions): Promise<{ blob: BlobRecord, created: boolean }> {
    return await this.ingest(source, options, async (tx, blob) => await addRef(tx, blob.record.cid, { kind: 'pin', holder: 'admin', public: true }, blob))
  }

  /** An index change that moves no bytes (delete, copy, ACL); blocks it frees are deleted after it commits. */
  async transact<T> (work: (tx: Tx) => Promise<T>): Promise<T> {
    const { result, freedBlocks, touchedBlobs, removedBlobs, touchedTenants } = await this.index.transact(work)
    for (const key of freedBlocks) {
      await this.dropIfUnused(key).catch((err: unknown) => { this.options.log.warn({ err, block: key }, 'could not delete a freed block; gc will') })
    }
    if (touchedBlobs.size > 0 || removedBlobs.length > 0 || touchedTenants.length > 0) {
      const changes = { touched: [...touchedBlobs], removed: removedBlobs, tenants: touchedTenants }
      for (const listener of this.listeners) listener(changes)
    }
    return result
  }

  /** Calls `listener` after every commit that changed a blob's references. */
  onChange (listener: (changes: BlobChanges) => void): void {
    this.listeners.push(listener)
  }

  /** Where a corrupt block is fetched again from (the swarm); without one, a corrupt block is only an error. */
  setRepairer (repairer: BlockRepairer | undefined): void {
    this.repairer = repairer
  }

  /** Committed index reads, for the layers above (objects, tenants). */
  get db (): IndexDb {
    return this.index
  }

  private release (claimed: string[]): void {
    for (const key of claimed) this.claims.release(key)
  }

  async stat (cid: CID): Promise<BlobRecord | undefined> {
    if (cid.multihash.code === IDENTITY_HASH) return await identityRecord(cid)
    return await this.index.get('blob', cidString(cid))
  }

  /**
   * The blobs whose DAG holds this block: the blob of that CID itself first,
   * then the others that share the block. Who may read a block is decided by
   * these (a leaf of a private file is as private as the file).
   */
  async * blobsContaining (cid: CID): AsyncGenerator<BlobRecord> {
    const own = await this.stat(cid)
    if (own != null) yield own
    const prefix = `${blockKey(cid)}/`
    for await (const [key] of this.index.entries('root', { gt: prefix, lt: `${prefix}\xff` })) {
      const root = key.slice(prefix.length)
      if (root === own?.cid) continue
      const blob = await this.index.get('blob', root)
      if (blob != null) yield blob
    }
  }

  /** Whether a corrupt copy of this block is being replaced: until then the node has no good copy to offer. */
  isRepairing (cid: CID): boolean {
    return this.repairing.has(blockKey(cid))
  }

  /** Whether the node holds this exact block (raw or a DAG node). */
  async hasBlock (cid: CID): Promise<boolean> {
    return await this.blocks.has(cid)
  }

  /** One verified block. */
  async block (cid: CID, signal?: AbortSignal): Promise<Uint8Array> {
    return await this.verifiedBlock(cid, signal)
  }

  /**
   * A block read from disk and verified; a corrupt one is never returned: it
   * is fetched again through the repairer, checked, and written over the bad
   * copy. Concurrent readers of one corrupt block share one repair.
   */
  private async verifiedBlock (cid: CID, signal?: AbortSignal, options: { cache?: boolean } = {}): Promise<Uint8Array> {
    try {
      return await this.blocks.get(cid, signal, options)
    } catch (err) {
      const repairer = this.repairer
      if (repairer == null || !(err instanceof FdnError) || err.code !== 'corrupt_block') throw err
      const key = blockKey(cid)
      let repair = this.repairing.get(key)
      if (repair == null) {
        // started after it is registered: the repairer must see the block as being repaired
        repair = Promise.resolve().then(async () => {
          const bytes = await repairer(cid, signal)
          await this.blocks.replace({ cid, bytes })
          this.options.log.warn({ block: cidString(cid) }, 'corrupt block replaced by a verified copy from a peer')
          return bytes
        })
        this.repairing.set(key, repair)
        repair.finally(() => this.repairing.delete(key)).catch(() => {})
      }
      try {
        return await repair
      } catch (repairErr) {
        throw new FdnError('corrupt_block', `${(err as Error).message}; no peer had a good copy (${(repairErr as Error).message})`, { cause: repairErr })
      }
    }
  }

  /** One verified block for answering one request (Blocks.lease): call `release` once the answer is out. */
  async blockLease (cid: CID, options: { size?: number, signal?: AbortSignal } = {}): Promise<BlockLease> {
    try {
      return await this.blocks.lease(cid, options)
    } catch (err) {
      if (this.repairer == null || !(err instanceof FdnError) || err.code !== 'corrupt_block') throw err
      return { bytes: await this.verifiedBlock(cid, options.signal), release: () => {} }
    }
  }

  /**
   * The file's bytes in `range`, block by block, each verified before it is
   * yielded. `cache: false` for bulk internal reads (assembling a multipart
   * upload), which must not evict the media clients are reading.
   */
  async * read (cid: CID, range: ByteRange, signal?: AbortSignal, options: { cache?: boolean } = {}): AsyncGenerator<Uint8Array> {
    if (range.end <= range.start) return
    const bytes = await this.verifiedBlock(cid, signal, options)
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
      }, signal, options)
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
      const bytes = await this.verifiedBlock(cid, options.signal)
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
    for await (const [, blob] of this.index.entries('blob')) {
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
          // a blob removed while the walk ran (deleted, evicted, released) took its blocks with it
          else if (await this.index.get('blob', blob.cid) != null) report.missing.push(entry)
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
    const unused: string[] = []
    for await (const cid of this.blocks.all()) {
      report.blocksScanned++
      const key = blockKey(cid)
      if (!this.claims.isClaimed(key) && await this.index.get('block', key) == null) unused.push(key)
    }
    for (const key of unused) {
      const freed = await this.dropIfUnused(key)
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
  private async dropIfUnused (key: string): Promise<number> {
    if (await this.index.get('block', key) != null) return 0
    if (this.claims.isClaimed(key) || this.deleting.has(key)) return 0
    const cid = blockCid(key)
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

/**
 * Blocks are keyed by multihash (claims, deletions, the index's `block`
 * table), as the blockstore files them whatever the codec: the same bytes
 * under a raw and a dag-pb CID are one file.
 */
function blockKey (cid: CID): string {
  return base32.encode(cid.multihash.bytes)
}

function blockCid (key: string): CID {
  return CID.createV1(RAW_CODEC, Digest.decode(base32.decode(key)))
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
    publicRefs: 1,
    blocks: 0,
    storedBytes: 0
  }
}
