import { spawn, execFile } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import type { DaemonRecord } from '../../protocol/admin-api.ts'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const FDN_BIN = path.join(ROOT, 'bin/fdn.ts')

export interface RunningDaemon {
  dataDir: string
  http: string
  admin: string
  token: string
  process: ChildProcess
  /** Everything the daemon wrote to stdout and stderr so far. */
  output: () => string
  /** SIGTERM, then wait for the exit code. */
  stop: () => Promise<number | null>
  /** SIGKILL, then wait for the process to be gone. */
  kill: () => Promise<void>
}

export interface DaemonOptions {
  dataDir?: string
  env?: Record<string, string>
  args?: string[]
}

/** A fresh, empty data directory under the system's temporary folder. */
export async function tempDir (prefix = 'fdn-test-'): Promise<string> {
  return await mkdtemp(path.join(tmpdir(), prefix))
}

/** Starts a real `fdn start` process on loopback with ephemeral ports and waits until it is ready. */
export async function startDaemon (options: DaemonOptions = {}): Promise<RunningDaemon> {
  const dataDir = options.dataDir ?? await tempDir()
  await rm(path.join(dataDir, 'daemon.json'), { force: true })
  const child = spawn(process.execPath, [FDN_BIN, 'start', ...(options.args ?? [])], {
    env: {
      ...process.env,
      FDN_DATA: dataDir,
      FDN_HTTP_LISTEN: '127.0.0.1:0',
      FDN_ADMIN_LISTEN: '127.0.0.1:0',
      FDN_MIN_FREE_SPACE: '0',
      FDN_LOG_LEVEL: 'warn',
      ...options.env
    },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let output = ''
  child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
  const exited = new Promise<number | null>(resolve => child.once('exit', code => { resolve(code) }))
  const record = await waitForRecord(dataDir, child, () => output)
  const token = (await readFile(path.join(dataDir, 'admin.token'), 'utf8')).trim()
  return {
    dataDir,
    http: record.http,
    admin: record.admin,
    token,
    process: child,
    output: () => output,
    stop: async () => {
      if (child.exitCode == null && child.signalCode == null) child.kill('SIGTERM')
      return await exited
    },
    kill: async () => {
      if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
      await exited
    }
  }
}

async function waitForRecord (dataDir: string, child: ChildProcess, output: () => string): Promise<DaemonRecord> {
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline) {
    if (child.exitCode != null) throw new Error(`fdn start exited with ${child.exitCode}:\n${output()}`)
    try {
      const record = JSON.parse(await readFile(path.join(dataDir, 'daemon.json'), 'utf8')) as DaemonRecord
      if (record.pid === child.pid) return record
    } catch {}
    await sleep(50)
  }
  child.kill('SIGKILL')
  throw new Error(`fdn start did not become ready in 20 s:\n${output()}`)
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the `fdn` CLI as a user would, in its own process. */
export async function runCli (args: string[], env: Record<string, string> = {}, input?: Buffer): Promise<CliResult> {
  return await new Promise((resolve) => {
    const child = execFile(process.execPath, [FDN_BIN, ...args], {
      env: { ...process.env, FDN_LOG_LEVEL: 'warn', ...env },
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8'
    }, (error, stdout, stderr) => {
      resolve({ code: error == null ? 0 : (typeof error.code === 'number' ? error.code : null), stdout, stderr })
    })
    if (input != null) child.stdin?.end(input)
    else child.stdin?.end()
  })
}

/** Admin API call with the daemon's token. */
export async function adminFetch (daemon: RunningDaemon, route: string, init: RequestInit = {}): Promise<Response> {
  return await fetch(`${daemon.admin}${route}`, {
    ...init,
    headers: { authorization: `Bearer ${daemon.token}`, ...(init.headers as Record<string, string> | undefined) }
  })
}

/** Adds bytes through the admin API and returns the parsed answer. */
export async function addBytes (daemon: RunningDaemon, bytes: Uint8Array): Promise<{ cid: string, size: number, mediaType: string, created: boolean }> {
  const response = await adminFetch(daemon, '/admin/v1/blobs', { method: 'POST', body: bytes })
  if (!response.ok) throw new Error(`add failed: ${response.status} ${await response.text()}`)
  return await response.json() as { cid: string, size: number, mediaType: string, created: boolean }
}
