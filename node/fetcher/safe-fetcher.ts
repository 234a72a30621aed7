import { lookup as dnsLookup } from 'node:dns/promises'
import { request as httpRequest } from 'node:http'
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http'
import { request as httpsRequest } from 'node:https'
import { isIP } from 'node:net'
import type { LookupFunction, Socket } from 'node:net'
import { detectMediaType, SNIFF_BYTES } from '../ingest/media-type.ts'
import { VERSION } from '../version.ts'
import { AddressPolicy } from './address-policy.ts'
import { FetchError, urlForMessage } from './errors.ts'
import type { FetchErrorCode } from './errors.ts'
import { ACTIVITYPUB_ACCEPT, essence, isFetchableMediaType, isJsonContentType, MEDIA_ACCEPT } from './media-policy.ts'
import { checkPorts, checkUrl, DEFAULT_PORTS } from './target.ts'
import type { Target } from './target.ts'

/**
 * The node's one outbound HTTP client (retrieve-by-URL, ActivityPub key
 * fetches and deliveries, relay prefetch). Every hop is checked before a byte is sent —
 * scheme, credentials, port, and every address the host resolves to — and the
 * connection goes to the checked address itself (the resolver runs once per
 * hop; no second lookup, so no DNS rebinding). Redirects are followed by hand
 * and checked again. Bodies are limited while they stream, and media is typed
 * by its magic bytes. See docs/fetcher.md.
 */

export interface ResolvedAddress {
  address: string
  family: 4 | 6
}

/** Resolves a host name to every address it has. The default is `dns.lookup(host, { all: true })`. */
export type Resolver = (host: string) => Promise<ResolvedAddress[]>

export interface SafeFetcherOptions {
  /** CIDR ranges (or single addresses) exempted from the address guard (`FDN_FETCH_ALLOW`). Default none. */
  allow?: readonly string[]
  /** Ports a URL may name (`FDN_FETCH_PORTS`). Default 80 and 443. */
  allowedPorts?: readonly number[]
  /** Resolving, connecting and the TLS handshake, per hop. Default 5 s. */
  connectTimeoutMs?: number
  /** The whole fetch: every redirect, the headers and the whole body. Default 30 s. */
  timeoutMs?: number
  /** Largest media body, in bytes; `fetchMedia` may lower or raise it per call. Default 100 MiB. */
  maxBytes?: number
  /** Most redirects followed. Default 5. */
  maxRedirects?: number
  /** Default `fdn/<version>`. */
  userAgent?: string
  /** Replaces the system resolver (tests, or a resolver of one's own). Its answers are checked like any other. */
  lookup?: Resolver
  /** Extra trusted CA certificates for https, in addition to Node's (private CAs, tests). */
  ca?: string | Buffer | Array<string | Buffer>
}

export interface FetchOptions {
  signal?: AbortSignal
  maxBytes?: number
}

/**
 * Signs one outgoing request (HTTP Signatures): the headers it returns (host,
 * date, digest, signature…) are sent as they are, over the fetcher's own.
 * Called once per hop, with that hop's URL, so a redirected GET is signed for
 * the host and path it goes to.
 */
export type RequestSigner = (request: { method: string, url: URL, body?: Uint8Array }) => Record<string, string>

export interface JsonFetchOptions extends FetchOptions {
  /** The Accept header. Default: the ActivityPub media types. */
  accept?: string
  /** Signs every hop (ActivityPub "authorized fetch"). */
  sign?: RequestSigner
}

export interface PostOptions {
  sign?: RequestSigner
  signal?: AbortSignal
  /** Default `application/activity+json`. */
  contentType?: string
  /** Most bytes of the answer's body kept; the rest is not read. Default 64 KiB. */
  maxResponseBytes?: number
}

/** The answer to a POST: a 2xx status, and the start of its body (decoded as UTF-8). */
export interface PostResult {
  status: number
  url: string
  body: string
}

/** Byte counts of one fetch, growing while it streams. */
export interface FetchCounters {
  /** Body bytes received from the origin (the final response's). */
  readonly bytesReceived: number
  /** Bytes read from the sockets of every hop: status lines, headers, redirect responses and body. */
  readonly wireBytes: number
}

