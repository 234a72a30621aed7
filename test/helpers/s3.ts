/**
 * Helpers of the S3 suites: tenants made through the admin API, clients
 * pointed at a daemon (the AWS SDK v3 with its default checksum behaviour,
 * and Debian's awscli v2, installed here when missing), and raw SigV4
 * requests for what no client would send.
 */
import { execFile, execFileSync } from 'node:child_process'
import { createHash, createHmac } from 'node:crypto'
import { existsSync } from 'node:fs'
import { request as httpRequest } from 'node:http'
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { S3Client } from '@aws-sdk/client-s3'
import { Hash } from '@smithy/hash-node'
import { SignatureV4 } from '@smithy/signature-v4'
import { adminFetch, tempDir } from './daemon.ts'
import type { RunningDaemon } from './daemon.ts'

export interface Tenant {
  name: string
  bucket: string
  accessKeyId: string
  secretAccessKey: string
}

/** Creates a tenant through the admin API (`POST /admin/v1/tenants`). */
export async function createTenant (daemon: RunningDaemon, name: string, extra: Record<string, unknown> = {}): Promise<Tenant> {
  const response = await adminFetch(daemon, '/admin/v1/tenants', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name, ...extra })
  })
  if (response.status !== 201) throw new Error(`creating tenant ${name}: ${response.status} ${await response.text()}`)
  return await response.json() as Tenant
}

/** The SDK error a request failed with: its S3 code (as the error's name) and HTTP status. */
export async function errorOf (promise: Promise<unknown>): Promise<{ name: string, status: number | undefined }> {
  try {
    await promise
  } catch (err) {
    return { name: (err as Error).name, status: (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode }
  }
  throw new Error('expected the request to fail')
}

export interface NodeStatus {
  logicalBytes: number
  physicalBytes: number
  [name: string]: unknown
}

export async function nodeStatus (daemon: RunningDaemon): Promise<NodeStatus> {
  const response = await adminFetch(daemon, '/admin/v1/status')
  if (!response.ok) throw new Error(`status: ${response.status} ${await response.text()}`)
  return await response.json() as NodeStatus
}

/** An SDK v3 client for a tenant: path-style, us-east-1, default (WHEN_SUPPORTED) checksums. */
export function s3Client (daemon: RunningDaemon, tenant: Pick<Tenant, 'accessKeyId' | 'secretAccessKey'>, options: { endpoint?: string, forcePathStyle?: boolean } = {}): S3Client {
  return new S3Client({
    endpoint: options.endpoint ?? daemon.http,
    region: 'us-east-1',
    forcePathStyle: options.forcePathStyle ?? true,
    credentials: { accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey },
    // the suites expect errors, not retries of them
    maxAttempts: 1
  })
}

/** A SigV4 signer for hand-built requests. */
export function signer (tenant: Pick<Tenant, 'accessKeyId' | 'secretAccessKey'>): SignatureV4 {
  return new SignatureV4({
    service: 's3',
    region: 'us-east-1',
    credentials: { accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey },
    sha256: Hash.bind(null, 'sha256'),
    uriEscapePath: false
  })
}

export const AWS = '/usr/bin/aws'

/**
 * Debian's awscli v2 at /usr/bin/aws, installed with apt-get when missing.
 * Fails (never skips) when it cannot be installed. An unrelated `aws` may be
 * first on PATH: the suites always run /usr/bin/aws itself.
 */
export function ensureAwsCli (): string {
  if (!existsSync(AWS)) {
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
    try {
      execFileSync('apt-get', ['install', '-y', 'awscli'], { env, stdio: 'pipe', timeout: 300_000 })
    } catch {
      try {
        execFileSync('apt-get', ['update'], { env, stdio: 'pipe', timeout: 300_000 })
        execFileSync('apt-get', ['install', '-y', 'awscli'], { env, stdio: 'pipe', timeout: 300_000 })
      } catch (err) {
        throw new Error(`awscli is needed at ${AWS} and could not be installed with apt-get: ${(err as Error).message}`)
      }
    }
    if (!existsSync(AWS)) throw new Error(`apt-get install awscli did not provide ${AWS}`)
  }
  return AWS
}

export interface AwsCli {
  run: (args: string[], options?: { input?: string }) => Promise<{ code: number, stdout: string, stderr: string }>
  /** Runs and fails on a non-zero exit; returns stdout. */
  ok: (args: string[]) => Promise<string>
  /** Runs `s3api …` and parses its JSON output. */
  json: <T = Record<string, unknown>>(args: string[]) => Promise<T>
}

/** awscli for a tenant, with its own config and credentials files (nothing from the environment or ~/.aws). */
export async function awsCli (daemon: RunningDaemon, tenant: Tenant, endpoint = daemon.http): Promise<AwsCli> {
  const bin = ensureAwsCli()
  const dir = await tempDir('fdn-awscli-')
  const config = path.join(dir, 'config')
  const credentials = path.join(dir, 'credentials')
  await writeFile(config, '[default]\nregion = us-east-1\noutput = json\ns3 =\n  addressing_style = path\n')
  await writeFile(credentials, `[default]\naws_access_key_id = ${tenant.accessKeyId}\naws_secret_access_key = ${tenant.secretAccessKey}\n`)
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: dir,
    AWS_CONFIG_FILE: config,
    AWS_SHARED_CREDENTIALS_FILE: credentials,
    AWS_MAX_ATTEMPTS: '1',
    AWS_PAGER: '',
    AWS_EC2_METADATA_DISABLED: 'true'
  }
  const run = async (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> => await new Promise((resolve) => {
    execFile(bin, [...args, '--endpoint-url', endpoint], { env, maxBuffer: 64 * 1024 * 1024, timeout: 60_000, encoding: 'utf8' }, (error, stdout, stderr) => {
      resolve({ code: error == null ? 0 : typeof error.code === 'number' ? error.code : 1, stdout, stderr })
    })
  })
  const ok = async (args: string[]): Promise<string> => {
    const result = await run(args)
    if (result.code !== 0) throw new Error(`aws ${args.join(' ')} exited ${result.code}:\n${result.stderr}${result.stdout}`)
    return result.stdout
  }
  return {
    run,
    ok,
    json: async <T>(args: string[]): Promise<T> => {
      const out = await ok(args)
      return (out.trim() === '' ? {} : JSON.parse(out)) as T
    }
  }
}

/** The text of an S3 XML error element (`Code`, `Message`…). */
export function xmlField (xml: string, name: string): string | undefined {
  return new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml)?.[1]
}

