import type { FastifyError, FastifyInstance } from 'fastify'
import { FdnError } from '../protocol/errors.ts'
import type { ErrorBody, ErrorCode } from '../protocol/errors.ts'

/** HTTP status of each error code on the JSON surfaces (gateway, admin API). */
const STATUS: Record<ErrorCode, number> = {
  invalid_cid: 400,
  invalid_path: 400,
  invalid_request: 400,
  invalid_range: 416,
  not_found: 404,
  unauthorized: 401,
  too_large: 413,
  aborted: 400,
  insufficient_storage: 507,
  corrupt_block: 502,
  unavailable: 503,
  internal: 500
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
  app.setErrorHandler((err: FastifyError | FdnError | Error, request, reply) => {
    // headers meant for the content must not make a CDN keep an error for a year
    for (const name of ['etag', 'content-disposition', 'content-length', 'accept-ranges', 'x-ipfs-roots']) reply.removeHeader(name)
    reply.header('cache-control', 'no-store')
    if (err instanceof FdnError) {
      const status = STATUS[err.code]
      if (status >= 500) request.log.error({ err }, err.message)
      return reply.code(status).send(errorBody(err.code, err.message))
    }
    const status = (err as FastifyError).statusCode
    if (status != null && status >= 400 && status < 500) {
      const code: ErrorCode = status === 413 ? 'too_large' : status === 401 ? 'unauthorized' : 'invalid_request'
      return reply.code(status).send(errorBody(code, err.message))
    }
    request.log.error({ err }, 'unhandled error')
    return reply.code(500).send(errorBody('internal', 'internal error'))
  })
  app.setNotFoundHandler((request, reply) => {
    return reply.code(404).send(errorBody('not_found', `no route for ${request.method} ${request.url.split('?')[0]}`))
  })
}