export interface FetchedMedia extends FetchCounters {
  /** The final URL, after redirects. */
  url: string
  /** The URLs redirected through, first one first (empty without redirects). */
  redirects: string[]
  status: number
  /** Detected from the first bytes: an image, video or audio type. */
  mediaType: string
  /** What the origin claimed; never trusted. */
  declaredType: string | undefined
  contentLength: number | undefined
  /**
   * The body, readable once: the first bytes (already sniffed) and then the
   * rest as it arrives. Size, length and time limits are enforced while it is
   * read; a violation rejects the iteration, so a consumer that stores chunks
   * must keep nothing when iteration throws.
   */
  body: AsyncIterable<Uint8Array>
  /** Stops the transfer when the body is not wanted; reading the body afterwards rejects with `aborted`. */
  cancel (): void
}

export interface FetchedJson extends FetchCounters {
  url: string
  redirects: string[]
  status: number
  contentType: string
  data: unknown
}

/** Totals over every fetch of one fetcher, for metrics and the simulation. */
export interface FetcherStats {
  fetches: number
  failures: number
  bytesReceived: number
  wireBytes: number
}

export const DEFAULT_CONNECT_TIMEOUT_MS = 5_000
export const DEFAULT_TIMEOUT_MS = 30_000
export const DEFAULT_MAX_BYTES = 100 * 1024 * 1024
export const DEFAULT_MAX_REDIRECTS = 5
export const DEFAULT_JSON_MAX_BYTES = 1024 * 1024
export const DEFAULT_POST_RESPONSE_BYTES = 64 * 1024
/** Characters of a refusal's body quoted in the error: relays explain why there. */
const REFUSAL_EXCERPT_CHARS = 200

const REDIRECTS = new Set([301, 302, 303, 307, 308])
const OK = new Set([200, 203])
/** Codes of refusals made before connecting, which a redirect can cause. */
const HOP_REFUSALS = new Set<FetchErrorCode>(['bad_url', 'scheme_not_allowed', 'userinfo_not_allowed', 'port_not_allowed', 'address_not_allowed', 'dns_failed'])

function positive (name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new Error(`${name}: expected a positive whole number, got '${value}'`)
  return value
}

async function systemResolver (host: string): Promise<ResolvedAddress[]> {
  const found = await dnsLookup(host, { all: true, order: 'verbatim' })
  return found.map(entry => ({ address: entry.address, family: entry.family === 6 ? 6 : 4 }))
}

/** A `lookup` for `http.request` that answers with the addresses already checked, whatever the name. */
function pinnedLookup (addresses: readonly ResolvedAddress[]): LookupFunction {
  return (_hostname, options, callback) => {
    const family = options.family === 4 || options.family === 6 ? options.family : undefined
    const usable = family == null ? addresses : addresses.filter(entry => entry.family === family)
    const first = usable[0]
    if (first == null) {
      callback(Object.assign(new Error('no checked address of this family'), { code: 'ENOTFOUND' }), '', 0)
    } else if (options.all === true) {
      callback(null, usable.map(entry => ({ address: entry.address, family: entry.family })))
    } else {
      callback(null, first.address, first.family)
    }
  }
}

function errorCode (err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code
  return typeof code === 'string' ? code : ''
}

function errorMessage (err: unknown): string {
  return err instanceof Error ? err.message : String(err)
}

/**
 * One fetch: its timers, the signal, the request and response of the current
 * hop, and the first failure, which wins over every later error.
 */
class Transfer implements FetchCounters {
  failure: FetchError | undefined
  readonly failed: Promise<never>
  currentUrl: string
  bytesReceived = 0
  /** A parse error after the response was complete: bytes beyond Content-Length. */
  overflow: Error | undefined
  req: ClientRequest | undefined
  res: IncomingMessage | undefined
  reqClosed: Promise<void> = Promise.resolve()
  private readonly sockets: Socket[] = []
  private rejectFailed: (err: FetchError) => void = () => {}
  private readonly totalTimer: NodeJS.Timeout
  private connectTimer: NodeJS.Timeout | undefined
  private readonly signal: AbortSignal | undefined
  private readonly onAbort: () => void
  private readonly onDone: (transfer: Transfer, ok: boolean) => void
  private done = false

