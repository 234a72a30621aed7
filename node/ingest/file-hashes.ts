import { createHash } from 'node:crypto'
import type { HashAlgorithm, HashPool } from './hash-pool.ts'

interface Hasher {
  update: (bytes: Uint8Array) => Promise<void>
  digest: () => Promise<string>
  drop: () => void
}

/**
 * The whole-file SHA-256 and MD5 of an upload. The first chunk is held back:
 * a file of one chunk is a single raw block, whose CID digest already is its
 * SHA-256, so it is never hashed twice; larger files go to the hash pool.
 */
export class FileHashes {
  private readonly pool: HashPool | undefined
  private first: Uint8Array | undefined
  private hashers: { sha256: Hasher, md5: Hasher } | undefined
  /** The last chunk handed to the pool; each thread hashes in order, so its end is the end of all. */
  private lastFed: Promise<unknown> = Promise.resolve()

  constructor (pool?: HashPool) {
    this.pool = pool
  }

  async update (chunk: Uint8Array): Promise<void> {
    if (this.hashers == null) {
      if (this.first == null) {
        this.first = chunk
        return
      }
      this.hashers = { sha256: this.hasher('sha256'), md5: this.hasher('md5') }
      await this.feed(this.first)
      this.first = undefined
    }
    await this.feed(chunk)
  }

  /** `singleBlockSha256`: the CID digest, used when the file was one chunk. */
  async digest (singleBlockSha256: () => string): Promise<{ sha256: string, md5: string }> {
    if (this.hashers == null) {
      const bytes = this.first ?? new Uint8Array(0)
      return { sha256: singleBlockSha256(), md5: createHash('md5').update(bytes).digest('hex') }
    }
    await this.lastFed
    const [sha256, md5] = await Promise.all([this.hashers.sha256.digest(), this.hashers.md5.digest()])
    return { sha256, md5 }
  }

  /** Frees worker state of an upload that failed. */
  drop (): void {
    this.hashers?.sha256.drop()
    this.hashers?.md5.drop()
  }

  /** Hands a chunk to both hashers; with a pool it returns once the chunk is queued, not hashed. */
  private async feed (chunk: Uint8Array): Promise<void> {
    const hashers = this.hashers
    if (hashers == null) return
    if (this.pool == null) {
      await Promise.all([hashers.sha256.update(chunk), hashers.md5.update(chunk)])
      return
    }
    const pool = this.pool
    const slot = await pool.acquire()
    slot.set(chunk)
    const view = slot.subarray(0, chunk.length)
    const done = Promise.all([hashers.sha256.update(view), hashers.md5.update(view)])
    this.lastFed = done
    done.then(() => { pool.release(slot) }, () => { pool.release(slot) })
  }

  private hasher (algorithm: HashAlgorithm): Hasher {
    if (this.pool != null) return this.pool.stream(algorithm)
    const hash = createHash(algorithm)
    return {
      update: async (bytes) => { hash.update(bytes) },
      digest: async () => hash.digest('hex'),
      drop: () => {}
    }
  }
}
