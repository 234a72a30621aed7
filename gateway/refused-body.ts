/**
 * What becomes of the body of a request answered before it was read (an
 * upload refused from its headers: SlowDown, EntityTooLarge, a document over
 * its size, a bad signature).
 */
import type { IncomingMessage } from 'node:http'
import type { Socket } from 'node:net'
import { shortLivedBytes } from '../node/ingest/young-gc.ts'

/** How long a connection closed after such an answer goes on reading. */
const LINGER_MS = 2000

/**
 * Reads the rest of the body and drops it. The pieces count as short-lived
 * garbage (young-gc.ts): V8 would otherwise let those of a flood of refused
 * uploads pile up (40 of 1.5 MB each left 50 MB of them) until a full
 * collection.
 */
export function dropBody (raw: IncomingMessage): void {
  raw.on('data', (piece: Buffer) => { shortLivedBytes(piece.length) })
  raw.resume()
}

/**
 * A lingering close, as web servers do it. Node closes a `Connection: close`
 * socket as soon as the answer is written; if the client is still sending
 * the body, the unread bytes make the kernel reset the connection, and the
 * reset can reach the client before it has read the answer: a refused
 * upload would get ECONNRESET instead of its error. Here the node
 * half-closes after the answer instead, goes on dropping what comes (the
 * body must be flowing: `dropBody`), and lets go once the client closes or
 * after `LINGER_MS`.
 */
export function lingerOnClose (socket: Socket | null): void {
  if (socket == null) return
  // node's HTTP server ends a connection after its last answer with destroySoon()
  const closable = socket as Socket & { destroySoon?: () => void }
  closable.destroySoon = () => {
    socket.end()
    const timer = setTimeout(() => { socket.destroy() }, LINGER_MS)
    timer.unref()
    socket.once('close', () => { clearTimeout(timer) })
  }
}
