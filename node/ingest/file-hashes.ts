import { createHash } from 'node:crypto'
import type { HashAlgorithm, HashPool, Lease } from './hash-pool.ts'

interface Hasher {
  /** Resolves once the bytes are no longer read (at once when hashed inline). */
  update: (bytes: Uint8Array) => Promise<void> | undefined
  digest: () => Promise<string>
  drop: () => void
}

/** Chunks handed to a hash thread and not yet hashed, per upload: bounds the slots an upload holds. */
const THREAD_QUEUE = 4

/**
 * The whole-file SHA-256 and MD5 of an upload. A first chunk shorter than a
 * full one is the file's only chunk: it is held back, since a file of one
 * chunk is a single raw block, whose CID digest already is its SHA-256, so it
 * is never hashed twice, and its MD5 is computed inline (no thread round trip
 * for small files). Anything larger is hashed as it comes, the algorithms the
 * pool runs on its threads there, the others inline: holding a full first
 * chunk until the client sends more would let every stalled upload keep a
 * chunk of memory.
 */
export class FileHashes {
  private readonly chunkSize: number
  private readonly pool: HashPool | undefined
  private first: { chunk: Uint8Array, lease: Lease | undefined } | undefined
  private hashers: { sha256: Hasher, md5: Hasher } | undefined
  /** Chunks on their way through a hash thread, oldest first. */
  private readonly queued: Array<Promise<void>> = []

  /** `chunkSize`: the size of every chunk but the last. */
  constructor (chunkSize: number, pool?: HashPool) {
    this.chunkSize = chunkSize
    this.pool = pool
  }

  /**
   * Hashes a chunk, or queues it on a thread and returns once the queue has
   * room. `lease`: the chunk's slot, retained for as long as a thread reads it.
   */
  async update (chunk: Uint8Array, lease?: Lease): Promise<void> {
    if (this.hashers == null) {
      if (this.first == null && chunk.length < this.chunkSize) {
        this.first = { chunk, lease: lease?.retain() }
        return
      }
      this.hashers = { sha256: this.hasher('sha256'), md5: this.hasher('md5') }
      const first = this.first
      this.first = undefined
      if (first != null) {
        this.feed(first.chunk, first.lease)
        first.lease?.release()
      }
    }
    this.feed(chunk, lease)
    while (this.queued.length > THREAD_QUEUE) await this.queued.shift()
  }

  /** `singleBlockSha256`: the CID digest, used when the file was one chunk. */
  async digest (singleBlockSha256: () => string): Promise<{ sha256: string, md5: string }> {
    if (this.hashers == null) {
      const first = this.first
      this.first = undefined
      try {
        return { sha256: singleBlockSha256(), md5: createHash('md5').update(first?.chunk ?? new Uint8Array(0)).digest('hex') }
      } finally {
        first?.lease?.release()
      }
    }
    await Promise.all(this.queued.splice(0))
    const [sha256, md5] = await Promise.all([this.hashers.sha256.digest(), this.hashers.md5.digest()])
    return { sha256, md5 }
  }

  /** Frees the state of an upload that failed. */
  drop (): void {
    this.first?.lease?.release()
    this.first = undefined
    this.hashers?.sha256.drop()
    this.hashers?.md5.drop()
  }

  private feed (chunk: Uint8Array, lease: Lease | undefined): void {
    const hashers = this.hashers
    if (hashers == null) return
    for (const hasher of [hashers.sha256, hashers.md5]) {
      const done = hasher.update(chunk)
      if (done == null) continue
      lease?.retain()
      const settled = done.finally(() => { lease?.release() })
      settled.catch(() => {}) // awaited through `queued`; this only keeps a failure from being "unhandled" meanwhile
      this.queued.push(settled)
    }
  }

  private hasher (algorithm: HashAlgorithm): Hasher {
    if (this.pool?.runs(algorithm) === true) {
      const stream = this.pool.stream(algorithm)
      return { update: async (bytes) => { await stream.update(bytes) }, digest: async () => await stream.digest(), drop: () => { stream.drop() } }
    }
    const hash = createHash(algorithm)
    return {
      update: (bytes) => { hash.update(bytes); return undefined },
      digest: async () => hash.digest('hex'),
      drop: () => {}
    }
  }
}
