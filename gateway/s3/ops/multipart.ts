/**
 * Multipart uploads: CreateMultipartUpload (`POST ?uploads`), UploadPart
 * (`PUT ?partNumber&uploadId`), UploadPartCopy (the same with
 * `x-amz-copy-source`), CompleteMultipartUpload (`POST ?uploadId`),
 * AbortMultipartUpload (`DELETE ?uploadId`), ListParts (`GET ?uploadId`),
 * ListMultipartUploads (`GET /{bucket}?uploads`).
 */
import type { CompletedPart } from '../../../node/objects/types.ts'
import type { TenantName } from '../../../protocol/names.ts'
import { objectKey, ownBucket, ownerId } from '../caller.ts'
import type { Caller } from '../caller.ts'
import { checkCopySourcePreconditions } from '../conditional.ts'
import type { S3Request } from '../context.ts'
import { uriEncode } from '../auth/encoding.ts'
import { copySourceRange, ownCopySource } from '../copy-source.ts'
import { s3Error } from '../errors.ts'
import { quotedEtag, requestedAcl, storedHeaders, userMetadata } from '../headers.ts'
import { intParam, sendXml } from '../operation.ts'
import type { Operation, S3Env } from '../operation.ts'
import { clientGone, objectBody, xmlBody } from '../request-body.ts'
import { echoChecksum, refuseUnsupportedWrite } from './objects.ts'
import { child, children, document, el, node, owner, parseEncodingType, parseXml, text, urlEncodeValue } from '../xml.ts'

export const MAX_PART_NUMBER = 10_000
/** S3's largest part. */
const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
/**
 * The largest CompleteMultipartUpload document: 10,000 parts of at most 256
 * bytes (`<Part>` with its number, a quoted ETag and one checksum, about 190,
 * and room for indentation).
 */
const MAX_COMPLETE_BYTES = MAX_PART_NUMBER * 256 + 1024
/** A Part holds PartNumber, ETag and the five checksums at most. */
const MAX_COMPLETE_ELEMENTS = MAX_PART_NUMBER * 8 + 1

function uploadId (s3: S3Request): string {
  const id = s3.query.get('uploadId')
  if (id === undefined || id === '') throw s3Error('NoSuchUpload')
  return id
}

function partNumber (s3: S3Request): number {
  const raw = s3.query.get('partNumber') ?? ''
  const value = /^\d{1,5}$/.test(raw) ? Number(raw) : NaN
  if (!(value >= 1 && value <= MAX_PART_NUMBER)) {
    throw s3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, { ArgumentName: 'partNumber', ArgumentValue: raw })
  }
  return value
}

/** The upload, which must be of the key the request names (NoSuchUpload otherwise, as on S3). */
async function requireUpload (env: S3Env, tenant: TenantName, id: string, key: string): Promise<void> {
  const { upload } = await env.objects.listParts(tenant, id, { maxParts: 0 })
  if (upload.key !== key) throw s3Error('NoSuchUpload')
}

/** The size the named parts would make (parts not uploaded count nothing: Complete refuses them anyway). */
async function completedSize (env: S3Env, tenant: TenantName, id: string, parts: CompletedPart[]): Promise<number> {
  const wanted = new Set(parts.map((part) => part.partNumber))
  let size = 0
  let after: number | undefined
  for (;;) {
    const page = await env.objects.listParts(tenant, id, { ...(after === undefined ? {} : { after }), maxParts: 1000 })
    for (const part of page.parts) if (wanted.has(part.partNumber)) size += part.size
    const last = page.parts.at(-1)
    if (!page.isTruncated || last === undefined) return size
    after = last.partNumber
  }
}

function initiator (caller: Caller, element: string): string {
  return owner(ownerId(caller.tenant.name), caller.tenant.name, element)
}

export const createMultipartUpload: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const key = objectKey(s3)
  refuseUnsupportedWrite(s3)
  const upload = await env.objects.createUpload(tenant, key, { headers: storedHeaders(s3), metadata: userMetadata(s3), acl: requestedAcl(s3, 'private')! })
  const algorithm = s3.headers['x-amz-checksum-algorithm']
  if (typeof algorithm === 'string') reply.header('x-amz-checksum-algorithm', algorithm)
  return await sendXml(reply, document('InitiateMultipartUploadResult', el('Bucket', tenant), el('Key', key), el('UploadId', upload.uploadId)))
}

export const uploadPart: Operation = async ({ s3, caller, request, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const id = uploadId(s3)
  const number = partNumber(s3)
  await requireUpload(env, tenant, id, objectKey(s3))
  const maxSize = Math.min(env.maxObjectSize, MAX_PART_SIZE)
  const body = objectBody({ caller, request, reply, env }, maxSize)
  const part = await env.objects.uploadPart(tenant, id, number, body, { maxSize, signal: clientGone(request), verify: body.checkObjectHashes })
  reply.header('etag', quotedEtag(part.etag))
  echoChecksum(reply, body)
  return await reply.code(200).send()
}

export const uploadPartCopy: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const id = uploadId(s3)
  const number = partNumber(s3)
  await requireUpload(env, tenant, id, objectKey(s3))
  const source = ownCopySource(s3, caller)!
  const from = await env.objects.head(tenant, source.key)
  checkCopySourcePreconditions(s3, { etag: from.etag, lastModified: from.mtime })
  const range = copySourceRange(s3, from.size)
  const part = await env.objects.copyPart(tenant, id, number, { tenant, key: source.key, ...(range === undefined ? {} : { range }) })
  return await sendXml(reply, document('CopyPartResult', el('LastModified', part.lastModified), el('ETag', quotedEtag(part.etag))))
}

