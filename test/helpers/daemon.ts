import { spawn, execFile } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { connect } from 'node:net'
import type { Socket } from 'node:net'
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
  /** How long to wait for the daemon to be ready (20 s by default; a loaded machine may need more). */
  readyTimeoutMs?: number
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
      FDN_SWARM_LISTEN: '/ip4/127.0.0.1/tcp/0',
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
  const record = await waitForRecord(dataDir, child, () => output, options.readyTimeoutMs ?? 20_000)
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

async function waitForRecord (dataDir: string, child: ChildProcess, output: () => string, timeoutMs: number): Promise<DaemonRecord> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (child.exitCode != null) throw new Error(`fdn start exited with ${child.exitCode}:\n${output()}`)
    try {
      const record = JSON.parse(await readFile(path.join(dataDir, 'daemon.json'), 'utf8')) as DaemonRecord
      if (record.pid === child.pid) return record
    } catch {}
    await sleep(50)
  }
  child.kill('SIGKILL')
  throw new Error(`fdn start did not become ready in ${timeoutMs / 1000} s:\n${output()}`)
}

export interface CliResult {
  code: number | null
  stdout: string
  stderr: string
}

/** Runs the `fdn` CLI as a user would, in its own process (killed after `timeoutMs`, 30 s by default). */
export async function runCli (args: string[], env: Record<string, string> = {}, input?: Buffer, options: { timeoutMs?: number } = {}): Promise<CliResult> {
  return await new Promise((resolve) => {
    const child = execFile(process.execPath, [FDN_BIN, ...args], {
      env: { ...process.env, FDN_LOG_LEVEL: 'warn', ...env },
      maxBuffer: 64 * 1024 * 1024,
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 30_000,
      killSignal: 'SIGKILL'
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

/** Lowercase hex SHA-256 of some bytes. */
export function sha256Hex (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The block files of a data directory's blockstore (temporary files of unfinished writes excluded). */
export async function blockFiles (dataDir: string): Promise<{ count: number, bytes: number }> {
  const result = { count: 0, bytes: 0 }
  const walk = async (dir: string): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true }).catch(() => [])
    for (const entry of entries) {
      const file = path.join(dir, entry.name)
      if (entry.isDirectory()) await walk(file)
      else if (entry.name.endsWith('.data')) {
        // a block deleted between the listing and the stat is gone: not counted
        const info = await stat(file).catch((err: NodeJS.ErrnoException) => { if (err.code === 'ENOENT') return undefined; throw err })
        if (info == null) continue
        result.count++
        result.bytes += info.size
      }
    }
  }
  await walk(path.join(dataDir, 'blocks'))
  return result
}

/** Polls `check` until it returns true; fails with `message` after `timeoutMs`. */
export async function waitFor (check: () => Promise<boolean> | boolean, message: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${message}`)
    await sleep(25)
  }
}

export interface RawResponse {
  status: number
  /** Header names in lower case; repeated headers joined with ', '. */
  headers: Record<string, string>
  body: Buffer
}

/**
 * One HTTP exchange over a plain TCP socket, for requests that fetch() will not
 * send (raw `..` paths, huge headers, lying Content-Length). `send` writes the
 * request; the answer is read until it is complete by its Content-Length or
 * chunked framing, or else until the server closes the connection (HEAD: say
 * `Connection: close`). Write errors after the server has answered (it may
 * answer before reading the whole body) are ignored.
 */
export async function rawExchange (baseUrl: string, send: (socket: Socket) => Promise<void> | void, timeoutMs = 15_000): Promise<RawResponse> {
  const url = new URL(baseUrl)
  const socket = connect({ host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) })
  const chunks: Buffer[] = []
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    if (isComplete(Buffer.concat(chunks))) socket.destroy()
  })
  const closed = new Promise<void>((resolve) => { socket.once('close', () => { resolve() }) })
  let socketError: Error | undefined
  socket.on('error', (err) => { socketError = err })
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', () => { resolve() })
    socket.once('error', reject)
  })
  const timer = setTimeout(() => { socket.destroy(new Error(`no complete answer within ${timeoutMs} ms`)) }, timeoutMs)
  try {
    await send(socket)
  } catch (err) {
    if (chunks.length === 0) socketError ??= err as Error
  }
  await closed
  clearTimeout(timer)
  const raw = Buffer.concat(chunks)
  if (raw.length === 0) throw socketError ?? new Error('the server closed the connection without answering')
  return parseResponse(raw)
}

/** Writes a request head (lines without the final blank line) and an optional body, as one exchange. */
export async function rawRequest (baseUrl: string, lines: string[], body?: Uint8Array): Promise<RawResponse> {
  return await rawExchange(baseUrl, async (socket) => {
    await writeAll(socket, Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1'))
    if (body != null) await writeAll(socket, body)
  })
}

/** Writes bytes and waits until the socket has taken them. */
export async function writeAll (socket: Socket, bytes: Uint8Array | string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    socket.write(bytes, (err) => { if (err != null) reject(err); else resolve() })
  })
}

/** Whether `raw` holds a whole response, judged by its framing (a body without framing ends with the connection). */
function isComplete (raw: Buffer): boolean {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) return false
  const head = raw.subarray(0, end).toString('latin1')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? NaN)
  if (status === 204 || status === 304) return true
  const length = /\r\ncontent-length: *(\d+)/i.exec(head)?.[1]
  if (length != null) return raw.length - end - 4 >= Number(length)
  if (/\r\ntransfer-encoding: *chunked/i.test(head)) return raw.subarray(end + 4).toString('latin1').endsWith('0\r\n\r\n')
  return false
}

function parseResponse (raw: Buffer): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  if (end < 0) throw new Error(`incomplete HTTP answer: ${JSON.stringify(raw.subarray(0, 200).toString('latin1'))}`)
  const [statusLine = '', ...headerLines] = raw.subarray(0, end).toString('latin1').split('\r\n')
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? NaN)
  const headers: Record<string, string> = {}
  for (const line of headerLines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] != null ? `${headers[name]}, ${value}` : value
  }
  let body = raw.subarray(end + 4)
  if (headers['transfer-encoding'] === 'chunked') body = dechunk(body)
  return { status, headers, body }
}

function dechunk (bytes: Buffer): Buffer {
  const parts: Buffer[] = []
  let offset = 0
  while (offset < bytes.length) {
    const lineEnd = bytes.indexOf('\r\n', offset)
    if (lineEnd < 0) break
    const size = parseInt(bytes.subarray(offset, lineEnd).toString('latin1'), 16)
    if (!Number.isFinite(size) || size === 0) break
    parts.push(bytes.subarray(lineEnd + 2, lineEnd + 2 + size))
    offset = lineEnd + 2 + size + 2
  }
  return Buffer.concat(parts)
}