export interface SignedRequestOptions {
  method: string
  /** the path as it goes on the wire (already percent-encoded) */
  path: string
  query?: Record<string, string>
  headers?: Record<string, string>
  /** the payload hash to sign; the SHA-256 of `body` by default */
  contentSha256?: string
  body?: Uint8Array
  /** Host header (and signed host) when not the daemon's own */
  host?: string
  date?: Date
}

export interface SignedRequest {
  url: string
  headers: Record<string, string>
  /** for aws-chunked bodies: the seed signature and the signing material */
  signature: string
  amzDate: string
  scope: string
  signingKey: Buffer
}

/** Signs a request with SigV4 (header authentication) as an S3 client would, for hand-built requests. */
export async function signRequest (daemon: RunningDaemon, tenant: Pick<Tenant, 'accessKeyId' | 'secretAccessKey'>, options: SignedRequestOptions): Promise<SignedRequest> {
  const base = new URL(daemon.http)
  const host = options.host ?? base.host
  const date = options.date ?? new Date()
  const contentSha256 = options.contentSha256 ?? createHash('sha256').update(options.body ?? new Uint8Array()).digest('hex')
  const headers: Record<string, string> = { host, 'x-amz-content-sha256': contentSha256, ...options.headers }
  const signed = await signer(tenant).sign({
    method: options.method,
    protocol: 'http:',
    hostname: host.replace(/:\d+$/, ''),
    ...(host.includes(':') ? { port: Number(host.split(':').at(-1)) } : {}),
    path: options.path,
    query: options.query ?? {},
    headers
  }, { signingDate: date })
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(signed.headers)) out[name.toLowerCase()] = String(value)
  const signature = /Signature=([0-9a-f]{64})/.exec(out.authorization ?? '')?.[1] ?? ''
  const amzDate = out['x-amz-date']!
  const scope = `${amzDate.slice(0, 8)}/us-east-1/s3/aws4_request`
  const query = new URLSearchParams(options.query ?? {}).toString().replace(/\+/g, '%20')
  return {
    url: `${daemon.http}${options.path}${query === '' ? '' : `?${query}`}`,
    headers: out,
    signature,
    amzDate,
    scope,
    signingKey: signingKeyOf(tenant.secretAccessKey, amzDate.slice(0, 8))
  }
}

