/**
 * The chaos swarm: N real `fdn` daemons on loopback that trust each other,
 * each reached by its peers only through the link proxy (it listens on a
 * private port and announces the proxy's), one of them with its data
 * directory on a small tmpfs so its disk can be filled. Nodes keep their
 * ports and data directory across kills, so a restart is the same node.
 * A node that exits when the run did not ask it to is recorded as a crash
 * and started again, as a supervisor would.
 */
import { execFile } from 'node:child_process'
import { appendFile, mkdir, open, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { runCli, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import type { StatusResponse } from '../../protocol/admin-api.ts'
import { Cleanup, killDaemonsUnder, unmount } from './cleanup.ts'
import { LinkProxy } from './link-proxy.ts'
import { directConnections } from './sockets.ts'

const exec = promisify(execFile)
const MiB = 1024 * 1024
/** A loaded machine (two cores, several daemons, other test runs) can take a while to start a node. */
const READY_TIMEOUT_MS = 90_000

export interface NodePorts {
  http: number
  admin: number
  /** Where the daemon listens for the swarm (only the proxy dials it). */
  swarm: number
  /** What the daemon announces: the proxy in front of it. */
  proxy: number
}

export type NodeState = 'up' | 'down' | 'paused'

export interface ChaosNode {
  index: number
  peerId: string
  dataDir: string
  ports: NodePorts
  http: string
  admin: string
  token: string
  env: Record<string, string>
  state: NodeState
  daemon: RunningDaemon | undefined
  /** The mount point of its tmpfs, when its data directory is on one. */
  tmpfs: string | undefined
}

export interface CrashEvent {
  node: number
  at: string
  code: number | null
  signal: string | null
  /** The daemon's last output lines. */
  output: string
}

export interface ClusterOptions {
  nodes: number
  runDir: string
  /** The node whose data directory is a tmpfs of `tmpfsBytes`. */
  tmpfsNode: number
  tmpfsBytes: number
  /** Settings every node gets (FDN_FETCH_PORTS…). */
  env: Record<string, string>
  cleanup: Cleanup
  log: (line: string) => void
}

/** Ports below Linux's ephemeral range (32768+), so no outgoing connection takes one while its node is down. */
async function freePort (taken: Set<number>): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000)
    if (taken.has(port)) continue
    const free = await new Promise<boolean>((resolve) => {
      const server = createServer()
      server.once('error', () => { resolve(false) })
      server.listen(port, '127.0.0.1', () => { server.close(() => { resolve(true) }) })
    })
    if (free) {
      taken.add(port)
      return port
    }
  }
  throw new Error('no free port between 20000 and 32000')
}

const tail = (text: string, lines = 30): string => text.trimEnd().split('\n').slice(-lines).join('\n')

export class Cluster {
  readonly nodes: ChaosNode[]
  readonly proxy: LinkProxy
  readonly crashes: CrashEvent[] = []
  /** Most direct (unproxied) connections between nodes seen at one sample. */
  directSeen = 0
  private readonly options: ClusterOptions
  private readonly taken = new Set<number>()
  private readonly expectedExit = new Set<ChildProcessLike>()
  private readonly restarting = new Set<number>()
  private readonly starting = new Map<number, Promise<void>>()
  private extra: RunningDaemon | undefined
  private stopping = false

  private constructor (options: ClusterOptions, nodes: ChaosNode[]) {
    this.options = options
    this.nodes = nodes
    this.proxy = new LinkProxy(() => this.owners())
  }

  static async start (options: ClusterOptions): Promise<Cluster> {
    const taken = new Set<number>()
    const nodes: ChaosNode[] = []
    for (let index = 0; index < options.nodes; index++) {
      let dataDir = path.join(options.runDir, `node-${index}`)
      let tmpfs: string | undefined
      if (index === options.tmpfsNode) {
        tmpfs = path.join(options.runDir, `tmpfs-${index}`)
        await mkdir(tmpfs)
        await exec('mount', ['-t', 'tmpfs', '-o', `size=${Math.ceil(options.tmpfsBytes / MiB)}m,mode=0700`, 'tmpfs', tmpfs])
        const mounted = tmpfs
        options.cleanup.add(`unmount ${mounted}`, async () => { await unmount(mounted) })
        dataDir = path.join(tmpfs, 'data')
      }
      await mkdir(dataDir, { recursive: true })
      const init = await runCli(['init', '--json'], { FDN_DATA: dataDir })
      if (init.code !== 0) throw new Error(`fdn init: ${init.stderr}`)
      const peerId = (JSON.parse(init.stdout) as { peerId: string }).peerId
      const ports = { http: await freePort(taken), admin: await freePort(taken), swarm: await freePort(taken), proxy: await freePort(taken) }
      nodes.push({
        index,
        peerId,
        dataDir,
        ports,
        http: `http://127.0.0.1:${ports.http}`,
        admin: `http://127.0.0.1:${ports.admin}`,
        token: '',
        env: {},
        state: 'down',
        daemon: undefined,
        tmpfs
      })
    }
    const cluster = new Cluster(options, nodes)
    for (const port of taken) cluster.taken.add(port)
    options.cleanup.add('stop the daemons', async () => { await cluster.stopAll() })
    options.cleanup.add('close the link proxy', async () => { await cluster.proxy.close() })
    const trusted = nodes.map(node => node.peerId).join(',')
    for (const node of nodes) {
      await cluster.proxy.listen(node.index, node.ports.proxy, node.ports.swarm)
      node.env = {
        ...options.env,
        FDN_HTTP_LISTEN: `127.0.0.1:${node.ports.http}`,
        FDN_ADMIN_LISTEN: `127.0.0.1:${node.ports.admin}`,
        FDN_SWARM_LISTEN: `/ip4/127.0.0.1/tcp/${node.ports.swarm}`,
        FDN_SWARM_ANNOUNCE: `/ip4/127.0.0.1/tcp/${node.ports.proxy}`,
        FDN_BOOTSTRAP: cluster.proxyAddresses(node.index).join(','),
        FDN_TRUSTED_PEERS: trusted
      }
    }
    // one at a time: starting several at once on two cores makes each slower than all in a row
    for (const node of nodes) await cluster.launch(node)
    return cluster
  }