  constructor (url: string, timeoutMs: number, signal: AbortSignal | undefined, onDone: (transfer: Transfer, ok: boolean) => void) {
    this.currentUrl = url
    this.onDone = onDone
    this.failed = new Promise<never>((_resolve, reject) => { this.rejectFailed = reject })
    this.failed.catch(() => {})
    this.totalTimer = setTimeout(() => {
      this.fail(new FetchError('timeout', this.currentUrl, `no complete response within ${timeoutMs} ms`))
    }, timeoutMs).unref()
    this.signal = signal
    this.onAbort = () => this.fail(new FetchError('aborted', this.currentUrl, 'aborted by the caller', { cause: signal?.reason }))
    if (signal?.aborted === true) this.onAbort()
    else signal?.addEventListener('abort', this.onAbort, { once: true })
  }

  get wireBytes (): number {
    return this.sockets.reduce((sum, socket) => sum + socket.bytesRead, 0)
  }

  addSocket (socket: Socket): void {
    this.sockets.push(socket)
  }

  /** Waits for `promise` unless the fetch fails first. */
  async race<T> (promise: Promise<T>): Promise<T> {
    if (this.failure != null) throw this.failure
    return await Promise.race([promise, this.failed])
  }

  startConnectTimer (ms: number): void {
    clearTimeout(this.connectTimer)
    this.connectTimer = setTimeout(() => {
      this.fail(new FetchError('connect_timeout', this.currentUrl, `no connection within ${ms} ms`))
    }, ms).unref()
  }

  connected (): void {
    clearTimeout(this.connectTimer)
  }

  /** Ends the fetch with `err` (the first failure wins) and frees everything. */
  fail (err: FetchError): void {
    if (this.done) return
    this.failure = err
    this.rejectFailed(err)
    this.end(false)
  }

  /** Ends the fetch successfully: the body was read to its end. */
  complete (): void {
    this.end(true)
  }

  /** Lets go of the current hop (a redirect response). */
  closeHop (): void {
    this.res?.destroy()
    this.req?.destroy()
    this.res = undefined
    this.req = undefined
    this.overflow = undefined
  }

  private end (ok: boolean): void {
    if (this.done) return
    this.done = true
    clearTimeout(this.totalTimer)
    clearTimeout(this.connectTimer)
    this.signal?.removeEventListener('abort', this.onAbort)
    this.res?.destroy()
    this.req?.destroy()
    this.onDone(this, ok)
  }
}

/** Reads a response body chunk by chunk, enforcing the size limit and Content-Length. */
class BodyReader {
  private readonly iterator: AsyncIterator<Buffer>
  private readonly transfer: Transfer
  private readonly res: IncomingMessage
  private readonly contentLength: number | undefined
  private readonly maxBytes: number
  private readonly url: string
  private received = 0

  constructor (transfer: Transfer, res: IncomingMessage, contentLength: number | undefined, maxBytes: number, url: string) {
    this.transfer = transfer
    this.res = res
    this.contentLength = contentLength
    this.maxBytes = maxBytes
    this.url = url
    this.iterator = res[Symbol.asyncIterator]() as AsyncIterator<Buffer>
  }

  /** The next chunk, or undefined at a verified end. Throws (and fails the fetch) on any violation. */
  async next (): Promise<Buffer | undefined> {
    try {
      // No race here: a failure destroys the response, which ends a pending read.
      if (this.transfer.failure != null) throw this.transfer.failure
      const step = await this.iterator.next()
      if (step.done === true) {
        await this.transfer.race(this.transfer.reqClosed)
        this.checkEnd()
        return undefined
      }
      const chunk = step.value
      this.received += chunk.length
      this.transfer.bytesReceived += chunk.length
      if (this.received > this.maxBytes) {
        throw new FetchError('too_large', this.url, `the body is larger than the limit of ${this.maxBytes} bytes`)
      }
      return chunk
    } catch (err) {
      const error = this.transfer.failure ?? (err instanceof FetchError ? err : this.streamError(err))
      this.transfer.fail(error)
      throw error
    }
  }

  /** Reads until at least `size` bytes (or the end): the bytes media type detection looks at. */
  async head (size: number): Promise<Buffer[]> {
    const chunks: Buffer[] = []
    let length = 0
    while (length < size) {
      const chunk = await this.next()
      if (chunk == null) break
      chunks.push(chunk)
      length += chunk.length
    }
    return chunks
  }

  private checkEnd (): void {
    const expected = this.contentLength
    if (this.transfer.overflow != null) {
      throw new FetchError('length_mismatch', this.url, expected == null
        ? 'the server sent bytes after the end of the body'
        : `the server sent more than the ${expected} bytes of its Content-Length`)
    }
    if (expected != null && this.received !== expected) {
      throw new FetchError('length_mismatch', this.url, `the body has ${this.received} bytes, its Content-Length says ${expected}`)
    }
  }

