/**
 * Cuts a byte stream into fixed-size chunks. Each chunk is a fresh buffer the
 * caller may keep (it is handed to an asynchronous block write); input is
 * copied once.
 */
export async function * fixedChunks (source: AsyncIterable<Uint8Array>, chunkSize: number): AsyncGenerator<Uint8Array> {
  let chunk = Buffer.allocUnsafe(chunkSize)
  let filled = 0
  for await (const piece of source) {
    let offset = 0
    while (offset < piece.length) {
      const n = Math.min(chunkSize - filled, piece.length - offset)
      chunk.set(piece.subarray(offset, offset + n), filled)
      filled += n
      offset += n
      if (filled === chunkSize) {
        yield chunk
        chunk = Buffer.allocUnsafe(chunkSize)
        filled = 0
      }
    }
  }
  if (filled > 0) yield chunk.subarray(0, filled)
}
