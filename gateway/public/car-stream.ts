import { CarWriter } from '@ipld/car'
import type { CID } from 'multiformats/cid'

interface CarBlock {
  cid: CID
  bytes: Uint8Array
}

/**
 * A CARv1 of `root` over `blocks`, produced as the blocks arrive. If reading
 * a block fails, the stream fails (the client sees a truncated CAR, never a
 * wrong block).
 */
export async function * carStream (root: CID, blocks: AsyncIterable<CarBlock>): AsyncGenerator<Uint8Array> {
  const { writer, out } = CarWriter.create([root])
  const pump = (async () => {
    try {
      for await (const block of blocks) await writer.put(block)
    } finally {
      await writer.close()
    }
  })()
  pump.catch(() => {}) // awaited after the output drains
  yield * out
  await pump
}
