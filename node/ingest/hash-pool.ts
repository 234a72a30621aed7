import { Worker } from 'node:worker_threads'

export type HashAlgorithm = 'md5' | 'sha256'

export type HashRequest =
  | { type: 'update', job: number, algorithm: HashAlgorithm, bytes: Uint8Array }
  | { type: 'digest', job: number, algorithm: HashAlgorithm }
  | { type: 'drop', job: number }

export type HashReply =
  | { type: 'ack', job: number }
  | { type: 'digest', job: number, hex: string }
  | { type: 'error', job: number, message: string }

interface Job {
  acks: Array<{ resolve: () => void, reject: (err: Error) => void }>
  digest: { resolve: (hex: string) => void, reject: (err: Error) => void } | undefined
}

export interface HashPoolOptions {
  threads?: number
  /** Shared-memory chunk slots: bounds the bytes waiting to be hashed across all uploads. */
  slots?: number
  slotSize: number
}

/**
 * Worker threads that compute whole-file hashes of large uploads, so MD5 and
 * SHA-256 run beside the block hashing instead of after it (MD5 alone runs at
 * less than half the speed of SHA-256 with SHA-NI). Chunks reach the threads
 * through a fixed set of shared-memory slots: one copy, no per-chunk
 * allocation in the workers, and memory bounded by the slot count.
 */
export class HashPool {
  private readonly workers: Worker[] = []
  private readonly jobs = new Map<number, Job>()
  private readonly threads: number
  private readonly free: Uint8Array[] = []
  private readonly waiting: Array<(slot: Uint8Array) => void> = []
  private readonly slotSize: number
  private slotsLeft: number
  private nextJob = 1
  private nextWorker = 0

  constructor (options: HashPoolOptions) {
    this.threads = options.threads ?? 2
    this.slotsLeft = options.slots ?? 16
    this.slotSize = options.slotSize
  }

  /** A running hash on one of the pool's threads; consecutive streams land on different threads. */
  stream (algorithm: HashAlgorithm): PooledHash {
    const id = this.nextJob++
    const job: Job = { acks: [], digest: undefined }
    this.jobs.set(id, job)
    return new PooledHash(this.worker(), id, algorithm, job, () => this.jobs.delete(id))
  }

  /** A shared-memory slot for one chunk; waits while all are in use. */
  async acquire (): Promise<Uint8Array> {
    const slot = this.free.pop()
    if (slot != null) return slot
    if (this.slotsLeft > 0) {
      this.slotsLeft--
      return new Uint8Array(new SharedArrayBuffer(this.slotSize))
    }
    return await new Promise(resolve => { this.waiting.push(resolve) })
  }

  release (slot: Uint8Array): void {
    const next = this.waiting.shift()
    if (next != null) next(slot)
    else this.free.push(slot)
  }

  async close (): Promise<void> {
    await Promise.all(this.workers.map(async worker => await worker.terminate()))
    this.workers.length = 0
  }

  private worker (): Worker {
    if (this.workers.length < this.threads) {
      const worker = new Worker(new URL('./hash-worker.ts', import.meta.url))
      worker.unref()
      worker.on('message', (reply: HashReply) => { this.onReply(reply) })
      worker.on('error', (err) => { this.failAll(err) })
      this.workers.push(worker)
      return worker
    }
    const worker = this.workers[this.nextWorker++ % this.workers.length]
    if (worker == null) throw new Error('hash pool has no threads')
    return worker
  }

  private onReply (reply: HashReply): void {
    const job = this.jobs.get(reply.job)
    if (job == null) return
    if (reply.type === 'ack') {
      job.acks.shift()?.resolve()
    } else if (reply.type === 'digest') {
      job.digest?.resolve(reply.hex)
    } else {
      this.fail(job, new Error(`hash worker: ${reply.message}`))
    }
  }

  private failAll (err: Error): void {
    for (const job of this.jobs.values()) this.fail(job, err)
  }

  private fail (job: Job, err: Error): void {
    for (const ack of job.acks.splice(0)) ack.reject(err)
    job.digest?.reject(err)
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

  /** Hashes bytes of a shared slot on the thread; resolves once the thread is done with them. */
  async update (bytes: Uint8Array): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.job.acks.push({ resolve, reject })
      this.worker.postMessage({ type: 'update', job: this.id, algorithm: this.algorithm, bytes } satisfies HashRequest)
    })
  }

  async digest (): Promise<string> {
    try {
      return await new Promise<string>((resolve, reject) => {
        this.job.digest = { resolve, reject }
        this.worker.postMessage({ type: 'digest', job: this.id, algorithm: this.algorithm } satisfies HashRequest)
      })
    } finally {
      this.forget()
    }
  }

  /** Abandons the hash (failed upload): the thread frees its state. */
  drop (): void {
    this.worker.postMessage({ type: 'drop', job: this.id } satisfies HashRequest)
    this.forget()
  }
}
