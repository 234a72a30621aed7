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
    const text = await response.text()
    let parsed: unknown
    try {
      parsed = text === '' ? undefined : JSON.parse(text)
    } catch {
      throw new CliError(`the daemon answered ${response.status} with a body that is not JSON`)
    }
    if (!response.ok) {
      const error = (parsed as ErrorBody | undefined)?.error
      throw new CliError(error != null ? `${error.message} (${error.code})` : `the daemon answered ${response.status}`)
    }
    return parsed as T
  }
}
