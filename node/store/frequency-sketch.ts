/**
 * How often blocks were asked for lately: a count-min sketch (four rows of
 * small saturating counters) that halves every counter after a sample of
 * increments, so old popularity fades. The block cache admits a block only
 * when it is asked for more often than the block it would evict (TinyLFU):
 * a one-off scan through more media than the cache holds passes through
 * without evicting the hot set, and without turning every block read into
 * long-lived garbage.
 *
 * Blocks are named by a SHA-256 digest, already uniform: the rows index it
 * by four of its 32-bit words, mixed with a per-process seed.
 */
import { randomBytes } from 'node:crypto'

const ROWS = 4
const MAX_COUNT = 15

export class FrequencySketch {
  private readonly counters: Uint8Array
  private readonly mask: number
  private readonly sampleSize: number
  private readonly seeds: Uint32Array
  private additions = 0

  /** `width` counters per row, rounded up to a power of two. */
  constructor (width: number) {
    let w = 1
    while (w < width) w <<= 1
    this.counters = new Uint8Array(ROWS * w)
    this.mask = w - 1
    this.sampleSize = 10 * w
    this.seeds = new Uint32Array(randomBytes(4 * ROWS).buffer)
    for (let r = 0; r < ROWS; r++) this.seeds[r] = (this.seeds[r]! | 1) >>> 0
  }

  /** Counts one request for the block whose digest this is. */
  increment (digest: Uint8Array): void {
    let added = false
    for (let r = 0; r < ROWS; r++) {
      const i = this.index(digest, r)
      if (this.counters[i]! < MAX_COUNT) {
        this.counters[i]++
        added = true
      }
    }
    if (added && ++this.additions >= this.sampleSize) this.age()
  }

  /** How often the block was asked for lately (an upper bound, usually exact). */
  estimate (digest: Uint8Array): number {
    let min = MAX_COUNT
    for (let r = 0; r < ROWS; r++) min = Math.min(min, this.counters[this.index(digest, r)]!)
    return min
  }

  private index (digest: Uint8Array, row: number): number {
    const o = (row * 4) % Math.max(4, digest.length - 3)
    const word = ((digest[o] ?? 0) | ((digest[o + 1] ?? 0) << 8) | ((digest[o + 2] ?? 0) << 16) | ((digest[o + 3] ?? 0) << 24)) >>> 0
    return row * (this.mask + 1) + ((Math.imul(word, this.seeds[row]!) >>> 8) & this.mask)
  }

  private age (): void {
    for (let i = 0; i < this.counters.length; i++) this.counters[i] >>= 1
    this.additions = Math.floor(this.additions / 2)
  }
}
