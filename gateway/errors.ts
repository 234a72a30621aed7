import { STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { SAFETY_HEADERS } from './public/safety.ts'
import { FdnError } from '../protocol/errors.ts'
import type { ErrorBody, ErrorCode } from '../protocol/errors.ts'

/** HTTP status of each error code on the JSON surfaces (gateway, admin API). */
const STATUS: Record<ErrorCode, number> = {
  invalid_cid: 400,
  invalid_path: 400,
  invalid_request: 400,
  invalid_range: 416,
  not_found: 404,
  gone: 410,
  no_such_bucket: 404,
  no_such_key: 404,
  no_such_upload: 404,
  key_too_long: 400,
  quota_exceeded: 403,
  conflict: 409,
  precondition_failed: 412,
  not_modified: 304,
  invalid_part: 400,
  invalid_part_order: 400,
  entity_too_small: 400,
  forbidden: 403,
  unauthorized: 401,
  too_large: 413,
  aborted: 400,
  insufficient_storage: 507,
  corrupt_block: 502,
  unavailable: 503,
  fetch_timeout: 504,
  internal: 500,
  // the retrieve API: the client's input
  invalid_digest: 400,
  digest_mismatch: 422,
  invalid_access_key: 403,
  signature_mismatch: 403,
  request_time_skewed: 403,
  // the retrieve API: the origin's URL, refused by the fetcher before any byte is sent
  bad_url: 400,
  scheme_not_allowed: 400,
  userinfo_not_allowed: 400,
  port_not_allowed: 400,
  address_not_allowed: 403,
  // the retrieve API: the origin server failed (a bad gateway) or was too slow
  dns_failed: 502,
  connect_failed: 502,
  bad_response: 502,
  http_status: 502,
  length_mismatch: 502,
  too_many_redirects: 502,
  invalid_json: 502,
  connect_timeout: 504,
  timeout: 504,
  media_type_not_allowed: 415
}

/** Codes that stand for a fault of this node (logged as errors); other 5xx are a peer's or an origin's. */
const NODE_FAULTS = new Set<ErrorCode>(['internal', 'corrupt_block', 'insufficient_storage'])

/** A blob the swarm did not deliver in time may be there on a later try: when to ask again. */
const RETRY_AFTER_SECONDS = 30

/** The HTTP status a code is answered with on the JSON surfaces. */
export function jsonStatus (code: ErrorCode): number {
  return STATUS[code]
}

export function errorBody (code: ErrorCode, message: string): ErrorBody {
  return { error: { code, message } }
}

/**
 * The one place where errors become HTTP responses on the JSON surfaces:
 * typed errors keep their code, fastify's own (bad JSON, oversize body) are
 * translated, anything else is a logged 500 that leaks nothing.
 */
export function installErrorHandler (app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | FdnError | Error, request, reply) => sendJsonError(err, request, reply))
  app.setNotFoundHandler((request, reply) => {
    reply.headers(SAFETY_HEADERS)
    reply.header('cache-control', 'no-store')
    return reply.code(404).send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`))
  })
}

/**
 * Whether an error is the client hanging up before the end of its body (the
 * request stream's `aborted`/ECONNRESET, or a pipeline's premature close):
 * the client's doing, answered as `aborted` if at all, never a node fault.
 */
export function isClientGone (err: unknown): boolean {
  const errno = (err as NodeJS.ErrnoException | undefined)?.code
  return errno === 'ECONNRESET' || errno === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error | undefined)?.message === 'aborted'
}

/** Fastify's refusals whose own message does not say what was wrong. */
const FASTIFY_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'the Content-Type header is not a media type this route takes',
  FST_ERR_CTP_BODY_TOO_LARGE: 'the request body is larger than this route takes'
}

/** Answers an error as JSON (`ErrorBody`), with the status of its code. */
export function sendJsonError (thrown: FastifyError | FdnError | Error, request: FastifyRequest, reply: FastifyReply): FastifyReply {
  // headers meant for the content must not make a CDN keep an error for a year
  for (const name of ['etag', 'content-disposition', 'content-length', 'accept-ranges', 'x-ipfs-roots']) reply.removeHeader(name)
  reply.header('cache-control', 'no-store')
  const err = !(thrown instanceof FdnError) && isClientGone(thrown)
    ? new FdnError('aborted', 'the request ended before the end of its body: nothing was kept', { cause: thrown })
    : thrown
  if (err instanceof FdnError) {
    const status = jsonStatus(err.code)
    if (err.code === 'fetch_timeout') reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    else if (NODE_FAULTS.has(err.code)) request.log.error({ err }, err.message)
    return reply.code(status).send(errorBody(err.code, err.message))
  }
  const status = (err as FastifyError).statusCode
  if (status != null && status >= 400 && status < 500) {
    const code: ErrorCode = status === 413 ? 'too_large' : status === 401 ? 'unauthorized' : 'invalid_request'
    return reply.code(status).send(errorBody(code, FASTIFY_MESSAGES[(err as FastifyError).code] ?? err.message))
  }
  request.log.error({ err }, 'unhandled error')
  return reply.code(500).send(errorBody('internal', 'internal error'))
}

/**
 * Fastify's `frameworkErrors`: requests its router refuses before any route
 * runs (a bad percent-encoding, an over-long path segment) get the same JSON
 * error body and serving-safety headers as every other error, never fastify's
 * own shape.
 */
export function frameworkErrors (err: FastifyError, _request: FastifyRequest, reply: FastifyReply): void {
  reply.headers(SAFETY_HEADERS)
  reply.header('cache-control', 'no-store')
  const status = err.statusCode != null && err.statusCode >= 400 && err.statusCode < 500 ? err.statusCode : 400
  void reply.code(status).send(errorBody(err.code === 'FST_ERR_BAD_URL' ? 'invalid_path' : 'invalid_request', err.message))
}

/**
 * Fastify's `clientErrorHandler`: an HTTP request node cannot even parse
 * (headers over the limit, garbage) is answered on the raw socket, still with
 * a JSON error body, then the connection is closed.
 */
export function clientErrorHandler (maxHeaderBytes: number): (err: Error & { code?: string }, socket: Socket) => void {
  return (err, socket) => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return
    const [status, code, message]: [number, ErrorCode, string] = err.code === 'HPE_HEADER_OVERFLOW'
      ? [431, 'invalid_request', `request headers exceed the ${maxHeaderBytes} byte limit`]
      : err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? [408, 'invalid_request', 'the request was not received in time']
        : err.code === 'HPE_INVALID_EOF_STATE'
          ? [400, 'aborted', 'the request ended before the end of its body: nothing was kept']
          : [400, 'invalid_request', 'malformed HTTP request']
    const body = JSON.stringify(errorBody(code, message))
    const headers = {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(Buffer.byteLength(body)),
      'cache-control': 'no-store',
      ...SAFETY_HEADERS,
      connection: 'close'
    }
    if (socket.writable) {
      socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`)
    }
    socket.destroy(err)
  }
}
