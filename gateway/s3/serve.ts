/**
 * An object's bytes as GetObject/HeadObject and the public alias path answer
 * them: validators and stored headers, preconditions (304/412), a single
 * Range (206/416), then the bytes, each block verified as it is read. The
 * range and body plumbing is the /ipfs gateway's own.
 */
import { Readable } from 'node:stream'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ObjectStoreApi } from '../../node/objects/object-store-api.ts'
import type { ObjectRecord } from '../../node/objects/types.ts'
import { abortOf, pickRange, sendBytes } from '../public/ipfs-route.ts'
import { checkPreconditions, rangeStillValid } from './conditional.ts'
import type { S3Request } from './context.ts'
import { header } from './context.ts'
import { s3Error } from './errors.ts'
import { setObjectHeaders } from './headers.ts'
import type { Audience } from './headers.ts'

export interface ServeOptions {
  audience: Audience
  /** Cache-Control when the object has none of its own */
  cacheControl?: string
}

export async function serveObject (
  objects: ObjectStoreApi,
  record: ObjectRecord,
  s3: S3Request,
  request: FastifyRequest,
  reply: FastifyReply,
  options: ServeOptions
): Promise<unknown> {
  const validators = { etag: record.etag, lastModified: record.mtime }
  setObjectHeaders(reply, record, s3, options.audience, options.cacheControl)
  checkPreconditions(s3, validators)
  const partNumber = s3.query.get('partNumber')
  if (partNumber !== undefined) {
    // parts are not kept apart once an upload is complete: only part 1 of a single-part object (all of it) is known
    if (record.parts !== undefined && record.parts > 1) throw s3Error('NotImplemented', 'GetObject of one part of a multipart object is not implemented')
    if (partNumber !== '1') throw s3Error('InvalidPartNumber')
  }
  const rangeHeader = rangeStillValid(s3, validators) ? header(s3, 'range') : undefined
  const range = pickRange(reply, rangeHeader, record.size)
  reply.header('accept-ranges', 'bytes')
  return await sendBytes(reply, request, range, record.size, async () => {
    if (range.end <= range.start) return Buffer.alloc(0)
    const signal = abortOf(reply)
    // an object of one raw block (media up to 1 MiB: most of them) is answered from one buffer,
    // lent by the store until the answer is closed: handed to the OS, or abandoned
    const lease = await objects.singleBlock(record, signal)
    if (lease !== undefined) {
      reply.raw.once('close', lease.release)
      const { bytes } = lease
      return Buffer.from(bytes.buffer, bytes.byteOffset + range.start, range.end - range.start)
    }
    return Readable.from(objects.read(record, { start: range.start, end: range.end }, signal), { objectMode: false })
  })
}
