import { createServer } from 'node:http'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'

/** A tiny ActivityPub origin on loopback: serves JSON documents by path (404 otherwise) and logs every request's path. */
export class DocumentServer {
  readonly documents = new Map<string, unknown>()
  /** Paths requested, in order. */
  readonly hits: string[] = []
  private readonly server: Server
  base = ''

  constructor () {
    this.server = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname
      this.hits.push(path)
      const document = this.documents.get(path)
      if (document === undefined) {
        res.writeHead(404).end()
        return
      }
      res.writeHead(200, { 'content-type': 'application/activity+json' }).end(JSON.stringify(document))
    })
  }

  async start (): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.base = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
  }

  async stop (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise((resolve) => this.server.close(resolve))
  }

  hitsOf (path: string): number {
    return this.hits.filter(hit => hit === path).length
  }
}
