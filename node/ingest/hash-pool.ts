import { Worker } from 'node:worker_threads'
import { HASH_WORKER_SOURCE } from './hash-worker.ts'
import { droppedBytes } from './young-gc.ts'
import type { HashReply, HashRequest } from './hash-worker.ts'

export type HashAlgorithm = 'md5' | 'sha256'
export type { HashReply, HashRequest }

interface Job {
  acks: Array<{ resolve: () => void, reject: (err: Error) => void }>
  digest: { resolve: (hex: string) => void, reject: (err: Error) => void } | undefined
  /** Set when the job's thread failed: nothing more will come from it. */
  failed: Error | undefined
}

export interface HashPoolOptions {
  /** Size of a chunk slot: the profile's chunk size. */
  slotSize: number
  /** Whole-file hashes computed on a thread of their own, one thread per algorithm; the others run inline. */
  threaded?: HashAlgorithm[]
  /** Free slots kept for reuse; slots beyond are left to the garbage collector. */
  keepFree?: number
}

/**
 * The shared resources of large uploads: reusable chunk buffers in shared
 * memory, and worker threads for the whole-file hashes that would otherwise
 * hold up the main thread (MD5 runs at less than half the speed of SHA-256
 * with SHA-NI, so it gets a thread by default; the whole-file SHA-256 runs
 * inline beside the block hashes).
 *
 * A chunk is read into a slot once and then shared, never copied: the block
 * write and the hash thread read the same memory, and the slot goes back to
 * the free list when both are done (see `Lease`). Slots are made on demand —
 * a slow client's half-filled chunk never makes another upload wait — and
 * each upload holds a bounded number of them.
 */
export class HashPool {
  readonly slotSize: number
  private readonly threaded: ReadonlySet<HashAlgorithm>
  private readonly workers = new Map<HashAlgorithm, Worker>()
  private readonly jobs = new Map<number, Job>()
  private readonly free: SharedArrayBuffer[] = []
  private readonly keepFree: number
  private nextJob = 1

  constructor (options: HashPoolOptions) {
    this.slotSize = options.slotSize
    this.threaded = new Set(options.threaded ?? ['md5'])
    this.keepFree = options.keepFree ?? 16
  }

  /** Whether `algorithm` runs on a thread of the pool (else the caller hashes inline). */
  runs (algorithm: HashAlgorithm): boolean {
    return this.threaded.has(algorithm)
  }

  /** A running hash on the algorithm's thread. */
  stream (algorithm: HashAlgorithm): PooledHash {
    const id = this.nextJob++
    const job: Job = { acks: [], digest: undefined, failed: undefined }
    this.jobs.set(id, job)
    return new PooledHash(this.worker(algorithm), id, algorithm, job, () => this.jobs.delete(id))
  }

  /**
   * A chunk slot in shared memory, reused or new: never waits. New slots are
   * growable buffers only because V8 maps those from the system page by page
   * and unmaps them when collected: a plain one comes from malloc, whose heap,
   * once its threshold for mapping large blocks has risen, keeps the freed
   * memory of a burst of uploads (300 stalled ones left ~500 MB behind).
   */
  acquire (): Buffer {
    const buffer = this.free.pop() ?? new SharedArrayBuffer(this.slotSize, { maxByteLength: this.slotSize })
    return Buffer.from(buffer)
  }

  /** Slots on the free list (for tests and metrics). */
  get idleSlots (): number {
    return this.free.length
  }

  /** Hands a slot back (any view of it); nothing may read or write it afterwards. */
  release (slot: Uint8Array): void {
    const buffer = slot.buffer
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== this.slotSize) return
    if (this.free.length < this.keepFree) this.free.push(buffer)
    else droppedBytes(this.slotSize)
  }

  /** A lease on the slot under `chunk`, held once by the caller. */
  lease (chunk: Uint8Array): Lease {
    return new Lease(() => { this.release(chunk) })
  }

  async close (): Promise<void> {
    const workers = [...this.workers.values()]
    this.workers.clear()
    this.free.length = 0
    await Promise.all(workers.map(async worker => await worker.terminate()))
  }

  private worker (algorithm: HashAlgorithm): Worker {
    const running = this.workers.get(algorithm)
    if (running != null) return running
    // plain JavaScript: a thread that loads TypeScript pays ~10 MiB more for the type stripper
    const worker = new Worker(HASH_WORKER_SOURCE, { eval: true, name: `fdn ${algorithm}` })
    worker.unref()
    worker.on('message', (reply: HashReply) => { this.onReply(reply) })
    const lost = (err: Error): void => {
      if (this.workers.get(algorithm) === worker) this.workers.delete(algorithm)
      this.failAll(err)
    }
    worker.on('error', lost)
    worker.on('exit', (code) => { lost(new Error(`hash thread exited with code ${code}`)) })
    this.workers.set(algorithm, worker)
    return worker
  }

  private onReply (reply: HashReply): void {
    const job = this.jobs.get(reply.job)
    if (job == null) return
    if (reply.type === 'ack') {
      job.acks.shift()?.resolve()
    } else if (reply.type === 'digest') {
      job.digest?.resolve(reply.hex)
      this.jobs.delete(reply.job)
    } else if (reply.type === 'dropped') {
      // the thread answers in order: every update of the job was acknowledged before this
      for (const ack of job.acks.splice(0)) ack.resolve()
      this.jobs.delete(reply.job)
    } else {
      this.fail(job, new Error(`hash worker: ${reply.message}`))
    }
  }

  private failAll (err: Error): void {
    for (const job of this.jobs.values()) this.fail(job, err)
  }

  private fail (job: Job, err: Error): void {
    job.failed ??= err
    for (const ack of job.acks.splice(0)) ack.reject(err)
    job.digest?.reject(err)
    job.digest = undefined
  }
}

/** Counts the users of a chunk slot; the last release returns it to the pool. */
export class Lease {
  private holds = 1
  private readonly free: () => void

  constructor (free: () => void) {
    this.free = free
  }

  retain (): this {
    this.holds++
    return this
  }

  release (): void {
    if (--this.holds === 0) this.free()
  }
}

export class PooledHash {
  private readonly worker: Worker
  private readonly id: number
  private readonly algorithm: HashAlgorithm
  private readonly job: Job
  private readonly forget: () => void

  constructor (worker: Worker, id: number, algorithm: HashAlgorithm, job: Job, forget: () => void) {
    this.worker = worker
    this.id = id
    this.algorithm = algorithm
    this.job = job
    this.forget = forget
  }

  /** Hashes bytes (a shared slot: passed, not copied) on the thread; resolves once the thread is done with them. */
  async update (bytes: Uint8Array): Promise<void> {
    if (this.job.failed != null) throw this.job.failed
    await new Promise<void>((resolve, reject) => {
      this.job.acks.push({ resolve, reject })
      this.worker.postMessage({ type: 'update', job: this.id, algorithm: this.algorithm, bytes } satisfies HashRequest)
    })
  }

  async digest (): Promise<string> {
    try {
      if (this.job.failed != null) throw this.job.failed
      return await new Promise<string>((resolve, reject) => {
        this.job.digest = { resolve, reject }
        this.worker.postMessage({ type: 'digest', job: this.id, algorithm: this.algorithm } satisfies HashRequest)
      })
    } finally {
      this.forget()
    }
  }

  /** Abandons the hash (failed upload): the thread frees its state; pending updates still settle. */
  drop (): void {
    if (this.job.failed != null) this.forget()
    else this.worker.postMessage({ type: 'drop', job: this.id } satisfies HashRequest)
  }
}
