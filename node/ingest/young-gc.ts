import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'

type GcFunction = (options: { type: 'minor' | 'major', execution: 'sync' | 'async' }) => void

let gcFunction: GcFunction | null | undefined

/**
 * V8's `gc` function (for young-generation collections, and a full one after
 * a burst of uploads), or nothing where it cannot be had.
 *
 * Why young collections: Node's HTTP parser copies every piece of a request
 * body (≤ 64 KiB) into a Buffer of its own, so an upload of 1 GiB makes 1 GiB
 * of short-lived external memory. V8 only counts that against a 64 MiB allowance that a
 * full mark-compact resets, and our JS allocates too little to trigger
 * young collections by itself: left alone, the daemon runs a full GC of its
 * whole heap every ~32 MiB received (about 2 s of CPU per GiB, main thread
 * and GC threads together) and keeps up to 64 MiB of dead buffers. A young
 * collection every few MiB frees them for well under a millisecond each.
 * The `gc` function is taken from a fresh context with `--expose-gc` set for
 * that moment only, so the global `gc` stays undefined.
 */
function collector (): GcFunction | null {
  if (gcFunction !== undefined) return gcFunction
  gcFunction = null
  try {
    if (typeof (globalThis as { gc?: unknown }).gc === 'function') {
      gcFunction = (globalThis as unknown as { gc: GcFunction }).gc
      return gcFunction
    }
    v8.setFlagsFromString('--expose-gc')
    try {
      const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined')
      if (typeof gc === 'function') gcFunction = gc as GcFunction
    } finally {
      v8.setFlagsFromString('--no-expose-gc')
    }
  } catch {
    gcFunction = null
  }
  return gcFunction
}

/** Bytes of short-lived buffers between two young collections. */
const YOUNG_GC_EVERY = 8 * 1024 * 1024

let received = 0

/**
 * Counts bytes of short-lived buffers (request bodies, blocks read from disk
 * that the block cache does not keep) and runs a young collection every few
 * MiB, so they are freed young rather than by a full collection of the heap.
 */
export function shortLivedBytes (bytes: number): void {
  received += bytes
  if (received < YOUNG_GC_EVERY) return
  received = 0
  collector()?.({ type: 'minor', execution: 'sync' })
}

/** Bytes of large buffers dropped before a full collection is asked for. */
const FULL_GC_AFTER = 32 * 1024 * 1024
/** The collection waits this long after the last drop, so a burst ends first. */
const FULL_GC_DELAY_MS = 1000

let dropped = 0
let fullGc: NodeJS.Timeout | undefined

/**
 * Counts bytes of large, long-lived buffers let go (chunk slots the hash
 * pool does not keep): past 32 MiB, a full collection runs once the drops
 * stop. V8 only collects when the process allocates, so an idle node would
 * otherwise keep the memory of a burst of uploads (300 stalled ones that
 * were cut: 200 MB) for as long as it stays idle.
 */
export function droppedBytes (bytes: number): void {
  dropped += bytes
  if (dropped < FULL_GC_AFTER) return
  clearTimeout(fullGc)
  fullGc = setTimeout(() => {
    dropped = 0
    collector()?.({ type: 'major', execution: 'async' })
  }, FULL_GC_DELAY_MS)
  fullGc.unref()
}
