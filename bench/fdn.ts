// The system under test: a real `fdn start` process on loopback, as a user runs it.
import { execFile, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { AddResponse, DaemonRecord, StatusResponse } from '../protocol/admin-api.ts'
import { onCleanup, ROOT, within } from './proc.ts'

export const FDN_BIN = path.join(ROOT, 'bin', 'fdn.ts')

/** The log level every benchmarked daemon runs at (the default is info, one line per request). */
export const BENCH_LOG_LEVEL = 'warn'

export interface FdnDaemon {
  pid: number
  dataDir: string
  http: string
  admin: string
  token: string
  process: ChildProcess
  output: () => string
  /** SIGTERM, then SIGKILL after 10 s. */
  stop: () => Promise<void>
}

export interface FdnOptions {
  dataDir: string
  /** Pin the daemon (every thread) to these CPUs through taskset. */
  cpu?: { taskset: string, list: string }
  /** Extra Node.js options, e.g. `--cpu-prof --cpu-prof-dir=…`. */
  nodeOptions?: string
  env?: Record<string, string>
}

export async function startFdn (options: FdnOptions): Promise<FdnDaemon> {
  await rm(path.join(options.dataDir, 'daemon.json'), { force: true })
  const nodeArgs = [FDN_BIN, 'start']
  const [command, argv] = options.cpu != null
    ? [options.cpu.taskset, ['-c', options.cpu.list, process.execPath, ...nodeArgs]]
    : [process.execPath, nodeArgs]
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    FDN_DATA: options.dataDir,
    FDN_HTTP_LISTEN: '127.0.0.1:0',
    FDN_ADMIN_LISTEN: '127.0.0.1:0',
    FDN_SWARM_LISTEN: '/ip4/127.0.0.1/tcp/0',
    FDN_MIN_FREE_SPACE: '0',
    FDN_LOG_LEVEL: BENCH_LOG_LEVEL,
    ...options.env
  }
  if (options.nodeOptions != null) env.NODE_OPTIONS = `${process.env.NODE_OPTIONS ?? ''} ${options.nodeOptions}`.trim()
  // npm's own variables would only be noise to the daemon
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key]
  const child = spawn(command, argv, { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-65536) })
  child.stderr?.on('data', (chunk: Buffer) => { output = (output + chunk.toString()).slice(-65536) })
  const exited = new Promise<void>(resolve => { child.once('close', () => { resolve() }) })
  const alive = (): boolean => child.exitCode == null && child.signalCode == null
  let stopped: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopped ??= (async () => {
      if (alive()) child.kill('SIGTERM')
      if (!(await within(exited, 10_000)).done) {
        child.kill('SIGKILL')
        await exited
      }
      unregister()
    })()
    await stopped
  }
  const unregister = onCleanup(`fdn daemon (pid ${child.pid})`, stop)
  try {
    const record = await waitForRecord(options.dataDir, child.pid ?? -1, alive, () => output)
    const token = (await readFile(path.join(options.dataDir, 'admin.token'), 'utf8')).trim()
    return { pid: child.pid ?? -1, dataDir: options.dataDir, http: record.http, admin: record.admin, token, process: child, output: () => output, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

async function waitForRecord (dataDir: string, pid: number, alive: () => boolean, output: () => string): Promise<DaemonRecord> {
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`fdn start exited before it was ready:\n${output()}`)
    try {
      const record = JSON.parse(await readFile(path.join(dataDir, 'daemon.json'), 'utf8')) as DaemonRecord
      if (record.pid === pid) return record
    } catch {}
    await sleep(50)
  }
  throw new Error(`fdn start was not ready within 30 s:\n${output()}`)
}

/** Adds bytes through the admin API (`POST /admin/v1/blobs`). */
export async function addBytes (daemon: FdnDaemon, bytes: Uint8Array): Promise<AddResponse> {
  const response = await fetch(`${daemon.admin}/admin/v1/blobs`, {
    method: 'POST',
    headers: { authorization: `Bearer ${daemon.token}`, 'content-type': 'application/octet-stream' },
    body: bytes
  })
  if (!response.ok) throw new Error(`add failed: ${response.status} ${await response.text()}`)
  return await response.json() as AddResponse
}

/** Memory figures of a process from /proc, in bytes. */
export async function memoryOf (pid: number): Promise<{ rss: number, hwm: number } | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kb = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024
    return { rss: kb('VmRSS'), hwm: kb('VmHWM') }
  } catch {
    return undefined
  }
}

/** Samples VmRSS every `everyMs` until stopped; returns the peak seen. */
export function sampleRss (pid: number, everyMs = 50): { stop: () => Promise<{ peakRss: number, samples: number }> } {
  let peak = 0
  let samples = 0
  let running = true
  const loop = (async () => {
    while (running) {
      const memory = await memoryOf(pid)
      if (memory != null && Number.isFinite(memory.rss)) {
        peak = Math.max(peak, memory.rss)
        samples++
      }
      await sleep(everyMs)
    }
  })()
  return {
    stop: async () => {
      running = false
      await loop
      return { peakRss: peak, samples }
    }
  }
}

/** `fdn init --json` in a new data directory: the node's peer ID before it first starts (to list it in other nodes' FDN_TRUSTED_PEERS). */
export async function initFdn (dataDir: string): Promise<string> {
  const env: NodeJS.ProcessEnv = { ...process.env, FDN_DATA: dataDir }
  for (const key of Object.keys(env)) if (key.startsWith('npm_')) delete env[key]
  const stdout = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [FDN_BIN, 'init', '--json'], { env }, (err, out, errOut) => {
      if (err != null) reject(new Error(`fdn init failed: ${err.message}\n${errOut}`))
      else resolve(out)
    })
  })
  return (JSON.parse(stdout) as { peerId: string }).peerId
}

/** `GET /admin/v1/status`: among others the node's peer ID, its swarm multiaddrs (`addresses.swarm`) and replication counts. */
export async function statusOf (daemon: FdnDaemon): Promise<StatusResponse> {
  const response = await fetch(`${daemon.admin}/admin/v1/status`, { headers: { authorization: `Bearer ${daemon.token}` } })
  if (!response.ok) throw new Error(`status failed: ${response.status} ${await response.text()}`)
  return await response.json() as StatusResponse
}

/** The daemon's swarm multiaddrs with its peer ID appended (what FDN_BOOTSTRAP takes). */
export async function swarmAddressesOf (daemon: FdnDaemon): Promise<{ peerId: string, addresses: string[] }> {
  const status = await statusOf(daemon)
  const addresses = status.addresses.swarm.map(a => a.includes('/p2p/') ? a : `${a}/p2p/${status.peerId}`)
  return { peerId: status.peerId, addresses }
}
