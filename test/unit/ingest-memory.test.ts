// What an upload holds while its client is slow, and what comes back once it
// ends (issue 19, finding 8: 300 stalled uploads of 1.5 MB took the daemon
// from 187 to 708 MB, and it stayed there).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { setTimeout as sleep } from 'node:timers/promises'
import { CHUNK_SIZE } from '../../protocol/cid-profile.ts'
import { HashPool } from '../../node/ingest/hash-pool.ts'
import { importStream } from '../../node/ingest/import-stream.ts'
import { MiB, seededBytes } from '../helpers/bytes.ts'

/** A source that sends `bytes` in socket-sized pieces, then waits (until `go`) and ends or fails. */
function stallingSource (bytes: Buffer): { source: AsyncIterable<Uint8Array>, go: (fail?: Error) => void } {
  let go: (fail?: Error) => void = () => {}
  const resumed = new Promise<Error | undefined>((resolve) => { go = resolve })
  const source = (async function * () {
    for (let offset = 0; offset < bytes.length; offset += 64 * 1024) yield bytes.subarray(offset, offset + 64 * 1024)
    const failure = await resumed
    if (failure !== undefined) throw failure
  })()
  return { source, go }
}

/** The pool's idle slots once writes and hash threads are done with theirs (unchanged for 100 ms). */
async function settled (pool: HashPool): Promise<number> {
  let last = -1
  for (let stable = 0; stable < 10; await sleep(10)) {
    stable = pool.idleSlots === last ? stable + 1 : 0
    last = pool.idleSlots
  }
  return last
}

describe('ingest: memory of slow uploads', () => {
  it('a stalled upload holds only the chunk it is filling, and gives it back when it fails', async () => {
    const pool = new HashPool({ slotSize: CHUNK_SIZE })
    try {
      // slots to spare on the free list
      await importStream((async function * () { yield seededBytes(6 * MiB, 'warm') })(), { put: async () => {} }, { maxSize: Infinity, hashPool: pool })
      const idle = await settled(pool)
      assert.ok(idle >= 3, `${idle} idle slots`)

      // a chunk and a half, then nothing: the full chunk is written and hashed, half a chunk waits
      const { source, go } = stallingSource(seededBytes(MiB + MiB / 2, 'stalled'))
      const upload = importStream(source, { put: async () => {} }, { maxSize: Infinity, hashPool: pool })
      upload.catch(() => {})
      assert.equal(await settled(pool), idle - 1, 'one slot held while the client stalls, not the first chunk as well')

      go(new Error('the client went away'))
      await assert.rejects(upload, /the client went away/)
      assert.equal(await settled(pool), idle, 'the slot being filled went back to the pool')
    } finally {
      await pool.close()
    }
  })

  it('gives the memory of a burst of uploads back to the system once they end', async () => {
    // a daemon has freed large buffers before: glibc then keeps 1 MiB blocks in its heap, which
    // it does not give back, unless they are mapped on their own
    Buffer.alloc(8 * MiB).fill(1)
    const pool = new HashPool({ slotSize: CHUNK_SIZE })
    try {
      const before = process.memoryUsage().rss
      const slots = Array.from({ length: 200 }, () => pool.acquire().fill(7))
      const held = process.memoryUsage().rss
      assert.ok(held - before > 150 * MiB, `200 slots in use: ${Math.round((held - before) / MiB)} MiB`)
      for (const slot of slots) pool.release(slot)
      slots.length = 0
      let rss = held
      for (let i = 0; i < 60 && rss - before > 64 * MiB; i++) {
        await sleep(100)
        rss = process.memoryUsage().rss
      }
      assert.ok(rss - before < 64 * MiB, `${Math.round((rss - before) / MiB)} MiB still held after the slots were let go (${Math.round((held - before) / MiB)} while held)`)
    } finally {
      await pool.close()
    }
  })
})