/** The parts named in a CompleteMultipartUpload body. */
export function completedParts (body: Buffer): CompletedPart[] {
  const root = child(parseXml(body, MAX_COMPLETE_ELEMENTS), 'CompleteMultipartUpload')
  if (root === undefined) throw s3Error('MalformedXML')
  const parts = children(root, 'Part').map((part) => {
    const number = text(child(part, 'PartNumber'))?.trim() ?? ''
    const etag = text(child(part, 'ETag'))?.trim()
    if (!/^\d{1,5}$/.test(number) || etag === undefined) throw s3Error('MalformedXML')
    const value = Number(number)
    if (value < 1 || value > MAX_PART_NUMBER) throw s3Error('InvalidArgument', `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, { ArgumentName: 'partNumber', ArgumentValue: number })
    return { partNumber: value, etag: etag.replace(/^"|"$/g, '') }
  })
  if (parts.length === 0) throw s3Error('MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema: it names no part.')
  for (let i = 1; i < parts.length; i++) {
    if (parts[i]!.partNumber <= parts[i - 1]!.partNumber) throw s3Error('InvalidPartOrder')
  }
  return parts
}

export const completeMultipartUpload: Operation = async ({ s3, caller, request, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const id = uploadId(s3)
  refuseUnsupportedWrite(s3)
  await requireUpload(env, tenant, id, objectKey(s3))
  const parts = completedParts(await xmlBody({ caller, request, reply, env }, MAX_COMPLETE_BYTES))
  const size = await completedSize(env, tenant, id, parts)
  if (size > env.maxObjectSize) {
    throw s3Error('EntityTooLarge', undefined, { ProposedSize: String(size), MaxSizeAllowed: String(env.maxObjectSize) })
  }
  const record = await env.objects.completeUpload(tenant, id, parts)
  const base = `${request.protocol}://${s3.headers.host ?? 'localhost'}`
  const location = s3.style === 'virtual-host' ? `${base}/${uriEncode(record.key, true)}` : `${base}/${tenant}/${uriEncode(record.key, true)}`
  return await sendXml(reply, document('CompleteMultipartUploadResult',
    el('Location', location), el('Bucket', tenant), el('Key', record.key), el('ETag', quotedEtag(record.etag))))
}

export const abortMultipartUpload: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const id = uploadId(s3)
  await requireUpload(env, tenant, id, objectKey(s3))
  await env.objects.abortUpload(tenant, id)
  return await reply.code(204).send()
}

export const listParts: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const id = uploadId(s3)
  const maxParts = intParam(s3, 'max-parts', 1000, 0, 1000)
  const marker = intParam(s3, 'part-number-marker', 0, 0, MAX_PART_NUMBER, false)
  const { upload, parts, isTruncated } = await env.objects.listParts(tenant, id, { ...(marker > 0 ? { after: marker } : {}), maxParts })
  if (upload.key !== objectKey(s3)) throw s3Error('NoSuchUpload')
  const last = parts.at(-1)
  return await sendXml(reply, document('ListPartsResult',
    el('Bucket', tenant), el('Key', upload.key), el('UploadId', upload.uploadId),
    initiator(caller, 'Initiator'), initiator(caller, 'Owner'),
    el('StorageClass', 'STANDARD'),
    el('PartNumberMarker', marker),
    el('NextPartNumberMarker', last?.partNumber ?? marker),
    el('MaxParts', maxParts),
    el('IsTruncated', isTruncated),
    ...parts.map((part) => node('Part',
      el('PartNumber', part.partNumber), el('LastModified', part.lastModified), el('ETag', quotedEtag(part.etag)), el('Size', part.size)))))
}

export const listMultipartUploads: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const prefix = s3.query.get('prefix') ?? ''
  const keyMarker = s3.query.get('key-marker') ?? ''
  const uploadIdMarker = s3.query.get('upload-id-marker') ?? ''
  const maxUploads = intParam(s3, 'max-uploads', 1000, 0, 1000)
  const encode = parseEncodingType(s3.query.get('encoding-type'))
  // key-marker alone: uploads of later keys only; with upload-id-marker, later uploads of that key too
  const after = keyMarker === '' ? undefined : { key: keyMarker, uploadId: uploadIdMarker === '' ? '\u{10FFFF}' : uploadIdMarker }
  const { uploads, isTruncated } = maxUploads === 0
    ? { uploads: [], isTruncated: false }
    : await env.objects.listUploads(tenant, { ...(prefix === '' ? {} : { prefix }), ...(after === undefined ? {} : { after }), maxUploads })
  const last = uploads.at(-1)
  return await sendXml(reply, document('ListMultipartUploadsResult',
    el('Bucket', tenant),
    el('KeyMarker', urlEncodeValue(keyMarker, encode)),
    el('UploadIdMarker', uploadIdMarker),
    isTruncated && last !== undefined && el('NextKeyMarker', urlEncodeValue(last.key, encode)),
    isTruncated && last !== undefined && el('NextUploadIdMarker', last.uploadId),
    el('Prefix', urlEncodeValue(prefix, encode)),
    encode && el('EncodingType', 'url'),
    el('MaxUploads', maxUploads),
    el('IsTruncated', isTruncated),
    ...uploads.map((upload) => node('Upload',
      el('Key', urlEncodeValue(upload.key, encode)), el('UploadId', upload.uploadId),
      initiator(caller, 'Initiator'), initiator(caller, 'Owner'),
      el('StorageClass', 'STANDARD'), el('Initiated', upload.initiated)))))
}
