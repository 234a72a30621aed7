/** PutObject, GetObject, HeadObject, DeleteObject, CopyObject. */
import type { FastifyReply } from 'fastify'
import type { VerifiedBody } from '../auth/index.ts'
import { objectKey, ownBucket } from '../caller.ts'
import { checkCopySourcePreconditions } from '../conditional.ts'
import { header } from '../context.ts'
import type { S3Request } from '../context.ts'
import { ownCopySource } from '../copy-source.ts'
import { s3Error } from '../errors.ts'
import { quotedEtag, requestedAcl, storedHeaders, userMetadata } from '../headers.ts'
import { sendXml } from '../operation.ts'
import type { Operation } from '../operation.ts'
import { clientGone, objectBody } from '../request-body.ts'
import { serveObject } from '../serve.ts'
import { document, el } from '../xml.ts'

/**
 * What fdn does not do on writes, refused rather than ignored: conditional
 * writes (If-None-Match/If-Match on PUT would need an atomic check the store
 * does not offer) and SSE-C (the client would believe its bytes encrypted).
 */
export function refuseUnsupportedWrite (s3: S3Request): void {
  if (header(s3, 'if-none-match') !== undefined || header(s3, 'if-match') !== undefined) {
    throw s3Error('NotImplemented', 'Conditional writes (If-Match, If-None-Match) are not implemented')
  }
  if (header(s3, 'x-amz-server-side-encryption-customer-algorithm') !== undefined) {
    throw s3Error('NotImplemented', 'Server-side encryption with customer-provided keys is not implemented')
  }
}

/** `versionId` names a version; fdn keeps only the current one ("null" in S3's terms). */
export function checkVersionId (s3: S3Request): void {
  const versionId = s3.query.get('versionId')
  if (versionId !== undefined && versionId !== 'null') throw s3Error('InvalidArgument', 'Invalid version id specified', { ArgumentName: 'versionId', ArgumentValue: versionId })
}

/** S3 echoes the checksum the client sent (header or trailer), once verified. */
export function echoChecksum (reply: FastifyReply, body: VerifiedBody): void {
  const digest = body.digest
  const algorithm = digest?.checksumAlgorithm
  if (algorithm === undefined) return
  const value = digest!.checksums[algorithm]
  if (value !== undefined) reply.header(`x-amz-checksum-${algorithm}`, value)
}

export const putObject: Operation = async ({ s3, caller, request, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const key = objectKey(s3)
  refuseUnsupportedWrite(s3)
  const headers = storedHeaders(s3)
  const metadata = userMetadata(s3)
  const acl = requestedAcl(s3, 'private')!
  const body = objectBody({ caller, request, reply, env }, env.maxObjectSize)
  const options = { headers, metadata, acl, maxSize: env.maxObjectSize, signal: clientGone(request), verify: body.checkObjectHashes }
  const expectedSize = body.plan.decodedLength
  const record = await env.objects.put(tenant, key, body, expectedSize === undefined ? options : { ...options, expectedSize })
  reply.header('etag', quotedEtag(record.etag))
  echoChecksum(reply, body)
  return await reply.code(200).send()
}

/** GetObject and HeadObject. A presigned URL may be opened by a browser: it gets the browser's safe headers. */
export const getObject: Operation = async ({ s3, caller, request, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const key = objectKey(s3)
  checkVersionId(s3)
  const record = await env.objects.head(tenant, key)
  return await serveObject(env.objects, record, s3, request, reply, { audience: caller.auth.kind === 'presigned' ? 'browser' : 'client' })
}

/** Idempotent: deleting a key that does not exist is a success, as on S3. */
export const deleteObject: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const key = objectKey(s3)
  checkVersionId(s3)
  await env.objects.delete(tenant, key)
  return await reply.code(204).send()
}

/** No bytes move: the new key references the source's blob. */
export const copyObject: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const key = objectKey(s3)
  refuseUnsupportedWrite(s3)
  const source = ownCopySource(s3, caller)!
  const directive = (header(s3, 'x-amz-metadata-directive') ?? 'COPY').toUpperCase()
  if (directive !== 'COPY' && directive !== 'REPLACE') {
    throw s3Error('InvalidArgument', 'Unknown metadata directive.', { ArgumentName: 'x-amz-metadata-directive', ArgumentValue: directive })
  }
  const from = await env.objects.head(tenant, source.key)
  checkCopySourcePreconditions(s3, { etag: from.etag, lastModified: from.mtime })
  const record = await env.objects.copy(tenant, { tenant, key: source.key }, key, {
    metadataDirective: directive,
    headers: storedHeaders(s3),
    metadata: userMetadata(s3),
    acl: requestedAcl(s3, 'private')!
  })
  return await sendXml(reply, document('CopyObjectResult', el('LastModified', record.mtime), el('ETag', quotedEtag(record.etag))))
}
