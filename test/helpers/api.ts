/**
 * A client of the retrieve API (`/api/v1/…`) as an instance would write it:
 * requests signed with the tenant's S3 credentials by the AWS SDK's own
 * SigV4 signer (service `s3`), sent with fetch.
 */
import { createHash } from 'node:crypto'
import { Hash } from '@smithy/hash-node'
import { SignatureV4 } from '@smithy/signature-v4'
import type { RetrieveRequest } from '../../protocol/retrieve-api.ts'

export interface ApiCredentials {
  accessKeyId: string
  secretAccessKey: string
}

export interface ApiAnswer {
  status: number
  headers: Headers
  text: string
  /** The parsed body, when it is JSON. */
  json: unknown
}

export interface ApiRequestOptions {
  method: string
  /** Path and query, e.g. `/api/v1/retrieve`. */
  path: string
  body?: Uint8Array | string
  headers?: Record<string, string>
  /** Sign `UNSIGNED-PAYLOAD` instead of the body's SHA-256. */
  unsignedPayload?: boolean
  signal?: AbortSignal
}

function signerFor (credentials: ApiCredentials): SignatureV4 {
  return new SignatureV4({ service: 's3', region: 'us-east-1', credentials, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: true })
}

/** Signs and sends one request; never throws on an HTTP error status. */
export async function apiRequest (baseUrl: string, credentials: ApiCredentials, options: ApiRequestOptions): Promise<ApiAnswer> {
  const url = new URL(options.path, baseUrl)
  const body = typeof options.body === 'string' ? Buffer.from(options.body) : options.body
  const headers: Record<string, string> = {
    host: url.host,
    'x-amz-content-sha256': options.unsignedPayload === true ? 'UNSIGNED-PAYLOAD' : createHash('sha256').update(body ?? new Uint8Array()).digest('hex'),
    ...options.headers
  }
  const query: Record<string, string> = {}
  for (const [name, value] of url.searchParams) query[name] = value
  const signed = await signerFor(credentials).sign({
    method: options.method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: url.port === '' ? undefined : Number(url.port),
    path: url.pathname,
    query,
    headers,
    ...(body != null ? { body } : {})
  })
  const sent = { ...signed.headers as Record<string, string> }
  delete sent.host
  const response = await fetch(url, { method: options.method, headers: sent, ...(body != null ? { body } : {}), ...(options.signal != null ? { signal: options.signal } : {}) })
  const text = await response.text()
  let json: unknown
  try { json = JSON.parse(text) } catch { json = undefined }
  return { status: response.status, headers: response.headers, text, json }
}

/** `POST /api/v1/retrieve`. */
export async function retrieve (baseUrl: string, credentials: ApiCredentials, request: RetrieveRequest | Record<string, unknown>, signal?: AbortSignal): Promise<ApiAnswer> {
  return await apiRequest(baseUrl, credentials, {
    method: 'POST',
    path: '/api/v1/retrieve',
    body: JSON.stringify(request),
    headers: { 'content-type': 'application/json' },
    ...(signal != null ? { signal } : {})
  })
}

/** The `code` of a JSON error body, or undefined. */
export function errorCode (answer: ApiAnswer): string | undefined {
  const body = answer.json as { error?: { code?: unknown } } | undefined
  return typeof body?.error?.code === 'string' ? body.error.code : undefined
}