function signingKeyOf (secret: string, date: string): Buffer {
  let key = createHmac('sha256', `AWS4${secret}`).update(date).digest()
  for (const part of ['us-east-1', 's3', 'aws4_request']) key = createHmac('sha256', key).update(part).digest()
  return key
}

const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

/**
 * An aws-chunked body (STREAMING-AWS4-HMAC-SHA256-PAYLOAD, or unsigned with
 * `signed: false`), in chunks of `chunkSize`, with optional trailers. `tamper`
 * changes the signature of the chunk at that index.
 */
export function awsChunked (request: SignedRequest, data: Uint8Array, options: { chunkSize?: number, signed?: boolean, trailers?: Record<string, string>, tamper?: number } = {}): Buffer {
  const size = options.chunkSize ?? 64 * 1024
  const signed = options.signed ?? true
  const out: Buffer[] = []
  let previous = request.signature
  const sign = (chunk: Uint8Array): string => {
    const toSign = `AWS4-HMAC-SHA256-PAYLOAD\n${request.amzDate}\n${request.scope}\n${previous}\n${EMPTY_SHA256}\n${createHash('sha256').update(chunk).digest('hex')}`
    previous = createHmac('sha256', request.signingKey).update(toSign).digest('hex')
    return previous
  }
  const chunks: Uint8Array[] = []
  for (let i = 0; i < data.length; i += size) chunks.push(data.subarray(i, i + size))
  chunks.push(new Uint8Array())
  chunks.forEach((chunk, index) => {
    let extension = ''
    if (signed) {
      let signature = sign(chunk)
      if (options.tamper === index) signature = signature.replace(/^./, (c) => c === '0' ? '1' : '0')
      extension = `;chunk-signature=${signature}`
    }
    out.push(Buffer.from(`${chunk.length.toString(16)}${extension}\r\n`), Buffer.from(chunk))
    if (chunk.length > 0) out.push(Buffer.from('\r\n'))
  })
  for (const [name, value] of Object.entries(options.trailers ?? {})) out.push(Buffer.from(`${name}:${value}\r\n`))
  out.push(Buffer.from('\r\n'))
  return Buffer.concat(out)
}

export interface HttpAnswer {
  status: number
  headers: Record<string, string>
  body: Buffer
}

/** One request with node:http (which, unlike fetch, sends the Host header it is given). */
export async function httpSend (url: string, options: { method: string, headers?: Record<string, string>, body?: Uint8Array }): Promise<HttpAnswer> {
  return await new Promise((resolve, reject) => {
    const request = httpRequest(url, { method: options.method, headers: options.headers ?? {} }, (response) => {
      const chunks: Buffer[] = []
      response.on('data', (chunk: Buffer) => chunks.push(chunk))
      response.on('end', () => {
        const headers: Record<string, string> = {}
        for (const [name, value] of Object.entries(response.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value
        resolve({ status: response.statusCode ?? 0, headers, body: Buffer.concat(chunks) })
      })
      response.on('error', reject)
    })
    request.on('error', reject)
    request.end(options.body === undefined ? undefined : Buffer.from(options.body))
  })
}