  /** The proxy addresses of every node but `except`, as bootstrap multiaddrs. */
  proxyAddresses (except?: number): string[] {
    return this.nodes.filter(node => node.index !== except).map(node => `/ip4/127.0.0.1/tcp/${node.ports.proxy}/p2p/${node.peerId}`)
  }

  /** Current daemon pids and the node each is (-1: the extra untrusted node). */
  owners (): Map<number, number> {
    const owners = new Map<number, number>()
    for (const node of this.nodes) if (node.daemon?.process.pid != null) owners.set(node.daemon.process.pid, node.index)
    if (this.extra?.process.pid != null) owners.set(this.extra.process.pid, -1)
    return owners
  }

  up (): ChaosNode[] {
    return this.nodes.filter(node => node.state === 'up')
  }

  /** SIGKILL. */
  async kill (index: number): Promise<void> {
    const node = this.nodes[index]!
    const daemon = node.daemon
    if (daemon == null) return
    this.expectedExit.add(daemon.process)
    if (node.state === 'paused') daemon.process.kill('SIGCONT')
    node.state = 'down'
    await daemon.kill()
    node.daemon = undefined
  }

  /** Starts a node that is down again, on its data directory and ports (joins a start under way). */
  async restart (index: number): Promise<void> {
    const node = this.nodes[index]!
    if (node.daemon != null) return
    let starting = this.starting.get(index)
    if (starting == null) {
      starting = this.launch(node).finally(() => { this.starting.delete(index) })
      this.starting.set(index, starting)
    }
    await starting
  }

  pause (index: number): void {
    const node = this.nodes[index]!
    if (node.state !== 'up' || node.daemon == null) return
    node.daemon.process.kill('SIGSTOP')
    node.state = 'paused'
  }

  resume (index: number): void {
    const node = this.nodes[index]!
    if (node.state !== 'paused' || node.daemon == null) return
    node.daemon.process.kill('SIGCONT')
    node.state = 'up'
  }

