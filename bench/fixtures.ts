// Benchmark inputs: a real ~100 KB PNG, a 20 MiB file with an MP4 `ftyp` header,
// and a large incompressible file for ingest. Random content, so no block dedups.
import { createCipheriv, randomBytes } from 'node:crypto'
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { crc32, deflateSync } from 'node:zlib'

function pngChunk (type: string, data: Buffer): Buffer {
  const length = Buffer.alloc(4)
  length.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([length, body, crc])
}

/** A valid RGB PNG of random pixels, about `targetBytes` long (noise does not compress). */
export function makePng (targetBytes = 100 * 1024): Buffer {
  const width = 200
  const rowBytes = width * 3 + 1
  const height = Math.max(1, Math.round(targetBytes / rowBytes))
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 2 // truecolour
  const raw = Buffer.alloc(rowBytes * height)
  for (let y = 0; y < height; y++) randomBytes(width * 3).copy(raw, y * rowBytes + 1) // filter byte 0
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', Buffer.alloc(0))
  ])
}

/** `bytes` bytes: an MP4 `ftyp` box (isom), then one `mdat` box of random data. */
export function makeMp4 (bytes = 20 * 1024 * 1024): Buffer {
  const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from('ftypisom', 'latin1'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2avc1mp41', 'latin1')])
  const mdatSize = bytes - ftyp.length
  const mdatHeader = Buffer.alloc(8)
  mdatHeader.writeUInt32BE(mdatSize, 0)
  mdatHeader.write('mdat', 4, 'latin1')
  return Buffer.concat([ftyp, mdatHeader, randomBytes(mdatSize - 8)])
}

/** Writes `bytes` pseudo-random bytes (AES-128-CTR keystream: fast and incompressible) to `file`. */
export async function writeRandomFile (file: string, bytes: number): Promise<void> {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16))
  const zeros = Buffer.alloc(4 * 1024 * 1024)
  const out = createWriteStream(file)
  let left = bytes
  while (left > 0) {
    const n = Math.min(left, zeros.length)
    if (!out.write(cipher.update(zeros.subarray(0, n)))) await once(out, 'drain')
    left -= n
  }
  out.end()
  await once(out, 'finish')
}