  private streamError (err: unknown): FetchError {
    if (this.contentLength != null && !this.res.complete) {
      return new FetchError('length_mismatch', this.url, `the connection closed before the ${this.contentLength} bytes of its Content-Length arrived`, { cause: err })
    }
    return new FetchError('bad_response', this.url, `the body broke off: ${errorMessage(err)}`, { cause: err })
  }
}

/** What one hop sends: the method, the Accept header, the body and how to sign it. */
interface HopRequest {
  method: 'GET' | 'POST'
  accept: string
  sign?: RequestSigner
  body?: Buffer
  contentType?: string
}

interface Exchange {
  transfer: Transfer
  target: Target
  res: IncomingMessage
  redirects: string[]
}

export class SafeFetcher {
  readonly policy: AddressPolicy
  readonly allowedPorts: ReadonlySet<number>
  readonly connectTimeoutMs: number
  readonly timeoutMs: number
  readonly maxBytes: number
  readonly maxRedirects: number
  readonly userAgent: string
  readonly stats: FetcherStats = { fetches: 0, failures: 0, bytesReceived: 0, wireBytes: 0 }
  private readonly resolver: Resolver
  private readonly ca: SafeFetcherOptions['ca']

  /** Throws on a bad option (an allow entry that is not a CIDR range, a port out of range…), naming it. */
  constructor (options: SafeFetcherOptions = {}) {
    try {
      this.policy = new AddressPolicy(options.allow ?? [])
    } catch (err) {
      throw new Error(`allow: ${errorMessage(err)}`)
    }
    this.allowedPorts = checkPorts(options.allowedPorts ?? DEFAULT_PORTS)
    this.connectTimeoutMs = positive('connectTimeoutMs', options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS)
    this.timeoutMs = positive('timeoutMs', options.timeoutMs ?? DEFAULT_TIMEOUT_MS)
    this.maxBytes = positive('maxBytes', options.maxBytes ?? DEFAULT_MAX_BYTES)
    const maxRedirects = options.maxRedirects ?? DEFAULT_MAX_REDIRECTS
    if (!Number.isSafeInteger(maxRedirects) || maxRedirects < 0) throw new Error(`maxRedirects: expected a whole number, got '${maxRedirects}'`)
    this.maxRedirects = maxRedirects
    this.userAgent = options.userAgent ?? `fdn/${VERSION}`
    this.resolver = options.lookup ?? systemResolver
    this.ca = options.ca
  }

  /**
   * Fetches an image, video or audio file. Resolves once the headers and the
   * first bytes are in and the media type is known to be allowed; the caller
   * then streams `body`. Rejects with a `FetchError` on any refusal.
   */
  async fetchMedia (url: string, options: FetchOptions = {}): Promise<FetchedMedia> {
    const maxBytes = positive('maxBytes', options.maxBytes ?? this.maxBytes)
    const { transfer, target, res, redirects } = await this.exchange(url, { method: 'GET', accept: MEDIA_ACCEPT }, options.signal)
    const finalUrl = target.url.href
    try {
      const contentLength = this.checkHead(res, finalUrl, maxBytes)
      const reader = new BodyReader(transfer, res, contentLength, maxBytes, finalUrl)
      const head = Buffer.concat(await reader.head(SNIFF_BYTES))
      const declaredType = res.headers['content-type']
      const mediaType = await transfer.race(detectMediaType(head))
      if (!isFetchableMediaType(mediaType)) {
        const claimed = declaredType == null ? 'no Content-Type' : `Content-Type '${essence(declaredType)}'`
        throw new FetchError('media_type_not_allowed', finalUrl, `the bytes are ${mediaType === 'application/octet-stream' ? 'of no known media type' : mediaType}, not an image, video or audio file (the server sent ${claimed})`)
      }
      return {
        url: finalUrl,
        redirects,
        status: res.statusCode ?? 0,
        mediaType,
        declaredType,
        contentLength,
        body: readOnce(head, reader, transfer, finalUrl),
        get bytesReceived () { return transfer.bytesReceived },
        get wireBytes () { return transfer.wireBytes },
        cancel: () => transfer.fail(new FetchError('aborted', finalUrl, 'the caller cancelled the transfer'))
      }
    } catch (err) {
      throw this.failWith(transfer, err)
    }
  }

