import { shortLivedBytes } from './young-gc.ts'

/**
 * Cuts a byte stream into fixed-size chunks. Each chunk is a buffer from
 * `allocate` (a fresh one by default, or a reusable slot) that the caller owns
 * from then on; input is copied once, so every piece is garbage once copied:
 * counted as such as it comes (young-gc.ts), not when its chunk is full, or
 * the pieces of many slow uploads pile up uncollected. A chunk still being
 * filled when the stream fails (or the caller stops) goes to `release`.
 */
export async function * fixedChunks (
  source: AsyncIterable<Uint8Array>,
  chunkSize: number,
  allocate: (size: number) => Uint8Array = size => Buffer.allocUnsafe(size),
  release: (chunk: Uint8Array) => void = () => {}
): AsyncGenerator<Uint8Array> {
  let chunk: Uint8Array | undefined
  let filled = 0
  try {
    for await (const piece of source) {
      let offset = 0
      shortLivedBytes(piece.length)
      while (offset < piece.length) {
        chunk ??= allocate(chunkSize)
        const n = Math.min(chunkSize - filled, piece.length - offset)
        chunk.set(n === piece.length ? piece : piece.subarray(offset, offset + n), filled)
        filled += n
        offset += n
        if (filled === chunkSize) {
          const full = chunk
          chunk = undefined
          filled = 0
          yield full
        }
      }
    }
    if (chunk != null && filled > 0) {
      const last = chunk.subarray(0, filled)
      chunk = undefined
      yield last
    }
  } finally {
    if (chunk != null) release(chunk)
  }
}
