import { open } from 'node:fs/promises'
import { request as httpRequest } from 'node:http'
import type { ClientRequest, IncomingMessage } from 'node:http'
import type { Readable } from 'node:stream'
import { readDaemonRecord } from '../daemon-record.ts'
import { readAdminToken } from '../identity/identity.ts'
import { parseListen, formatListen } from '../config/values.ts'
import type { ErrorBody } from '../../protocol/errors.ts'

/** A failure a CLI command reports as one line; `exitCode` tells scripts what kind. */
export class CliError extends Error {
  readonly exitCode: number
  constructor (message: string, exitCode = 1) {
    super(message)
    this.name = 'CliError'
    this.exitCode = exitCode
  }
}

/** A request body read from a file by `upload`, in large reads into a few reused buffers. */
export interface FileBody {
  file: string
  /** Bytes to send (the Content-Length announced): a file that grows meanwhile is cut there. */
  size: number
  /** Called with the bytes of each read as it is sent. */
  onSent?: (bytes: number) => void
}

/** Read size and buffers in flight when uploading a file: few system calls, no allocation per read. */
const FILE_READ_SIZE = 1024 * 1024
const FILE_BUFFERS = 3
/** How long `upload` waits for the answer to a body-less retry (see there). */
const EARLY_ANSWER_MS = 2000

export interface RequestOptions {
  method?: string
  body?: ReadableStream<Uint8Array> | string
  headers?: Record<string, string>
}

/**
 * Talks to the running daemon's admin API. The daemon is found through
 * `FDN_ADMIN_LISTEN` when set, else through `$FDN_DATA/daemon.json`, which the
 * daemon writes once it listens.
 */
export class AdminClient {
  readonly baseUrl: string
  private readonly token: string

  constructor (baseUrl: string, token: string) {
    this.baseUrl = baseUrl
    this.token = token
  }

  static async connect (dataDir: string, env: NodeJS.ProcessEnv): Promise<AdminClient> {
    let baseUrl: string
    const listen = env.FDN_ADMIN_LISTEN
    if (listen != null && listen !== '') {
      const address = parseListen(listen)
      const host = address.host === '0.0.0.0' ? '127.0.0.1' : address.host === '::' ? '::1' : address.host
      baseUrl = `http://${formatListen({ host, port: address.port })}`
    } else {
      const record = await readDaemonRecord(dataDir)
      if (record == null) throw new CliError(`no fdn daemon is running for ${dataDir} (no daemon.json): start one with 'fdn start'`, 3)
      baseUrl = record.admin
    }
    let token: string
    try {
      token = await readAdminToken(dataDir)
    } catch (err) {
      throw new CliError((err as Error).message, 3)
    }
    return new AdminClient(baseUrl, token)
  }

