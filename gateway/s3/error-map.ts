/**
 * The one place where errors become S3 answers: S3Errors pass through, the
 * node's FdnErrors (ObjectStoreApi, MediaStore) get their S3 code, fastify's
 * refusals of a request (a Content-Type that is no media type…) are client
 * errors, anything else is a logged InternalError that leaks nothing.
 */
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { FdnError } from '../../protocol/errors.ts'
import type { ErrorCode } from '../../protocol/errors.ts'
import { isClientGone } from '../errors.ts'
import { dropBody, lingerOnClose } from '../refused-body.ts'
import { S3Error, s3Error, s3ErrorXml } from './errors.ts'
import type { S3ErrorCode } from './errors.ts'

/** The node's error codes the S3 operations can meet (the retrieve API's own codes never reach S3). */
const FROM_FDN: Partial<Record<ErrorCode, S3ErrorCode>> = {
  no_such_bucket: 'NoSuchBucket',
  no_such_key: 'NoSuchKey',
  not_found: 'NoSuchKey',
  no_such_upload: 'NoSuchUpload',
  quota_exceeded: 'QuotaExceeded',
  too_large: 'EntityTooLarge',
  insufficient_storage: 'InsufficientStorage',
  invalid_part: 'InvalidPart',
  invalid_part_order: 'InvalidPartOrder',
  entity_too_small: 'EntityTooSmall',
  key_too_long: 'KeyTooLongError',
  invalid_request: 'InvalidRequest',
  invalid_cid: 'InvalidArgument',
  invalid_path: 'InvalidArgument',
  invalid_range: 'InvalidRange',
  aborted: 'IncompleteBody',
  precondition_failed: 'PreconditionFailed',
  not_modified: 'NotModified',
  conflict: 'OperationAborted',
  forbidden: 'AccessDenied',
  unauthorized: 'AccessDenied',
  corrupt_block: 'InternalError',
  unavailable: 'ServiceUnavailable',
  fetch_timeout: 'ServiceUnavailable',
  internal: 'InternalError'
}

/** The S3 error an error thrown anywhere below the S3 routes stands for. */
export function toS3Error (err: unknown): S3Error {
  if (err instanceof S3Error) return err
  if (err instanceof FdnError) {
    const code = FROM_FDN[err.code] ?? 'InternalError'
    // internal details of a 5xx stay in the log
    return code === 'InternalError' || code === 'ServiceUnavailable' ? s3Error(code) : s3Error(code, err.message)
  }
  const refused = fromFastify(err as FastifyError | undefined)
  if (refused !== undefined) return refused
  if (isClientGone(err)) return s3Error('IncompleteBody', 'The request ended before the end of its body: nothing was kept.')
  return s3Error('InternalError')
}

/**
 * A request fastify refused before any S3 code ran (it says so with a 4xx
 * `statusCode`): the client's mistake in S3's words. S3 has no 415, so a
 * Content-Type that is not one media type (`a/b, c/d`) is InvalidArgument.
 */
function fromFastify (err: FastifyError | undefined): S3Error | undefined {
  const status = err?.statusCode
  if (err === undefined || typeof err.code !== 'string' || !err.code.startsWith('FST_') || status === undefined || status < 400 || status >= 500) return undefined
  switch (err.code) {
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return s3Error('InvalidArgument', 'The Content-Type header is not a valid media type.', { ArgumentName: 'Content-Type' })
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return s3Error('EntityTooLarge')
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH':
      return s3Error('IncompleteBody')
    default:
      return s3Error('InvalidRequest', err.message)
  }
}

/** Codes that stand for a fault of this node, logged as errors; NotImplemented and a swarm's delay are not. */
const NODE_FAULTS = new Set<S3ErrorCode>(['InternalError', 'InsufficientStorage'])

/** Response headers that describe content: an error must not carry them. */
const CONTENT_HEADERS = ['etag', 'last-modified', 'content-length', 'content-disposition', 'content-encoding', 'content-language',
  'expires', 'accept-ranges', 'x-amz-version-id', 'x-amz-mp-parts-count', 'x-amz-storage-class']

/**
 * Answers an error as S3 does: the XML body (none for HEAD, nor for 304),
 * never cached. A 304 keeps its validators; a 416 keeps `Content-Range`.
 */
export async function sendS3Error (err: unknown, request: FastifyRequest, reply: FastifyReply, where: { resource: string, requestId: string }): Promise<unknown> {
  const s3 = toS3Error(err)
  if (NODE_FAULTS.has(s3.code)) request.log.error({ err }, `S3 ${s3.code}`)
  else if (!(err instanceof S3Error) && !(err instanceof FdnError) && !isClientGone(err) && fromFastify(err as FastifyError) === undefined) request.log.warn({ err }, `S3 ${s3.code}`)
  finishUnreadBody(request, reply)
  if (s3.code === 'NotModified') {
    for (const name of ['content-length', 'content-range', 'content-disposition', 'accept-ranges']) reply.removeHeader(name)
    return await reply.code(304).send()
  }
  for (const name of CONTENT_HEADERS) reply.removeHeader(name)
  if (s3.code !== 'InvalidRange') reply.removeHeader('content-range')
  for (const name of Object.keys(reply.getHeaders())) if (name.startsWith('x-amz-meta-') || name.startsWith('x-amz-checksum-')) reply.removeHeader(name)
  reply.header('cache-control', 'no-store')
  reply.code(s3.status)
  if (request.method === 'HEAD') return await reply.send()
  reply.header('content-type', 'application/xml')
  return await reply.send(s3ErrorXml(s3, where.resource, where.requestId))
}

/** Up to this many unread body bytes are read and dropped, so the connection can serve the next request. */
const DRAIN_LIMIT = 1024 * 1024

/**
 * An error answered before the whole request body was read leaves the rest
 * on the wire. Small remainders are read and dropped (keep-alive goes on);
 * larger ones close the connection after the answer, still reading and
 * dropping what arrives meanwhile, so the client reads the error rather than
 * a reset.
 */
export function finishUnreadBody (request: FastifyRequest, reply: FastifyReply): void {
  const raw = request.raw
  if (raw.complete || raw.destroyed) return
  const declared = Number(raw.headers['content-length'] ?? NaN)
  if (!(declared <= DRAIN_LIMIT)) {
    reply.header('connection', 'close')
    lingerOnClose(raw.socket)
  }
  dropBody(raw)
}
