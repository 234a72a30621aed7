import { lpStream } from '@libp2p/utils'
import type { PeerId } from '@libp2p/interface'
import { encodeMessage, MAX_MESSAGE_BYTES } from '../../protocol/swarm-wire.ts'
import type { SwarmMessage } from '../../protocol/swarm-wire.ts'
import type { SwarmNode } from './swarm-node.ts'

/** One request, one answer, over a fresh stream of `protocol`. */
export async function ask<T> (node: SwarmNode, peer: PeerId, protocol: string, message: SwarmMessage, decode: (bytes: Uint8Array) => T, signal: AbortSignal): Promise<T> {
  const stream = await node.dialProtocol(peer, protocol, signal)
  try {
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
    await lp.write(encodeMessage(message), { signal })
    const answer = decode((await lp.read({ signal })).subarray())
    await stream.close({ signal }).catch(() => {})
    return answer
  } catch (err) {
    stream.abort(err as Error)
    throw err
  }
}

/**
 * Serves `protocol`: reads one request (bounded size, bounded time), answers
 * with what `handle` returns. `handle` decides from the authenticated peer ID
 * of the connection (Noise proves it) whether to do anything.
 */
export async function serve (node: SwarmNode, protocol: string, handle: (request: Uint8Array, peer: PeerId) => Promise<SwarmMessage>, options: { maxInboundStreams: number, readTimeoutMs: number }): Promise<void> {
  await node.handle(protocol, async (stream, connection) => {
    const lp = lpStream(stream, { maxDataLength: MAX_MESSAGE_BYTES })
    // the timeout bounds the read only: a signal left running would reset the stream while `handle` works
    const reading = new AbortController()
    const timer = setTimeout(() => { reading.abort(new Error(`no request within ${options.readTimeoutMs} ms`)) }, options.readTimeoutMs)
    let request: Uint8Array
    try {
      request = (await lp.read({ signal: reading.signal })).subarray()
    } finally {
      clearTimeout(timer)
    }
    const answer = await handle(request, connection.remotePeer)
    await lp.write(encodeMessage(answer))
    await stream.close().catch(() => {})
  }, options.maxInboundStreams)
}