  async request<T> (path: string, options: RequestOptions = {}): Promise<T> {
    let response: Response
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method: options.method ?? 'GET',
        headers: { authorization: `Bearer ${this.token}`, ...options.headers },
        body: options.body,
        ...(options.body instanceof ReadableStream ? { duplex: 'half' } : {})
      } as RequestInit)
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause
      if (cause?.code === 'ECONNREFUSED') throw new CliError(`no fdn daemon answers at ${this.baseUrl}: is it running?`, 3)
      throw new CliError(`cannot reach the fdn daemon at ${this.baseUrl}: ${(cause as Error | undefined)?.message ?? (err as Error).message}`, 3)
    }
    return this.answer<T>(response.status, await response.text())
  }

  /**
   * Sends a request whose answer is NDJSON and yields the JSON value of each
   * line as it arrives: long operations that report progress (`fdn recover`).
   * node:http rather than fetch, which gives up when its body is silent for
   * five minutes. An answer other than 2xx throws like `request`.
   */
  async * requestLines (path: string, options: { method?: string, body?: string, headers?: Record<string, string> } = {}): AsyncGenerator<unknown, void, undefined> {
    const body = options.body ?? ''
    let response: IncomingMessage
    try {
      response = await new Promise<IncomingMessage>((resolve, reject) => {
        const req = httpRequest(`${this.baseUrl}${path}`, {
          method: options.method ?? 'GET',
          headers: { authorization: `Bearer ${this.token}`, accept: 'application/x-ndjson', 'content-length': String(Buffer.byteLength(body)), ...options.headers },
          agent: false // one request: its own connection, closed after
        }, resolve)
        req.on('error', reject)
        req.end(body)
      })
    } catch (err) {
      throw this.unreachable(err as NodeJS.ErrnoException)
    }
    try {
      const status = response.statusCode ?? 0
      response.setEncoding('utf8')
      if (status < 200 || status > 299) {
        let text = ''
        for await (const chunk of response) text += chunk as string
        this.answer<unknown>(status, text)
        throw new CliError(`the daemon answered ${status}`)
      }
      let pending = ''
      try {
        for await (const chunk of response) {
          pending += chunk as string
          let end: number
          while ((end = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, end).trim()
            pending = pending.slice(end + 1)
            if (line !== '') yield parseLine(line)
          }
        }
      } catch (err) {
        if (err instanceof CliError) throw err
        throw new CliError(`the connection to the daemon broke: ${(err as Error).message}`)
      }
      if (pending.trim() !== '') yield parseLine(pending.trim())
    } finally {
      response.destroy()
    }
  }

  /**
   * POSTs a file or a byte stream with node:http: far less CPU per byte than
   * fetch's web streams. A file is read into a few buffers that are reused as
   * soon as the socket has taken their bytes, so a large upload allocates
   * nothing per read and leaves the garbage collector idle. Answers like
   * `request`.
   */
  async upload<T> (path: string, body: Readable | FileBody, headers: Record<string, string> = {}): Promise<T> {
    let answer: { status: number, text: string }
    try {
      answer = await this.post(path, headers, body)
    } catch (err) {
      if (err instanceof CliError) throw err
      const cause = err as NodeJS.ErrnoException
      // The daemon refuses some uploads as soon as it has the headers (too large, disk
      // full) and hangs up; a write that hits the closed connection first loses that
      // answer. Ask again with the headers alone to hear it.
      const refusal = cause.code === 'EPIPE' || cause.code === 'ECONNRESET'
        ? await this.post(path, headers, undefined).catch(() => undefined)
        : undefined
      if (refusal == null || refusal.status < 400) throw this.unreachable(cause)
      answer = refusal
    }
    return this.answer<T>(answer.status, answer.text)
  }

  /**
   * One POST: resolves with the daemon's answer as soon as it comes (the rest
   * of the body is then not sent), rejects with the connection's error.
   * Without a body it only sends the headers and waits a moment for an early
   * answer (see `upload`), then gives up.
   */
  private async post (path: string, headers: Record<string, string>, body: Readable | FileBody | undefined): Promise<{ status: number, text: string }> {
    return await new Promise((resolve, reject) => {
      let settled = false
      let timer: NodeJS.Timeout | undefined
      const settle = (done: () => void): void => {
        if (settled) return
        settled = true
        clearTimeout(timer)
        if (body != null && !('file' in body)) {
          body.unpipe(req)
          body.destroy()
        }
        done()
      }
      const req = httpRequest(`${this.baseUrl}${path}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${this.token}`, ...headers },
        agent: false // one request: its own connection, closed after
      }, (response: IncomingMessage) => {
        const parts: Buffer[] = []
        response.on('data', (part: Buffer) => { parts.push(part) })
        response.on('end', () => {
          if (!req.writableFinished) req.destroy()
          settle(() => { resolve({ status: response.statusCode ?? 0, text: Buffer.concat(parts).toString('utf8') }) })
        })
        response.on('error', (err) => { settle(() => { reject(err) }) })
      })
      req.on('error', (err) => { settle(() => { reject(err) }) })
      if (body == null) timer = setTimeout(() => { req.destroy(new Error('no early answer')) }, EARLY_ANSWER_MS)
      const unreadable = (err: Error): void => {
        req.destroy()
        settle(() => { reject(new CliError(`cannot read the input: ${err.message}`)) })
      }
      if (body == null) {
        req.flushHeaders()
      } else if ('file' in body) {
        sendFile(body, req, () => settled).catch(unreadable)
      } else {
        body.on('error', unreadable)
        body.pipe(req)
      }
    })
  }

  private unreachable (err: NodeJS.ErrnoException): CliError {
    return err.code === 'ECONNREFUSED'
      ? new CliError(`no fdn daemon answers at ${this.baseUrl}: is it running?`, 3)
      : new CliError(`cannot reach the fdn daemon at ${this.baseUrl}: ${err.message}`, 3)
  }

  private answer<T> (status: number, text: string): T {
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new CliError(`the daemon answered ${status} with a body that is not JSON`)
    }
    if (status < 200 || status > 299) {
      const error = (parsed as ErrorBody | undefined)?.error
      // the daemon refused a value the user gave the command (a tenant name, a quota, a URL): bad usage
      const exitCode = error?.code === 'invalid_request' ? 2 : 1
      throw new CliError(error != null ? `${error.message} (${error.code})` : `the daemon answered ${status}`, exitCode)
    }
    return parsed as T
  }
}

function parseLine (line: string): unknown {
  try {
    return JSON.parse(line)
  } catch {
    throw new CliError(`the daemon sent a line that is not JSON: ${line.slice(0, 80)}`)
  }
}

/** Writes a file into `req` and ends it; stops early once `stop()` says so (the daemon answered, or failed). */
async function sendFile (body: FileBody, req: ClientRequest, stop: () => boolean): Promise<void> {
  const handle = await open(body.file, 'r')
  try {
    const buffers = Array.from({ length: FILE_BUFFERS }, () => Buffer.allocUnsafe(FILE_READ_SIZE))
    const written: Array<Promise<boolean> | undefined> = []
    let left = body.size
    for (let i = 0; left > 0; i = (i + 1) % FILE_BUFFERS) {
      // a buffer is read into again only once the socket has taken what it held
      if (written[i] != null && !await written[i]) return
      if (stop()) return
      const buffer = buffers[i] as Buffer
      const { bytesRead } = await handle.read(buffer, 0, Math.min(buffer.length, left), null)
      if (bytesRead === 0) throw new Error(`${body.file} ended before the ${body.size} bytes it had`)
      left -= bytesRead
      if (stop()) return
      written[i] = new Promise(resolve => { req.write(buffer.subarray(0, bytesRead), err => { resolve(err == null) }) })
      body.onSent?.(bytesRead)
    }
    await Promise.all(written)
    if (!stop()) req.end()
  } finally {
    await handle.close()
  }
}
