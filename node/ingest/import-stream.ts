import type { CID } from 'multiformats/cid'
import { CHUNK_SIZE } from '../../protocol/cid-profile.ts'
import { FdnError } from '../../protocol/errors.ts'
import { BalancedDagBuilder } from './dag-builder.ts'
import type { Block } from './dag-builder.ts'
import { fixedChunks } from './chunker.ts'
import { FileHashes } from './file-hashes.ts'
import type { HashPool, Lease } from './hash-pool.ts'
import { detectMediaType, SNIFF_BYTES } from './media-type.ts'

/**
 * Where the importer writes blocks; the store decides how. With a hash pool,
 * a leaf's bytes live in a reusable slot: they are valid until `put` settles,
 * so a sink that keeps them must copy them.
 */
export interface BlockSink {
  put: (block: Block) => Promise<void>
}

export interface ImportOptions {
  /** Bytes above which the import fails with `too_large`. */
  maxSize: number
  signal?: AbortSignal
  /** The profile's chunk size and fan-out unless given (tests shrink them to build deep DAGs). */
  chunkSize?: number
  maxChildren?: number
  /** Reusable chunk slots and threads for the whole-file hashes of large files; fresh buffers and inline hashing without one. */
  hashPool?: HashPool
}

export interface ImportResult {
  cid: CID
  size: number
  sha256: string
  md5: string
  mediaType: string
  /** Every distinct block of the DAG, root included. */
  blocks: CID[]
  /** Bytes of those blocks: what the blob costs on disk. */
  storedBytes: number
}

/** Block writes allowed in flight: bounds memory to a few chunks. */
const WRITE_WINDOW = 6

/**
 * One streaming pass over a file: chunks it, builds its DAG and computes its
 * CID, whole-file SHA-256 and MD5 and media type, writing blocks as it goes.
 * Memory stays at a few chunks whatever the file size.
 */
export async function importStream (source: AsyncIterable<Uint8Array>, sink: BlockSink, options: ImportOptions): Promise<ImportResult> {
  const chunkSize = options.chunkSize ?? CHUNK_SIZE
  const hashes = new FileHashes(chunkSize, options.hashPool)
  const dag = new BalancedDagBuilder(options.maxChildren)
  const blocks = new Map<string, CID>()
  const pending: Array<Promise<void>> = []
  let head: Uint8Array | undefined
  let size = 0
  let storedBytes = 0

  /** `lease`: the slot of the leaf among `produced`, held until its write settles. */
  const store = async (produced: Block[], leaf?: Uint8Array, lease?: Lease): Promise<void> => {
    for (const block of produced) {
      const key = block.cid.toString()
      if (blocks.has(key)) continue
      blocks.set(key, block.cid)
      storedBytes += block.bytes.length
      let write = sink.put(block)
      if (lease != null && block.bytes === leaf) {
        lease.retain()
        write = write.finally(() => { lease.release() })
      }
      write.catch(() => {}) // awaited below; this only keeps an early failure from being "unhandled"
      pending.push(write)
      if (pending.length >= WRITE_WINDOW) await pending.shift()
    }
  }

  const pool = options.hashPool
  // chunks are read straight into the pool's shared slots (when they fit one), which the
  // hash thread and the block write then read without a copy
  const allocate = pool != null && chunkSize <= pool.slotSize ? (n: number) => pool.acquire().subarray(0, n) : undefined
  const release = allocate != null ? (slot: Uint8Array) => { pool?.release(slot) } : undefined
  try {
    for await (const chunk of fixedChunks(source, chunkSize, allocate, release)) {
      const lease = allocate != null ? pool?.lease(chunk) : undefined
      try {
        options.signal?.throwIfAborted()
        size += chunk.length
        if (size > options.maxSize) {
          throw new FdnError('too_large', `body exceeds the ${options.maxSize} byte limit`)
        }
        // a copy: the slot is reused once the chunk is written and hashed
        head ??= new Uint8Array(chunk.subarray(0, SNIFF_BYTES))
        await Promise.all([hashes.update(chunk, lease), store(dag.addChunk(chunk), chunk, lease)])
      } finally {
        lease?.release()
      }
    }
    const { root, blocks: last } = dag.finish()
    await store(last)
    await Promise.all(pending)
    const { sha256, md5 } = await hashes.digest(() => Buffer.from(root.cid.multihash.digest).toString('hex'))
    return {
      cid: root.cid,
      size,
      sha256,
      md5,
      mediaType: await detectMediaType(head ?? new Uint8Array(0)),
      blocks: [...blocks.values()],
      storedBytes
    }
  } catch (err) {
    hashes.drop()
    throw err
  } finally {
    await Promise.allSettled(pending)
  }
}
