import type { FastifyReply, FastifyRequest } from 'fastify'
import type { ObjectStoreApi } from '../../node/objects/object-store-api.ts'
import type { Caller } from './caller.ts'
import type { S3Request } from './context.ts'
import { s3Error } from './errors.ts'
import type { S3Error } from './errors.ts'
import type { UploadGate } from './uploads.ts'

/** What every S3 operation works with: the node's objects and the surface's settings. */
export interface S3Env {
  readonly objects: ObjectStoreApi
  readonly maxObjectSize: number
  readonly s3Domain: string | undefined
  readonly aliasMode: 'serve' | 'redirect'
  /** Bounds uploads running at once and cuts stalled bodies (request-body.ts admits through it). */
  readonly uploads: UploadGate
}

/** One authenticated S3 request, routed. */
export interface OpContext {
  readonly s3: S3Request
  readonly caller: Caller
  readonly request: FastifyRequest
  readonly reply: FastifyReply
  readonly env: S3Env
}

export type Operation = (c: OpContext) => Promise<unknown>

export async function sendXml (reply: FastifyReply, xml: string, status = 200): Promise<unknown> {
  reply.code(status)
  reply.header('content-type', 'application/xml')
  return await reply.send(xml)
}

/** A query parameter that must be a whole number in [min, max]; `fallback` when absent. */
export function intParam (s3: S3Request, name: string, fallback: number, min: number, max: number, clamp = true): number {
  const raw = s3.query.get(name)
  if (raw === undefined || raw === '') return fallback
  if (!/^-?\d{1,10}$/.test(raw)) {
    throw argument(name, raw, `Provided ${name} not an integer or within integer range`)
  }
  const value = Number(raw)
  if (value < min) throw argument(name, raw, `Argument ${name} must be an integer between ${min} and ${max}`)
  if (value > max) {
    if (clamp) return max
    throw argument(name, raw, `Argument ${name} must be an integer between ${min} and ${max}`)
  }
  return value
}

function argument (name: string, value: string, message: string): S3Error {
  return s3Error('InvalidArgument', message, { ArgumentName: name, ArgumentValue: value })
}
