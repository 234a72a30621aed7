/**
 * The chaos run's only source of choices: a small seeded PRNG (sfc32), so a
 * seed names one workload and one fault schedule. Independent streams are
 * forked by name, so the faults chosen do not depend on how many operations
 * ran before them (which depends on timing).
 */
import { createHash } from 'node:crypto'

export class Random {
  private a: number
  private b: number
  private c: number
  private d: number
  readonly seed: string

  constructor (seed: string) {
    this.seed = seed
    const digest = createHash('sha256').update(seed).digest()
    this.a = digest.readUInt32LE(0)
    this.b = digest.readUInt32LE(4)
    this.c = digest.readUInt32LE(8)
    this.d = digest.readUInt32LE(12)
    // the first outputs of sfc32 are weakly mixed
    for (let i = 0; i < 16; i++) this.next()
  }

  /** An independent stream for one part of the run. */
  fork (name: string): Random {
    return new Random(`${this.seed}/${name}`)
  }

  /** Uniform in [0, 1). */
  next (): number {
    this.a >>>= 0; this.b >>>= 0; this.c >>>= 0; this.d >>>= 0
    const t = (this.a + this.b | 0) + this.d | 0
    this.d = this.d + 1 | 0
    this.a = this.b ^ this.b >>> 9
    this.b = this.c + (this.c << 3) | 0
    this.c = this.c << 21 | this.c >>> 11
    this.c = this.c + t | 0
    return (t >>> 0) / 4294967296
  }

  /** An integer in [min, max]. */
  int (min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }

  chance (p: number): boolean {
    return this.next() < p
  }

  pick<T> (items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list')
    return items[Math.floor(this.next() * items.length)] as T
  }

  /** One of the keys, with probability proportional to its weight. */
  weighted<K extends string> (weights: Readonly<Record<K, number>>): K {
    const entries = Object.entries(weights) as Array<[K, number]>
    const total = entries.reduce((sum, [, weight]) => sum + weight, 0)
    let point = this.next() * total
    for (const [key, weight] of entries) {
      point -= weight
      if (point < 0) return key
    }
    return entries[entries.length - 1]![0]
  }

  shuffle<T> (items: readonly T[]): T[] {
    const out = [...items]
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1))
      const swap = out[i] as T
      out[i] = out[j] as T
      out[j] = swap
    }
    return out
  }
}
