import v8 from 'node:v8'
import { runInNewContext } from 'node:vm'

type GcFunction = (options: { type: 'minor' | 'major', execution: 'sync' | 'async' }) => void

let minorGc: (() => void) | null | undefined

/**
 * V8's young-generation collection, or nothing where it cannot be had.
 *
 * Why: Node's HTTP parser copies every piece of a request body (≤ 64 KiB)
 * into a Buffer of its own, so an upload of 1 GiB makes 1 GiB of short-lived
 * external memory. V8 only counts that against a 64 MiB allowance that a
 * full mark-compact resets, and our JS allocates too little to trigger
 * young collections by itself: left alone, the daemon runs a full GC of its
 * whole heap every ~32 MiB received (about 2 s of CPU per GiB, main thread
 * and GC threads together) and keeps up to 64 MiB of dead buffers. A young
 * collection every few MiB frees them for well under a millisecond each.
 * The `gc` function is taken from a fresh context with `--expose-gc` set for
 * that moment only, so the global `gc` stays undefined.
 */
function youngGc (): (() => void) | null {
  if (minorGc !== undefined) return minorGc
  minorGc = null
  try {
    if (typeof (globalThis as { gc?: unknown }).gc === 'function') {
      const gc = (globalThis as unknown as { gc: GcFunction }).gc
      minorGc = () => { gc({ type: 'minor', execution: 'sync' }) }
      return minorGc
    }
    v8.setFlagsFromString('--expose-gc')
    try {
      const gc: unknown = runInNewContext('typeof gc === "function" ? gc : undefined')
      if (typeof gc === 'function') minorGc = () => { (gc as GcFunction)({ type: 'minor', execution: 'sync' }) }
    } finally {
      v8.setFlagsFromString('--no-expose-gc')
    }
  } catch {
    minorGc = null
  }
  return minorGc
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
  youngGc()?.()
}
