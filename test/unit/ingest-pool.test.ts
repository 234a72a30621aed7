// The ingest path with the daemon's hash pool: chunks live in reusable shared
// slots, MD5 runs on a thread. Whatever the timing, every block handed to the
// sink holds its bytes until `put` settles, and the hashes are the file's.
import { after, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { CHUNK_SIZE } from '../../protocol/cid-profile.ts'
import { HashPool } from '../../node/ingest/hash-pool.ts'
import { importStream } from '../../node/ingest/import-stream.ts'
import type { Block } from '../../node/ingest/dag-builder.ts'
import { MiB, unevenChunks } from '../helpers/bytes.ts'

const random = randomBytes(8 * MiB)
/** Distinct bytes per call (a fresh offset into one random buffer): no two files alike. */
let offset = 0
function bytesOf (size: number): Buffer {
  offset = (offset + 4099) % (random.length - size)
  return Buffer.from(random.subarray(offset, offset + size))
}

const pool = new HashPool({ slotSize: CHUNK_SIZE })
after(async () => { await pool.close() })

/** A sink that takes its time and checks, when it is done, that the bytes are still the block's. */
function checkingSink (delayMs: number): { put: (block: Block) => Promise<void>, blocks: Map<string, Buffer> } {
  const blocks = new Map<string, Buffer>()
  return {
    blocks,
    put: async (block) => {
      await sleep(delayMs)
      const digest = createHash('sha256').update(block.bytes).digest()
      assert.ok(digest.equals(block.cid.multihash.digest), `bytes of ${block.cid.toString()} changed before put settled`)
      blocks.set(block.cid.toString(), Buffer.from(block.bytes))
    }
  }
}

describe('ingest with the hash pool (shared slots, MD5 thread)', () => {
  for (const size of [0, 1, MiB - 1, MiB, MiB + 1, 5 * MiB + 3]) {
    it(`gives the same CID and the file's SHA-256 and MD5 for ${size} bytes`, async () => {
      const bytes = bytesOf(size)
      const plain = await importStream(unevenChunks(bytes), { put: async () => {} }, { maxSize: Infinity })
      const sink = checkingSink(1)
      const pooled = await importStream(unevenChunks(bytes), sink, { maxSize: Infinity, hashPool: pool })
      assert.equal(pooled.cid.toString(), plain.cid.toString())
      assert.equal(pooled.sha256, createHash('sha256').update(bytes).digest('hex'))
      assert.equal(pooled.md5, createHash('md5').update(bytes).digest('hex'))
      assert.equal(pooled.size, size)
      assert.equal(sink.blocks.size, pooled.blocks.length)
    })
  }

  it('keeps concurrent uploads apart while slots are reused', async () => {
    const files = Array.from({ length: 6 }, (_, i) => bytesOf(3 * MiB + i * 1000))
    const results = await Promise.all(files.map(async (bytes, i) =>
      await importStream(unevenChunks(bytes), checkingSink(i % 3), { maxSize: Infinity, hashPool: pool })))
    for (const [i, result] of results.entries()) {
      const bytes = files[i] as Buffer
      assert.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'))
      assert.equal(result.md5, createHash('md5').update(bytes).digest('hex'))
    }
  })

  it('gives every slot back, after failed uploads too, and the next upload still works', async () => {
    await sleep(10) // acknowledgements of the uploads above
    const idle = pool.idleSlots
    assert.ok(idle > 0)
    for (let i = 0; i < 5; i++) {
      await assert.rejects(importStream(unevenChunks(bytesOf(4 * MiB)), checkingSink(0), { maxSize: 2 * MiB + 5, hashPool: pool }), { code: 'too_large' })
    }
    const bytes = bytesOf(3 * MiB)
    const result = await importStream(unevenChunks(bytes), checkingSink(0), { maxSize: Infinity, hashPool: pool })
    assert.equal(result.md5, createHash('md5').update(bytes).digest('hex'))
    await sleep(10)
    assert.ok(pool.idleSlots >= Math.min(idle, 4), `slots came back (${pool.idleSlots} idle, ${idle} before)`)
  })

  it('does not wait for slots: a stalled upload holding some never blocks another', async () => {
    let release: () => void = () => {}
    const stalled = (async function * () {
      yield bytesOf(MiB + 10)
      await new Promise<void>(resolve => { release = resolve })
    })()
    const first = importStream(stalled, { put: async () => {} }, { maxSize: Infinity, hashPool: pool })
    await sleep(20)
    for (let i = 0; i < 20; i++) {
      const bytes = bytesOf(2 * MiB)
      const result = await importStream(unevenChunks(bytes), { put: async () => {} }, { maxSize: Infinity, hashPool: pool })
      assert.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'))
    }
    release()
    assert.equal((await first).size, MiB + 10)
  })

  it('fails an upload whose hash thread went away instead of hanging, and starts a new thread for the next', async () => {
    const own = new HashPool({ slotSize: CHUNK_SIZE })
    try {
      let release: () => void = () => {}
      const source = (async function * () {
        yield bytesOf(3 * MiB)
        await new Promise<void>(resolve => { release = resolve })
        yield bytesOf(10)
      })()
      const upload = importStream(source, { put: async () => {} }, { maxSize: Infinity, hashPool: own })
      upload.catch(() => {})
      await sleep(50)
      await own.close() // the MD5 thread ends under the upload
      release()
      await assert.rejects(upload)
      const bytes = bytesOf(2 * MiB)
      const result = await importStream(unevenChunks(bytes), { put: async () => {} }, { maxSize: Infinity, hashPool: own })
      assert.equal(result.md5, createHash('md5').update(bytes).digest('hex'))
    } finally {
      await own.close()
    }
  })
})
