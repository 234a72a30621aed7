/**
 * The one place where errors become S3 answers: S3Errors pass through, the
 * node's FdnErrors (ObjectStoreApi, MediaStore) get their S3 code, anything
 * else is a logged InternalError that leaks nothing.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { FdnError } from '../../protocol/errors.ts'
import type { ErrorCode } from '../../protocol/errors.ts'
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
  const errno = (err as NodeJS.ErrnoException | undefined)?.code
  if (errno === 'ECONNRESET' || errno === 'ERR_STREAM_PREMATURE_CLOSE' || (err as Error | undefined)?.message === 'aborted') {
    return s3Error('IncompleteBody', 'The request ended before the end of its body: nothing was kept.')
  }
  return s3Error('InternalError')
}

/** Response headers that describe content: an error must not carry them. */
const CONTENT_HEADERS = ['etag', 'last-modified', 'content-length', 'content-disposition', 'content-encoding', 'content-language',
  'expires', 'accept-ranges', 'x-amz-version-id', 'x-amz-mp-parts-count', 'x-amz-storage-class']

/**
 * Answers an error as S3 does: the XML body (none for HEAD, nor for 304),
 * never cached. A 304 keeps its validators; a 416 keeps `Content-Range`.
 */
export async function sendS3Error (err: unknown, request: FastifyRequest, reply: FastifyReply, where: { resource: string, requestId: string }): Promise<unknown> {
  const s3 = toS3Error(err)
  if (s3.status >= 500) request.log.error({ err }, `S3 ${s3.code}`)
  else if (!(err instanceof S3Error) && !(err instanceof FdnError)) request.log.warn({ err }, `S3 ${s3.code}`)
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
  if (!(declared <= DRAIN_LIMIT)) reply.header('connection', 'close')
  raw.resume()
}
