// One thread of the hash pool: keeps a running hash per job, acknowledges each
// update once it no longer reads the bytes, and answers digests.

export type HashRequest =
  | { type: 'update', job: number, algorithm: 'md5' | 'sha256', bytes: Uint8Array }
  | { type: 'digest', job: number, algorithm: 'md5' | 'sha256' }
  | { type: 'drop', job: number }

export type HashReply =
  | { type: 'ack', job: number }
  | { type: 'digest', job: number, hex: string }
  | { type: 'dropped', job: number }
  | { type: 'error', job: number, message: string }

/**
 * The thread's code, plain JavaScript run with `eval: true`: a worker that
 * loads a .ts module pays ~10 MiB of RSS for Node's type stripper, and this
 * loop has no types worth checking (its messages are the types above).
 */
export const HASH_WORKER_SOURCE = `
'use strict'
const { createHash } = require('node:crypto')
const { parentPort } = require('node:worker_threads')
const hashes = new Map()
parentPort.on('message', (message) => {
  let reply
  try {
    if (message.type === 'update') {
      let hash = hashes.get(message.job)
      if (hash === undefined) {
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
      reply = { type: 'dropped', job: message.job }
    }
  } catch (err) {
    reply = { type: 'error', job: message.job, message: String(err && err.message) }
  }
  parentPort.postMessage(reply)
})
`
