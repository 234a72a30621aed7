/**
 * The checksums S3 verifies and echoes (`x-amz-checksum-*`): CRC32, CRC32C,
 * CRC64NVME, SHA-1, SHA-256, each sent and returned as the base64 of the
 * big-endian digest. Current AWS SDKs send one on every upload (CRC32 by
 * default), so this runs over every byte uploaded and has to be fast: CRC32
 * is zlib's (native), the SHAs are OpenSSL's, and CRC32C and CRC64NVME, which
 * node lacks, are table-driven "slicing-by-8" in plain JavaScript.
 */
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { crc32 as zlibCrc32 } from 'node:zlib'

export type ChecksumAlgorithm = 'crc32' | 'crc32c' | 'crc64nvme' | 'sha1' | 'sha256'

export const CHECKSUM_ALGORITHMS: readonly ChecksumAlgorithm[] = ['crc32', 'crc32c', 'crc64nvme', 'sha1', 'sha256']

/** S3's spelling: `x-amz-sdk-checksum-algorithm` values, and the names in its error messages. */
export const CHECKSUM_NAMES: Readonly<Record<ChecksumAlgorithm, string>> = {
  crc32: 'CRC32', crc32c: 'CRC32C', crc64nvme: 'CRC64NVME', sha1: 'SHA1', sha256: 'SHA256'
}

/** Digest sizes in bytes. */
export const CHECKSUM_SIZES: Readonly<Record<ChecksumAlgorithm, number>> = {
  crc32: 4, crc32c: 4, crc64nvme: 8, sha1: 20, sha256: 32
}

export interface Checksum {
  update (data: Uint8Array): void
  /** the big-endian digest; call once, after the last update */
  digest (): Buffer
}

/** `x-amz-checksum-crc32` → `crc32`; undefined for any other name. */
export function checksumFromHeaderName (name: string): ChecksumAlgorithm | undefined {
  if (!name.startsWith('x-amz-checksum-')) return undefined
  const alg = name.slice('x-amz-checksum-'.length)
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(alg) ? alg as ChecksumAlgorithm : undefined
}

/** `CRC32` (any case) → `crc32`; undefined for any other name. */
export function checksumFromName (name: string): ChecksumAlgorithm | undefined {
  const alg = name.toLowerCase()
  return (CHECKSUM_ALGORITHMS as readonly string[]).includes(alg) ? alg as ChecksumAlgorithm : undefined
}

/**
 * The digest a base64 checksum value stands for, or undefined when it is not
 * canonical base64 of the algorithm's digest size (S3 refuses those).
 */
export function decodeChecksumValue (alg: ChecksumAlgorithm, value: string): Buffer | undefined {
  const size = CHECKSUM_SIZES[alg]
  const chars = 4 * Math.ceil(size / 3)
  if (value.length !== chars || !/^[A-Za-z0-9+/]+={0,2}$/.test(value)) return undefined
  const bytes = Buffer.from(value, 'base64')
  // Buffer.from ignores stray bits in the last character: insist on the canonical form
  return bytes.length === size && bytes.toString('base64') === value ? bytes : undefined
}

// --- CRC tables. Slicing-by-8 consumes 8 input bytes per step through 8
// tables: T[0] is the usual byte table, T[k][i] is T[k-1][i] advanced by one
// more zero byte. Reflected polynomials (both CRCs here are bit-reversed).

/** 8 × 256 entries, table k at offset 256·k. */
function crc32Tables (poly: number): Uint32Array {
  const t = new Uint32Array(8 * 256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = (c & 1) !== 0 ? (c >>> 1) ^ poly : c >>> 1
    t[i] = c >>> 0
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) {
      const prev = t[(k - 1) * 256 + i]!
      t[k * 256 + i] = (prev >>> 8) ^ t[prev & 0xff]!
    }
  }
  return t
}

// CRC-32C (Castagnoli): reflected polynomial 0x82F63B78
const C32 = crc32Tables(0x82f63b78)

function crc32cUpdate (state: number, buf: Uint8Array): number {
  const t = C32
  let crc = state
  let i = 0
  const end8 = buf.length - (buf.length % 8)
  while (i < end8) {
    const a = crc ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))
    crc = t[1792 + (a & 0xff)]! ^ t[1536 + ((a >>> 8) & 0xff)]! ^ t[1280 + ((a >>> 16) & 0xff)]! ^ t[1024 + (a >>> 24)]! ^
      t[768 + buf[i + 4]!]! ^ t[512 + buf[i + 5]!]! ^ t[256 + buf[i + 6]!]! ^ t[buf[i + 7]!]!
    i += 8
  }
  while (i < buf.length) crc = t[(crc ^ buf[i++]!) & 0xff]! ^ (crc >>> 8)
  return crc >>> 0
}

