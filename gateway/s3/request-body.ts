/**
 * Request bodies of the S3 routes: streamed straight from the socket,
 * verified on the way (auth/body.ts), never buffered except the small XML
 * documents of a few operations.
 */
import type { FastifyRequest } from 'fastify'
import { verifiedBody } from './auth/index.ts'
import type { AuthResult, VerifiedBody } from './auth/index.ts'
import { s3Error } from './errors.ts'

/**
 * The raw body as an async iterable that does not destroy the request when a
 * reader stops early: a refused body must leave the socket able to carry the
 * error answer (error-map.ts then drains or closes it).
 */
export function rawBody (request: FastifyRequest): AsyncIterable<Uint8Array> {
  return request.raw.iterator({ destroyOnReturn: false })
}

/**
 * The verified object bytes of a request (EntityTooLarge past `maxSize`).
 * The store hashes them (SHA-256 for the CID, MD5 for the ETag), so the
 * payload hash and Content-MD5 are checked against its digests: pass
 * `body.checkObjectHashes` as the store's `verify`, which runs before the
 * index batch.
 */
export function objectBody (request: FastifyRequest, auth: AuthResult, maxSize: number): VerifiedBody {
  return verifiedBody(rawBody(request), auth, request.headers, { maxSize, objectHashesFromConsumer: true })
}

/** Aborted when the client goes away before its request is complete. */
export function clientGone (request: FastifyRequest): AbortSignal {
  const controller = new AbortController()
  request.raw.once('close', () => { if (!request.raw.complete) controller.abort() })
  return controller.signal
}

/** XML request documents are small: DeleteObjects of 1000 keys of 1024 bytes, escaped, stays well under this. */
const MAX_XML_BYTES = 8 * 1024 * 1024

/** A small verified body (an XML document), read whole. */
export async function smallBody (request: FastifyRequest, auth: AuthResult, maxSize = MAX_XML_BYTES): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  try {
    for await (const chunk of verifiedBody(rawBody(request), auth, request.headers, { maxSize })) chunks.push(chunk)
  } catch (err) {
    if ((err as { code?: string }).code === 'EntityTooLarge') throw s3Error('MalformedXML', 'The XML you provided was larger than the maximum allowed size.')
    throw err
  }
  return Buffer.concat(chunks)
}
