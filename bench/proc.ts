// Process plumbing for the benchmarks: progress lines, running commands, and a
// cleanup registry so every process the bench starts is stopped, even on failure.
import { spawn } from 'node:child_process'
import type { SpawnOptions } from 'node:child_process'
import { access, constants } from 'node:fs/promises'
import { createServer } from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
export const WORK = path.join(ROOT, 'bench', '.work')

const started = performance.now()

/** One progress line, prefixed with the seconds since the bench started. */
export function step (message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6)
  process.stdout.write(`[bench ${seconds}s] ${message}\n`)
}

export function elapsedSeconds (): number {
  return (performance.now() - started) / 1000
}

type Cleanup = () => Promise<void>
const cleanups = new Map<number, { name: string, fn: Cleanup }>()
let nextCleanup = 0

/** Registers something to undo at the end (or on failure); returns the function that unregisters it. */
export function onCleanup (name: string, fn: Cleanup): () => void {
  const id = nextCleanup++
  cleanups.set(id, { name, fn })
  return () => { cleanups.delete(id) }
}

/** Runs every registered cleanup, newest first; failures are reported, never thrown. */
export async function cleanupAll (): Promise<void> {
  const entries = [...cleanups.entries()].reverse()
  cleanups.clear()
  for (const [, { name, fn }] of entries) {
    try {
      await fn()
    } catch (err) {
      step(`cleanup of ${name} failed: ${(err as Error).message}`)
    }
  }
}

export interface RunResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

/** Runs a command to completion, capturing its output. It is killed (and reaped) if the bench is cleaned up first. */
export async function run (command: string, args: string[], options: SpawnOptions & { timeoutMs?: number } = {}): Promise<RunResult> {
  const begin = performance.now()
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options })
  let stdout = ''
  let stderr = ''
  child.stdout?.on('data', (chunk: Buffer) => { stdout += chunk.toString() })
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString() })
  const exited = new Promise<RunResult>((resolve, reject) => {
    child.once('error', reject)
    child.once('close', (code, signal) => { resolve({ code, signal, stdout, stderr, ms: performance.now() - begin }) })
  })
  const unregister = onCleanup(`${path.basename(command)} (pid ${child.pid})`, async () => {
    if (child.exitCode == null && child.signalCode == null) child.kill('SIGKILL')
    await exited.catch(() => {})
  })
  const timer = options.timeoutMs != null
    ? setTimeout(() => { child.kill('SIGKILL') }, options.timeoutMs)
    : undefined
  try {
    return await exited
  } finally {
    if (timer != null) clearTimeout(timer)
    unregister()
  }
}

/** The absolute path of an executable found in PATH or the sbin folders, or undefined. */
export async function which (name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']
  for (const dir of dirs) {
    if (dir === '') continue
    const candidate = path.join(dir, name)
    try {
      await access(candidate, constants.X_OK)
      return candidate
    } catch {}
  }
  return undefined
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      const port = typeof address === 'object' && address != null ? address.port : 0
      server.close(() => { resolve(port) })
    })
  })
}

/** Waits until `url` answers at all (any status). */
export async function waitForHttp (url: string, timeoutMs: number, alive: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < deadline) {
    if (!alive()) throw new Error(`the server for ${url} exited before it answered`)
    try {
      const response = await fetch(url)
      await response.arrayBuffer()
      return
    } catch (err) {
      last = err
    }
    await sleep(50)
  }
  throw new Error(`${url} did not answer within ${timeoutMs} ms: ${(last as Error | undefined)?.message ?? ''}`)
}

/** Sends `signal` to a process group, ignoring "no such process". */
export function killGroup (pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal)
  } catch {}
}

/** Resolves when the promise settles or after `ms`; tells which. */
export async function within<T> (promise: Promise<T>, ms: number): Promise<{ done: true, value: T } | { done: false }> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<{ done: false }>(resolve => { timer = setTimeout(() => { resolve({ done: false }) }, ms) })
  try {
    return await Promise.race([promise.then(value => ({ done: true as const, value })), timeout])
  } finally {
    clearTimeout(timer)
  }
}

let syncPath: string | null | undefined
/** `sync`: the next measured run pays for no earlier run's page-cache writeback. */
export async function flushDirtyPages (): Promise<void> {
  if (syncPath === undefined) syncPath = (await which('sync')) ?? null
  if (syncPath != null) await run(syncPath, [], { timeoutMs: 120_000 })
}
