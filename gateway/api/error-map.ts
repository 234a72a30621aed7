/**
 * The one place where the retrieve API's errors get their code: the SigV4
 * and body checks it shares with the S3 API throw S3Errors, which become the
 * JSON surface's codes here; the node's FdnErrors pass through.
 */
import type { FastifyBaseLogger } from 'fastify'
import { FetchError, publicMessage } from '../../node/fetcher/errors.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { ErrorCode } from '../../protocol/errors.ts'
import { S3Error } from '../s3/errors.ts'
import type { S3ErrorCode } from '../s3/errors.ts'

const FROM_S3: Partial<Record<S3ErrorCode, ErrorCode>> = {
  AccessDenied: 'forbidden',
  InvalidAccessKeyId: 'invalid_access_key',
  SignatureDoesNotMatch: 'signature_mismatch',
  RequestTimeTooSkewed: 'request_time_skewed',
  XAmzContentSHA256Mismatch: 'signature_mismatch',
  EntityTooLarge: 'too_large',
  IncompleteBody: 'aborted',
  InvalidChunkSizeError: 'invalid_request',
  // the upload limits (s3/uploads.ts): 503 with Retry-After, and a stalled body
  SlowDown: 'unavailable',
  RequestTimeout: 'invalid_request',
  InternalError: 'internal'
}

/**
 * The API's error for anything thrown below its routes; other errors pass
 * unchanged to sendJsonError, which answers fastify's refusals and a client's
 * hang-up as 4xx and anything else as a logged 500. An origin the fetcher
 * refused is answered without what the node's network said about its host;
 * that goes to the log (info).
 */
export function toApiError (err: unknown, log: FastifyBaseLogger): unknown {
  if (err instanceof FdnError && err.cause instanceof FetchError) {
    const message = publicMessage(err.cause)
    if (message === err.message) return err
    log.info({ url: err.cause.url, code: err.code, reason: err.cause.reason }, 'retrieve: the origin was refused')
    return new FdnError(err.code, message, { cause: err.cause })
  }
  if (!(err instanceof S3Error)) return err
  return new FdnError(FROM_S3[err.code] ?? 'invalid_request', err.message, { cause: err })
}