  /** Fetches and parses a JSON document (ActivityPub objects, WebFinger); its Content-Type must be JSON. Default limit 1 MiB. */
  async fetchJson (url: string, options: JsonFetchOptions = {}): Promise<FetchedJson> {
    const maxBytes = positive('maxBytes', options.maxBytes ?? DEFAULT_JSON_MAX_BYTES)
    const hop: HopRequest = { method: 'GET', accept: options.accept ?? ACTIVITYPUB_ACCEPT, sign: options.sign }
    const { transfer, target, res, redirects } = await this.exchange(url, hop, options.signal)
    const finalUrl = target.url.href
    try {
      const contentLength = this.checkHead(res, finalUrl, maxBytes)
      const contentType = res.headers['content-type'] ?? ''
      if (!isJsonContentType(contentType)) {
        throw new FetchError('media_type_not_allowed', finalUrl, `the Content-Type is '${essence(contentType) || 'missing'}', not JSON`)
      }
      const reader = new BodyReader(transfer, res, contentLength, maxBytes, finalUrl)
      const chunks: Buffer[] = []
      for (let chunk = await reader.next(); chunk != null; chunk = await reader.next()) chunks.push(chunk)
      let data: unknown
      try {
        data = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks)))
      } catch (err) {
        throw new FetchError('invalid_json', finalUrl, `the body is not valid JSON: ${errorMessage(err)}`, { cause: err })
      }
      transfer.complete()
      return {
        url: finalUrl,
        redirects,
        status: res.statusCode ?? 0,
        contentType,
        data,
        bytesReceived: transfer.bytesReceived,
        wireBytes: transfer.wireBytes
      }
    } catch (err) {
      throw this.failWith(transfer, err)
    }
  }

  /**
   * POSTs a JSON document (an ActivityPub delivery) with the same guard,
   * limits and counters as a fetch. Redirects are never followed: a 3xx is an
   * `http_status` error naming its Location. Resolves on a 2xx with the start
   * of the answer (at most `maxResponseBytes`; the POST took effect whatever
   * follows); any other status is an `http_status` error quoting the start of
   * the body.
   */
  async postJson (url: string, body: unknown, options: PostOptions = {}): Promise<PostResult> {
    const maxResponseBytes = positive('maxResponseBytes', options.maxResponseBytes ?? DEFAULT_POST_RESPONSE_BYTES)
    const bytes = Buffer.from(JSON.stringify(body), 'utf8')
    const hop: HopRequest = { method: 'POST', accept: ACTIVITYPUB_ACCEPT, sign: options.sign, body: bytes, contentType: options.contentType ?? 'application/activity+json' }
    const transfer = this.startTransfer(url, options.signal)
    try {
      const target = checkUrl(url, this.allowedPorts)
      const res = await this.openHop(target, transfer, hop)
      const status = res.statusCode ?? 0
      const finalUrl = target.url.href
      if (status >= 300 && status < 400) {
        const location = res.headers.location
        throw new FetchError('http_status', finalUrl, `the server answered ${status}${location == null || location === '' ? '' : ` redirecting to ${urlForMessage(location)}`}; a POST is not redirected`, { status })
      }
      if (status < 200 || status > 299) {
        const excerpt = (await readPrefix(transfer, res, finalUrl, REFUSAL_EXCERPT_CHARS * 4).catch(() => Buffer.alloc(0))).toString('utf8').slice(0, REFUSAL_EXCERPT_CHARS).trim()
        throw new FetchError('http_status', finalUrl, `the server answered ${status}${excerpt === '' ? '' : `: ${excerpt}`}`, { status })
      }
      const text = (await readPrefix(transfer, res, finalUrl, maxResponseBytes)).toString('utf8')
      transfer.complete()
      return { status, url: finalUrl, body: text }
    } catch (err) {
      throw this.failWith(transfer, err)
    }
  }

  /** Starts counting one fetch or POST, and adds it to `stats` when it ends. */
  private startTransfer (url: string, signal: AbortSignal | undefined): Transfer {
    this.stats.fetches++
    return new Transfer(url, this.timeoutMs, signal, (done, ok) => {
      if (!ok) this.stats.failures++
      this.stats.bytesReceived += done.bytesReceived
      this.stats.wireBytes += done.wireBytes
    })
  }

  private failWith (transfer: Transfer, err: unknown): FetchError {
    const error = transfer.failure ?? (err instanceof FetchError ? err : new FetchError('bad_response', transfer.currentUrl, errorMessage(err), { cause: err }))
    transfer.fail(error)
    return error
  }

  /** Checks the response head: encoding, announced length. Returns the Content-Length. */
  private checkHead (res: IncomingMessage, url: string, maxBytes: number): number | undefined {
    const encoding = res.headers['content-encoding']
    if (encoding != null && encoding.trim().toLowerCase() !== 'identity') {
      throw new FetchError('bad_response', url, `the body is '${encoding}'-encoded although the request asked for identity`)
    }
    const raw = res.headers['content-length']
    const contentLength = raw != null && /^\d+$/.test(raw) ? Number(raw) : undefined
    if (contentLength != null && contentLength > maxBytes) {
      throw new FetchError('too_large', url, `the server announced ${contentLength} bytes, more than the limit of ${maxBytes}`)
    }
    return contentLength
  }

  /** Follows redirects until a 200, checking every hop. */
  private async exchange (raw: string, hop: HopRequest, signal: AbortSignal | undefined): Promise<Exchange> {
    const transfer = this.startTransfer(raw, signal)
    const redirects: string[] = []
    try {
      let target = checkUrl(raw, this.allowedPorts)
      for (;;) {
        const res = await this.openHop(target, transfer, hop)
        const status = res.statusCode ?? 0
        if (REDIRECTS.has(status)) {
          const location = res.headers.location
          transfer.closeHop()
          if (location == null || location === '') {
            throw new FetchError('http_status', target.url.href, `the server answered ${status} without a Location`, { status })
          }
          if (redirects.length >= this.maxRedirects) {
            throw new FetchError('too_many_redirects', target.url.href, `more than ${this.maxRedirects} redirects`)
          }
          redirects.push(target.url.href)
          target = checkUrl(location, this.allowedPorts, target.url)
          continue
        }
        if (!OK.has(status)) {
          throw new FetchError('http_status', target.url.href, `the server answered ${status}`, { status })
        }
        return { transfer, target, res, redirects }
      }
    } catch (err) {
      let error = this.failWith(transfer, err)
      if (redirects.length > 0 && HOP_REFUSALS.has(error.code)) {
        error = new FetchError(error.code, error.url, `${error.reason} (redirected from ${urlForMessage(redirects[redirects.length - 1] ?? raw)})`, { cause: error.cause, status: error.status })
      }
      throw error
    }
  }

  /** Resolves a hop's host and checks every address; IP literals are checked as they are. */
  private async resolveChecked (target: Target, transfer: Transfer): Promise<ResolvedAddress[]> {
    const url = target.url.href
    let addresses: ResolvedAddress[]
    if (target.literal) {
      addresses = [{ address: target.host, family: isIP(target.host) === 6 ? 6 : 4 }]
    } else {
      try {
        addresses = await transfer.race(this.resolver(target.host))
      } catch (err) {
        throw transfer.failure ?? new FetchError('dns_failed', url, `${target.host} does not resolve (${errorCode(err) || errorMessage(err)})`, { cause: err })
      }
      if (!Array.isArray(addresses) || addresses.length === 0) {
        throw new FetchError('dns_failed', url, `${target.host} resolves to no address`)
      }
    }
    for (const entry of addresses) {
      const family = isIP(entry.address)
      if (family === 0 || family !== entry.family) {
        throw new FetchError('dns_failed', url, `${target.host} resolves to '${String(entry.address)}', not an IPv${entry.family} address`)
      }
      const verdict = this.policy.check(entry.address)
      if (!verdict.allowed) {
        const what = target.literal ? `${entry.address} is` : `${target.host} resolves to ${entry.address},`
        throw new FetchError('address_not_allowed', url, `${what} ${verdict.reason} (refused unless FDN_FETCH_ALLOW covers it)`)
      }
    }
    return addresses
  }

  /** Connects to a checked address of the hop and sends the request; resolves with the response head. */
  private async openHop (target: Target, transfer: Transfer, hop: HopRequest): Promise<IncomingMessage> {
    const url = target.url.href
    transfer.currentUrl = url
    if (transfer.failure != null) throw transfer.failure
    transfer.startConnectTimer(this.connectTimeoutMs)
    const addresses = await this.resolveChecked(target, transfer)
    if (transfer.failure != null) throw transfer.failure
    const headers: OutgoingHttpHeaders = {
      host: target.url.host,
      'user-agent': this.userAgent,
      accept: hop.accept,
      'accept-encoding': 'identity',
      connection: 'close',
      ...(hop.body == null ? {} : { 'content-type': hop.contentType, 'content-length': String(hop.body.length) })
    }
    if (hop.sign != null) {
      // signed headers go out exactly as signed, over the fetcher's own: `host` is the URL's host, which is what a signer signs
      const signed = hop.sign({ method: hop.method, url: target.url, body: hop.body })
      for (const [name, value] of Object.entries(signed)) headers[name.toLowerCase()] = value
    }
    const options = {
      host: target.host,
      port: target.port,
      method: hop.method,
      path: `${target.url.pathname}${target.url.search}`,
      headers,
      agent: false as const,
      lookup: pinnedLookup(addresses),
      insecureHTTPParser: false,
      ...(target.https && !target.literal ? { servername: target.host } : {}),
      ...(target.https && this.ca != null ? { ca: this.ca } : {})
    }
    const req = target.https ? httpsRequest(options) : httpRequest(options)
    transfer.req = req
    let reqCloseResolve: () => void = () => {}
    transfer.reqClosed = new Promise<void>(resolve => { reqCloseResolve = resolve })
    req.once('close', () => reqCloseResolve())
    let connected = false
    req.once('socket', (socket: Socket) => {
      transfer.addSocket(socket)
      const onConnected = (): void => { connected = true; transfer.connected() }
      if (target.https) socket.once('secureConnect', onConnected)
      else if (socket.connecting) socket.once('connect', onConnected)
      else onConnected()
    })
    const head = new Promise<IncomingMessage>((resolve, reject) => {
      req.on('error', (err: Error) => {
        if (transfer.failure != null) return
        const res = transfer.res
        if (res == null || transfer.req !== req) {
          reject(connected
            ? new FetchError('bad_response', url, `no valid response: ${errorMessage(err)}`, { cause: err })
            : new FetchError('connect_failed', url, `cannot connect: ${errorMessage(err)}`, { cause: err }))
        } else if (res.complete) {
          // The parser met bytes after a complete response: more than Content-Length.
          if (errorCode(err).startsWith('HPE_')) transfer.overflow = err
        } else {
          transfer.fail(new FetchError('bad_response', url, `the response broke off: ${errorMessage(err)}`, { cause: err }))
        }
      })
      req.once('response', (res: IncomingMessage) => {
        res.on('error', () => {})
        transfer.res = res
        resolve(res)
      })
    })
    req.end(hop.body)
    return await transfer.race(head)
  }
}

