/**
 * `Expect: 100-continue` on the public listener. Node answers 100 Continue
 * by itself unless the server listens for `checkContinue`; fdn listens so
 * that an add by hash of a blob the node already has is acknowledged
 * without the client sending its body. Every other request gets its 100
 * Continue at once, as before.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http'

const DEFERRED = new WeakSet<IncomingMessage>()

/** Routes `checkContinue` requests to the server's request handler, deferring 100 Continue for those `defer` selects. */
export function handleExpectContinue (server: Server, defer: (req: IncomingMessage) => boolean): void {
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (defer(req)) DEFERRED.add(req)
    else res.writeContinue()
    server.emit('request', req, res)
  })
}

/** Whether the client waits for 100 Continue before it sends the body. */
export function awaitsContinue (req: IncomingMessage): boolean {
  return DEFERRED.has(req)
}

/** Tells a waiting client to send its body (once). */
export function sendContinue (req: IncomingMessage, res: ServerResponse): void {
  if (!DEFERRED.delete(req)) return
  res.writeContinue()
}
