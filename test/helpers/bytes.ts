import { createHash, randomBytes } from 'node:crypto'

export const MiB = 1024 * 1024

/** Deterministic pseudo-random bytes (SHA-256 in counter mode), so failures reproduce. */
export function seededBytes (size: number, seed = 'fdn'): Buffer {
  const out = Buffer.allocUnsafe(size)
  let offset = 0
  for (let counter = 0; offset < size; counter++) {
    const block = createHash('sha256').update(`${seed}:${counter}`).digest()
    offset += block.copy(out, offset)
  }
  return out
}

export function sha256Hex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

export { randomBytes }

/** A tiny but valid PNG header followed by filler: enough for magic-number detection. */
export function pngBytes (size: number): Buffer {
  const header = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex')
  return Buffer.concat([header, seededBytes(Math.max(0, size - header.length), 'png')]).subarray(0, Math.max(size, header.length))
}

/** In chunks of uneven sizes, as a network would deliver them. */
export async function * unevenChunks (bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  const sizes = [1, 7, 4096, 65536, 100_000, 1_048_577]
  let offset = 0
  for (let i = 0; offset < bytes.length; i++) {
    const size = sizes[i % sizes.length] ?? 1
    yield bytes.subarray(offset, offset + size)
    offset += size
  }
}

/**
 * A PNG by its magic bytes, `size` bytes in all: signature, IHDR, one IDAT
 * chunk of seeded filler (distinct per seed), IEND. Media type detection
 * walks the chunks to the IDAT, so random bytes right after IHDR would not do.
 */
export function png (size: number, seed: string): Buffer {
  const head = Buffer.from('89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489', 'hex')
  const length = size - head.length - 12 - 12
  const idat = Buffer.alloc(8)
  idat.writeUInt32BE(length)
  idat.write('IDAT', 4, 'latin1')
  return Buffer.concat([head, idat, seededBytes(length, seed), Buffer.alloc(4), Buffer.from('0000000049454e44ae426082', 'hex')])
}

/** A JPEG by its magic bytes (SOI, JFIF APP0), seeded filler, EOI; `size` bytes in all. */
export function jpeg (size: number, seed: string): Buffer {
  const header = Buffer.from('ffd8ffe000104a46494600010100000100010000', 'hex')
  return Buffer.concat([header, seededBytes(size - header.length - 2, seed), Buffer.from('ffd9', 'hex')])
}
