/**
 * Cuts a byte stream into fixed-size chunks. Each chunk is a buffer from
 * `allocate` (a fresh one by default, or a reusable slot) that the caller owns
 * from then on; input is copied once.
 */
export async function * fixedChunks (
  source: AsyncIterable<Uint8Array>,
  chunkSize: number,
  allocate: (size: number) => Uint8Array = size => Buffer.allocUnsafe(size)
): AsyncGenerator<Uint8Array> {
  let chunk: Uint8Array | undefined
  let filled = 0
  for await (const piece of source) {
    let offset = 0
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
  if (chunk != null && filled > 0) yield chunk.subarray(0, filled)
}
