/**
 * Who calls the retrieve API: a tenant, by its S3 credentials. Requests are
 * signed as S3 requests are (AWS SigV4, service `s3`, header or presigned),
 * so any S3 SDK's signer works; the checks are the S3 API's own.
 */
import type { FastifyRequest } from 'fastify'
import type { ObjectStoreApi } from '../../node/objects/object-store-api.ts'
import { FdnError } from '../../protocol/errors.ts'
import { requestAuthKind, verifiedBody } from '../s3/auth/index.ts'
import type { VerifiedBody } from '../s3/auth/index.ts'
import { verifyTenantRequest } from '../s3/caller.ts'
import type { Caller } from '../s3/caller.ts'
import { wireUrl } from '../s3/context.ts'

/** Verifies the request's signature; FdnError unauthorized (none), or the S3 checks' errors (mapped by error-map.ts). */
export async function authenticate (request: FastifyRequest, objects: ObjectStoreApi): Promise<Caller> {
  const url = wireUrl(request.raw)
  const q = url.indexOf('?')
  const signed = { method: request.method, rawPath: q === -1 ? url : url.slice(0, q), rawQuery: q === -1 ? '' : url.slice(q + 1), headers: request.headers }
  if (requestAuthKind(signed) === 'none') {
    throw new FdnError('unauthorized', 'the retrieve API needs a request signed with the tenant\'s S3 credentials (AWS SigV4, service s3)')
  }
  return await verifyTenantRequest(signed, objects)
}

/**
 * The request body as signed: the payload hash, Content-Length and
 * aws-chunked framing checked while it streams. `source`: the body as the
 * upload gate hands it out (s3/uploads.ts).
 */
export function signedBody (source: AsyncIterable<Uint8Array>, request: FastifyRequest, caller: Caller, maxSize: number, objectHashesFromConsumer = false): VerifiedBody {
  return verifiedBody(source, caller.auth, request.headers, { maxSize, objectHashesFromConsumer })
}

/** A small signed body (a JSON document), read whole. */
export async function smallSignedBody (source: AsyncIterable<Uint8Array>, request: FastifyRequest, caller: Caller, maxSize: number): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  for await (const chunk of signedBody(source, request, caller, maxSize)) chunks.push(chunk)
  return Buffer.concat(chunks)
}
