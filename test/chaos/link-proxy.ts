/**
 * A TCP proxy between swarm peers. Every node listens on a private port and
 * announces (FDN_SWARM_ANNOUNCE) a proxy port instead, so every swarm
 * connection between two nodes runs through here, where a link (a pair of
 * nodes) can be cut: `drop` swallows its bytes (a black hole: the peers only
 * notice by timeouts, and its connections are reset when the fault ends, as
 * a NAT that lost them would), `delay` holds every chunk back, `reset`
 * resets its connections and every new one for the fault's duration.
 *
 * Which node dialled a connection is read from /proc (sockets.ts): all come
 * from 127.0.0.1.
 */
import { connect, createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { clientProcess } from './sockets.ts'

export type LinkFault = { kind: 'drop' } | { kind: 'delay', ms: number } | { kind: 'reset' }

export interface ProxyStats {
  /** Connections accepted, and how many of them came from a known node. */
  connections: number
  identified: number
  /** Bytes that went through (both directions), and bytes swallowed by drops. */
  bytes: number
  droppedBytes: number
  /** Connections reset by faults. */
  resets: number
}

/** Which node (index) a process is, by pid; -1 for any other process (an extra node). */
export type OwnerLookup = () => ReadonlyMap<number, number>

const pairKey = (a: number, b: number): string => a < b ? `${a}-${b}` : `${b}-${a}`

/** One direction of a link: FIFO, each chunk released at its time, with backpressure. */
class Pipe {
  private readonly queue: Array<{ at: number, chunk: Buffer }> = []
  private timer: NodeJS.Timeout | undefined
  private ending = false
  private readonly from: Socket
  private readonly to: Socket

  constructor (from: Socket, to: Socket) {
    this.from = from
    this.to = to
  }

  push (chunk: Buffer, delayMs: number): void {
    this.queue.push({ at: Date.now() + delayMs, chunk })
    this.flush()
  }

  end (): void {
    this.ending = true
    this.flush()
  }

  stop (): void {
    clearTimeout(this.timer)
    this.queue.length = 0
  }

  private flush (): void {
    clearTimeout(this.timer)
    this.timer = undefined
    while (this.queue.length > 0) {
      const head = this.queue[0]!
      const wait = head.at - Date.now()
      if (wait > 0) {
        this.timer = setTimeout(() => { this.flush() }, wait)
        return
      }
      this.queue.shift()
      if (this.to.destroyed) return
      if (!this.to.write(head.chunk)) {
        this.from.pause()
        this.to.once('drain', () => { this.from.resume() })
      }
    }
    if (this.ending && !this.to.destroyed) this.to.end()
  }
}

class Link {
  /** The two nodes it joins, once the dialer is known. */
  pair: string | undefined
  readonly target: number
  readonly listenPort: number
  readonly client: Socket
  upstream: Socket | undefined
  /** Bytes were swallowed: the streams inside are broken, the link must go when the drop ends. */
  broken = false
  private readonly pipes: Pipe[] = []

  constructor (target: number, listenPort: number, client: Socket) {
    this.target = target
    this.listenPort = listenPort
    this.client = client
  }

  wire (upstream: Socket, fault: (link: Link) => LinkFault | undefined, stats: ProxyStats, onClose: () => void): void {
    this.upstream = upstream
    const forward = (from: Socket, to: Socket): void => {
      const pipe = new Pipe(from, to)
      this.pipes.push(pipe)
      from.on('data', (chunk: Buffer) => {
        const current = fault(this)
        if (current?.kind === 'drop' || current?.kind === 'reset') {
          this.broken = true
          stats.droppedBytes += chunk.length
          return
        }
        stats.bytes += chunk.length
        pipe.push(chunk, current?.kind === 'delay' ? current.ms : 0)
      })
      from.on('end', () => { pipe.end() })
    }
    forward(this.client, upstream)
    forward(upstream, this.client)
    for (const socket of [this.client, upstream]) {
      socket.on('error', () => { this.destroy() })
      socket.on('close', () => { this.destroy(); onClose() })
    }
  }

  /** Swallows what the dialer sends: a connection into a black hole. */
  blackhole (stats: ProxyStats, onClose: () => void): void {
    this.broken = true
    this.client.on('data', (chunk: Buffer) => { stats.droppedBytes += chunk.length })
    this.client.on('error', () => { this.destroy() })
    this.client.on('close', onClose)
  }

  reset (): void {
    for (const pipe of this.pipes) pipe.stop()
    for (const socket of [this.client, this.upstream]) if (socket != null && !socket.destroyed) socket.resetAndDestroy()
  }

  destroy (): void {
    for (const pipe of this.pipes) pipe.stop()
    this.client.destroy()
    this.upstream?.destroy()
  }
}

export class LinkProxy {
  readonly stats: ProxyStats = { connections: 0, identified: 0, bytes: 0, droppedBytes: 0, resets: 0 }
  private readonly owners: OwnerLookup
  private readonly servers: Server[] = []
  private readonly targets = new Map<number, number>()
  private readonly faults = new Map<string, LinkFault>()
  private readonly links = new Set<Link>()

  constructor (owners: OwnerLookup) {
    this.owners = owners
  }

  /** Starts forwarding `listenPort` (what node `node` announces) to `targetPort` (where it listens). */
  async listen (node: number, listenPort: number, targetPort: number): Promise<void> {
    this.targets.set(node, targetPort)
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
      this.accept(node, listenPort, client).catch(() => { client.destroy() })
    })
    server.on('error', () => {})
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(listenPort, '127.0.0.1', () => { server.off('error', reject); resolve() })
    })
    this.servers.push(server)
  }

  /** Sets (or with undefined, lifts) the fault of the link between two nodes. */
  async setFault (a: number, b: number, fault: LinkFault | undefined): Promise<void> {
    const key = pairKey(a, b)
    await this.identifyAll()
    if (fault == null) {
      this.faults.delete(key)
      // connections that lost bytes in a drop are dead: reset them now that the link is back
      for (const link of this.links) {
        if (link.pair === key && link.broken) { link.reset(); this.links.delete(link); this.stats.resets++ }
      }
      return
    }
    this.faults.set(key, fault)
    if (fault.kind === 'reset') {
      for (const link of this.links) {
        if (link.pair === key) { link.reset(); this.links.delete(link); this.stats.resets++ }
      }
    }
  }

  async clearFaults (): Promise<void> {
    for (const key of [...this.faults.keys()]) {
      const [a, b] = key.split('-').map(Number)
      await this.setFault(a!, b!, undefined)
    }
  }

  /**
   * Names the dialer of links not known yet: a node dials its bootstrap
   * peers while it starts, before the run knows its pid.
   */
  private async identifyAll (): Promise<void> {
    await Promise.all([...this.links].filter(link => link.pair == null).map(async (link) => { await this.identify(link) }))
  }

  private async identify (link: Link): Promise<void> {
    const owners = this.owners()
    const pid = await clientProcess(link.client.remotePort ?? 0, link.listenPort, [...owners.keys()])
    const dialer = pid != null ? owners.get(pid) : undefined
    if (dialer != null && dialer >= 0 && link.pair == null) {
      link.pair = pairKey(dialer, link.target)
      this.stats.identified++
    }
  }

  async close (): Promise<void> {
    for (const link of this.links) link.destroy()
    this.links.clear()
    await Promise.all(this.servers.map(async server => await new Promise<void>(resolve => server.close(() => { resolve() }))))
  }

  private async accept (target: number, listenPort: number, client: Socket): Promise<void> {
    this.stats.connections++
    const link = new Link(target, listenPort, client)
    this.links.add(link)
    await this.identify(link)
    const fault = (of: Link): LinkFault | undefined => of.pair != null ? this.faults.get(of.pair) : undefined
    const now = fault(link)
    if (now?.kind === 'reset') {
      this.links.delete(link)
      this.stats.resets++
      client.resetAndDestroy()
      return
    }
    if (now?.kind === 'drop') {
      link.blackhole(this.stats, () => { this.links.delete(link) })
      client.resume()
      return
    }
    const upstream = connect({ port: this.targets.get(target) ?? 0, host: '127.0.0.1', allowHalfOpen: true })
    link.wire(upstream, fault, this.stats, () => { this.links.delete(link) })
    client.resume()
  }
}
