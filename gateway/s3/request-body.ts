/**
 * Request bodies of the S3 routes: streamed straight from the socket,
 * verified on the way (auth/body.ts), never buffered except the small XML
 * documents of a few operations. Every body is read in one of the tenant's
 * upload slots and cut when it stalls (uploads.ts).
 */
import type { FastifyRequest } from 'fastify'
import { verifiedBody } from './auth/index.ts'
import type { VerifiedBody } from './auth/index.ts'
import { isS3Error, s3Error } from './errors.ts'
import type { OpContext } from './operation.ts'

/** What reading a body needs of an operation's context. */
export type BodyContext = Pick<OpContext, 'caller' | 'request' | 'reply' | 'env'>

/**
 * The verified object bytes of an upload (EntityTooLarge past `maxSize`),
 * SlowDown when the tenant or the node runs all the uploads it may.
 * The store hashes them (SHA-256 for the CID, MD5 for the ETag), so the
 * payload hash and Content-MD5 are checked against its digests: pass
 * `body.checkObjectHashes` as the store's `verify`, which runs before the
 * index batch.
 */
export function objectBody ({ caller, request, reply, env }: BodyContext, maxSize: number): VerifiedBody {
  const source = env.uploads.admit(caller.tenant.name, request, reply)
  return verifiedBody(source, caller.auth, request.headers, { maxSize, objectHashesFromConsumer: true })
}

/** Aborted when the client goes away before its request is complete. */
export function clientGone (request: FastifyRequest): AbortSignal {
  const controller = new AbortController()
  request.raw.once('close', () => { if (!request.raw.complete) controller.abort() })
  return controller.signal
}

/**
 * An XML request document, verified and read whole, in an upload slot like
 * any body. Past `maxBytes` it is MaxMessageLengthExceeded, as S3 answers an
 * oversized document: at once when the declared length says so, else as
 * soon as the bytes do; it is never parsed.
 */
export async function xmlBody ({ caller, request, reply, env }: BodyContext, maxBytes: number): Promise<Buffer> {
  const chunks: Uint8Array[] = []
  try {
    const source = env.uploads.admit(caller.tenant.name, request, reply)
    for await (const chunk of verifiedBody(source, caller.auth, request.headers, { maxSize: maxBytes })) chunks.push(chunk)
  } catch (err) {
    if (isS3Error(err) && err.code === 'EntityTooLarge') throw s3Error('MaxMessageLengthExceeded', undefined, { MaxMessageLengthBytes: String(maxBytes) })
    throw err
  }
  return Buffer.concat(chunks)
}