/**
 * Reads a body up to `maxBytes` and stops there: the answer to a POST, which
 * is informational (its status said whether the POST took effect).
 */
async function readPrefix (transfer: Transfer, res: IncomingMessage, url: string, maxBytes: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let length = 0
  const read = async (): Promise<void> => {
    for await (const chunk of res as AsyncIterable<Buffer>) {
      transfer.bytesReceived += chunk.length
      chunks.push(chunk)
      length += chunk.length
      if (length >= maxBytes) return
    }
  }
  try {
    await transfer.race(read())
  } catch (err) {
    throw transfer.failure ?? new FetchError('bad_response', url, `the body broke off: ${errorMessage(err)}`, { cause: err })
  }
  return Buffer.concat(chunks).subarray(0, maxBytes)
}

/** The body as an iterable that can be read once: the sniffed head, then the rest. */
function readOnce (head: Buffer, reader: BodyReader, transfer: Transfer, url: string): AsyncIterable<Uint8Array> {
  let used = false
  async function * chunks (): AsyncGenerator<Uint8Array> {
    let finished = false
    try {
      if (transfer.failure != null) throw transfer.failure
      if (head.length > 0) yield head
      for (let chunk = await reader.next(); chunk != null; chunk = await reader.next()) yield chunk
      finished = true
      transfer.complete()
    } finally {
      if (!finished) transfer.fail(new FetchError('aborted', url, 'the caller stopped reading the body'))
    }
  }
  return {
    [Symbol.asyncIterator] () {
      if (used) throw new Error(`the body of ${urlForMessage(url)} can be read once`)
      used = true
      return chunks()
    }
  }
}