// CRC-64/NVME: reflected polynomial 0x9A6C9329AC4BC9B5 (0xAD93D23594C93659
// normal), init and xorout all ones. 64-bit values are kept as two 32-bit
// halves, since BigInt arithmetic would be two orders of magnitude slower.
const C64_LO = new Uint32Array(8 * 256)
const C64_HI = new Uint32Array(8 * 256)
{
  const POLY_LO = 0xac4bc9b5
  const POLY_HI = 0x9a6c9329
  for (let i = 0; i < 256; i++) {
    let lo = i
    let hi = 0
    for (let k = 0; k < 8; k++) {
      const bit = lo & 1
      lo = (lo >>> 1) | ((hi & 1) << 31)
      hi = hi >>> 1
      if (bit !== 0) { lo ^= POLY_LO; hi ^= POLY_HI }
    }
    C64_LO[i] = lo >>> 0
    C64_HI[i] = hi >>> 0
  }
  for (let i = 0; i < 256; i++) {
    for (let k = 1; k < 8; k++) {
      const plo = C64_LO[(k - 1) * 256 + i]!
      const phi = C64_HI[(k - 1) * 256 + i]!
      const idx = plo & 0xff
      C64_LO[k * 256 + i] = (((plo >>> 8) | (phi << 24)) ^ C64_LO[idx]!) >>> 0
      C64_HI[k * 256 + i] = ((phi >>> 8) ^ C64_HI[idx]!) >>> 0
    }
  }
}

class Crc64Nvme implements Checksum {
  private lo = 0xffffffff
  private hi = 0xffffffff

  update (buf: Uint8Array): void {
    const L = C64_LO
    const H = C64_HI
    let lo = this.lo
    let hi = this.hi
    let i = 0
    const end8 = buf.length - (buf.length % 8)
    while (i < end8) {
      const a = lo ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24))
      const b = hi ^ (buf[i + 4]! | (buf[i + 5]! << 8) | (buf[i + 6]! << 16) | (buf[i + 7]! << 24))
      const i0 = 1792 + (a & 0xff); const i1 = 1536 + ((a >>> 8) & 0xff); const i2 = 1280 + ((a >>> 16) & 0xff); const i3 = 1024 + (a >>> 24)
      const i4 = 768 + (b & 0xff); const i5 = 512 + ((b >>> 8) & 0xff); const i6 = 256 + ((b >>> 16) & 0xff); const i7 = b >>> 24
      lo = L[i0]! ^ L[i1]! ^ L[i2]! ^ L[i3]! ^ L[i4]! ^ L[i5]! ^ L[i6]! ^ L[i7]!
      hi = H[i0]! ^ H[i1]! ^ H[i2]! ^ H[i3]! ^ H[i4]! ^ H[i5]! ^ H[i6]! ^ H[i7]!
      i += 8
    }
    while (i < buf.length) {
      const idx = (lo ^ buf[i++]!) & 0xff
      lo = ((lo >>> 8) | (hi << 24)) ^ L[idx]!
      hi = (hi >>> 8) ^ H[idx]!
    }
    this.lo = lo >>> 0
    this.hi = hi >>> 0
  }

  digest (): Buffer {
    const out = Buffer.allocUnsafe(8)
    out.writeUInt32BE((~this.hi) >>> 0, 0)
    out.writeUInt32BE((~this.lo) >>> 0, 4)
    return out
  }
}

class Crc32c implements Checksum {
  private state = 0xffffffff
  update (buf: Uint8Array): void { this.state = crc32cUpdate(this.state, buf) }
  digest (): Buffer {
    const out = Buffer.allocUnsafe(4)
    out.writeUInt32BE((~this.state) >>> 0, 0)
    return out
  }
}

class Crc32 implements Checksum {
  private value = 0
  update (buf: Uint8Array): void { this.value = zlibCrc32(buf, this.value) }
  digest (): Buffer {
    const out = Buffer.allocUnsafe(4)
    out.writeUInt32BE(this.value >>> 0, 0)
    return out
  }
}

class NodeHash implements Checksum {
  private readonly hash: Hash
  constructor (name: string) { this.hash = createHash(name) }
  update (buf: Uint8Array): void { this.hash.update(buf) }
  digest (): Buffer { return this.hash.digest() }
}

export function createChecksum (alg: ChecksumAlgorithm): Checksum {
  switch (alg) {
    case 'crc32': return new Crc32()
    case 'crc32c': return new Crc32c()
    case 'crc64nvme': return new Crc64Nvme()
    case 'sha1': return new NodeHash('sha1')
    case 'sha256': return new NodeHash('sha256')
  }
}

/** The base64 checksum of some bytes, as S3 writes it in `x-amz-checksum-*`. */
export function checksumOf (alg: ChecksumAlgorithm, data: Uint8Array): string {
  const c = createChecksum(alg)
  c.update(data)
  return c.digest().toString('base64')
}
