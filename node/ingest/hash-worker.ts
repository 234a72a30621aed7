import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { parentPort } from 'node:worker_threads'
import type { HashRequest, HashReply } from './hash-pool.ts'

// One thread of the hash pool: keeps a running hash per job and answers digests.
const hashes = new Map<number, Hash>()
const port = parentPort
if (port == null) throw new Error('hash-worker.ts runs as a worker thread')

port.on('message', (message: HashRequest) => {
  let reply: HashReply
  try {
    if (message.type === 'update') {
      let hash = hashes.get(message.job)
      if (hash == null) {
        hash = createHash(message.algorithm)
        hashes.set(message.job, hash)
      }
      hash.update(message.bytes)
      reply = { type: 'ack', job: message.job }
    } else if (message.type === 'digest') {
      const hash = hashes.get(message.job) ?? createHash(message.algorithm)
      hashes.delete(message.job)
      reply = { type: 'digest', job: message.job, hex: hash.digest('hex') }
    } else {
      hashes.delete(message.job)
      return
    }
  } catch (err) {
    reply = { type: 'error', job: message.job, message: (err as Error).message }
  }
  port.postMessage(reply)
})