  /** Fills the tmpfs node's disk with a file until the disk refuses; returns the bytes written. */
  async fillDisk (): Promise<number> {
    const mount = this.nodes[this.options.tmpfsNode]?.tmpfs
    if (mount == null) throw new Error('no node is on a tmpfs')
    const file = await open(path.join(mount, 'filler'), 'a')
    const chunk = Buffer.alloc(4 * MiB, 0xaa)
    let written = 0
    try {
      // bounded by the mount's size; ENOSPC ends it
      for (let i = 0; i < this.options.tmpfsBytes / chunk.length + 2; i++) {
        written += (await file.write(chunk)).bytesWritten
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err
      // the last partial page: fill it to the byte
      for (let size = chunk.length / 2; size >= 512; size /= 2) {
        try { written += (await file.write(chunk.subarray(0, size))).bytesWritten } catch {}
      }
    } finally {
      await file.close()
    }
    return written
  }

  async freeDisk (): Promise<void> {
    const mount = this.nodes[this.options.tmpfsNode]?.tmpfs
    if (mount != null) await rm(path.join(mount, 'filler'), { force: true })
  }

  /** Samples the connections that bypass the proxy (node to node, straight to a swarm port): there should be none. */
  async sampleDirect (): Promise<number> {
    const pids = this.nodes.flatMap(node => node.daemon?.process.pid ?? [])
    const direct = await directConnections(new Set(this.nodes.map(node => node.ports.swarm)), pids)
    this.directSeen = Math.max(this.directSeen, direct)
    return direct
  }

  /**
   * An extra node that trusts no one and no one trusts, bootstrapped
   * through the proxies: a stranger in the swarm.
   */
  async startExtraNode (env: Record<string, string>): Promise<RunningDaemon> {
    const dataDir = path.join(this.options.runDir, 'stranger')
    await mkdir(dataDir, { recursive: true })
    this.extra = await startDaemon({
      dataDir,
      env: { ...this.options.env, FDN_BOOTSTRAP: this.proxyAddresses().join(','), FDN_TRUSTED_PEERS: '', ...env },
      readyTimeoutMs: READY_TIMEOUT_MS
    })
    this.expectedExit.add(this.extra.process)
    return this.extra
  }

  async stopAll (): Promise<void> {
    this.stopping = true
    const daemons = [...this.nodes.map(node => node.daemon), this.extra].filter(daemon => daemon != null)
    for (const node of this.nodes) if (node.state === 'paused') node.daemon?.process.kill('SIGCONT')
    await Promise.all(daemons.map(async (daemon) => {
      this.expectedExit.add(daemon.process)
      const killer = setTimeout(() => { daemon.process.kill('SIGKILL') }, 15_000)
      await daemon.stop()
      clearTimeout(killer)
    }))
    for (const node of this.nodes) { node.daemon = undefined; node.state = 'down' }
    this.extra = undefined
    // a start still under way when the run ended is not known by pid
    await killDaemonsUnder(this.options.runDir)
  }

  /** The admin API of a node, bounded in time. */
  async admin (index: number, route: string, init: RequestInit & { timeoutMs?: number } = {}): Promise<Response> {
    const node = this.nodes[index]!
    return await fetch(`${node.admin}${route}`, {
      ...init,
      headers: { authorization: `Bearer ${node.token}`, ...(init.headers as Record<string, string> | undefined) },
      signal: AbortSignal.timeout(init.timeoutMs ?? 15_000)
    })
  }

  async status (index: number): Promise<StatusResponse> {
    const response = await this.admin(index, '/admin/v1/status')
    if (!response.ok) throw new Error(`status of node ${index}: ${response.status}`)
    return await response.json() as StatusResponse
  }

  private async launch (node: ChaosNode): Promise<void> {
    if (this.stopping) return
    let lastError: Error | undefined
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const daemon = await startDaemon({ dataDir: node.dataDir, env: node.env, readyTimeoutMs: READY_TIMEOUT_MS })
        if (this.stopping) {
          // the run is being torn down: this start came too late
          this.expectedExit.add(daemon.process)
          await daemon.kill()
          return
        }
        node.daemon = daemon
        node.token = daemon.token
        node.state = 'up'
        daemon.process.once('exit', (code, signal) => { this.exited(node, daemon, code, signal) })
        // each run of the node appends its output to node-N.log in the run directory (kept with --keep)
        daemon.process.once('close', () => {
          appendFile(path.join(this.options.runDir, `node-${node.index}.log`), `--- pid ${daemon.process.pid}\n${daemon.output()}`).catch(() => {})
        })
        return
      } catch (err) {
        lastError = err as Error
        this.options.log(`node ${node.index} did not start (attempt ${attempt + 1}): ${tail(lastError.message, 5)}`)
        await sleep(2000)
      }
    }
    this.crashes.push({ node: node.index, at: new Date().toISOString(), code: null, signal: null, output: `could not start again: ${tail(lastError?.message ?? '')}` })
  }

  private exited (node: ChaosNode, daemon: RunningDaemon, code: number | null, signal: string | null): void {
    if (this.expectedExit.has(daemon.process) || this.stopping) return
    this.crashes.push({ node: node.index, at: new Date().toISOString(), code, signal, output: tail(daemon.output()) })
    this.options.log(`node ${node.index} exited by itself (code ${code}, signal ${signal}): starting it again`)
    if (node.daemon === daemon) {
      node.daemon = undefined
      node.state = 'down'
    }
    if (this.restarting.has(node.index)) return
    this.restarting.add(node.index)
    void sleep(1000).then(async () => { await this.restart(node.index) }).finally(() => { this.restarting.delete(node.index) })
  }

  /**
   * Warnings and errors every node logged so far (earlier runs of each from
   * its log file, the running one from memory), counted by message.
   */
  async logSummary (): Promise<{ errors: Record<string, number>, warnings: Record<string, number> }> {
    const summary = { errors: {} as Record<string, number>, warnings: {} as Record<string, number> }
    for (const node of this.nodes) {
      const earlier = await readFile(path.join(this.options.runDir, `node-${node.index}.log`), 'utf8').catch(() => '')
      for (const line of `${earlier}\n${node.daemon?.output() ?? ''}`.split('\n')) {
        if (!line.startsWith('{')) continue
        let entry: { level?: number, msg?: string }
        try { entry = JSON.parse(line) as { level?: number, msg?: string } } catch { continue }
        const bucket = (entry.level ?? 0) >= 50 ? summary.errors : (entry.level ?? 0) >= 40 ? summary.warnings : undefined
        if (bucket == null) continue
        const message = `node ${node.index}: ${(entry.msg ?? '').slice(0, 120)}`
        bucket[message] = (bucket[message] ?? 0) + 1
      }
    }
    return summary
  }
}

type ChildProcessLike = RunningDaemon['process']
