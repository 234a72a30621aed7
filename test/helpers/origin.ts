/**
 * A real origin web server on loopback, standing in for the instance that
 * posted an attachment: it serves the files it is given and counts, per
 * path, the requests it answered and the bytes it sent (status line, headers
 * and body, as they left the socket).
 */
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

/** What a path answers: a file, or a handler for hostile behaviour (a body that never ends, a lying length…). */
export type OriginRoute =
  | { body: Uint8Array, contentType?: string, headers?: Record<string, string> }
  | { handle: (req: IncomingMessage, res: ServerResponse) => void }

export interface OriginStats {
  /** Requests answered, per path (query included). */
  readonly hits: Map<string, number>
  /** Bytes written to sockets, all paths, open connections included. */
  readonly bytesSent: number
}

export interface Origin {
  /** `http://127.0.0.1:<port>` */
  url: string
  port: number
  /** Adds or replaces what a path (e.g. `/media/a.png`) answers. */
  route: (path: string, route: OriginRoute) => void
  hits: (path: string) => number
  stats: OriginStats
  close: () => Promise<void>
}

export async function startOrigin (routes: Record<string, OriginRoute> = {}): Promise<Origin> {
  const table = new Map(Object.entries(routes))
  const sockets = new Set<Socket>()
  let closedBytes = 0
  const stats: OriginStats = {
    hits: new Map(),
    get bytesSent () { return closedBytes + [...sockets].reduce((sum, socket) => sum + socket.bytesWritten, 0) }
  }
  const server: Server = createServer((req, res) => {
    const path = req.url ?? '/'
    stats.hits.set(path, (stats.hits.get(path) ?? 0) + 1)
    const route = table.get(path)
    if (route == null) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found')
      return
    }
    if ('handle' in route) {
      route.handle(req, res)
      return
    }
    res.writeHead(200, { 'content-type': route.contentType ?? 'application/octet-stream', 'content-length': String(route.body.length), ...route.headers })
    res.end(req.method === 'HEAD' ? undefined : route.body)
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => { closedBytes += socket.bytesWritten; sockets.delete(socket) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    route: (path, route) => { table.set(path, route) },
    hits: (path) => stats.hits.get(path) ?? 0,
    stats,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}

/** Routes serving media files by path, typed by their extension (.png image/png, anything else image/jpeg). */
export function mediaRoutes (files: Record<string, Uint8Array>): Record<string, OriginRoute> {
  return Object.fromEntries(Object.entries(files).map(([path, body]) => [path, { body, contentType: path.endsWith('.png') ? 'image/png' : 'image/jpeg' }]))
}
