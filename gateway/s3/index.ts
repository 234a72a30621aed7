/**
 * The S3 API on the public listener: path-style `/{bucket}/{key}` and, with
 * `s3Domain`, virtual-host `{bucket}.{s3Domain}/{key}` (the daemon installs
 * `virtualHostRewrite` as fastify's `rewriteUrl` so those reach these
 * routes). The gateway's static routes (`/ipfs/…`, `/healthz`, `/readyz`,
 * `/api/…`) are matched first; their names are reserved as tenant names.
 *
 * Every answer carries `x-amz-request-id` and the serving-safety headers of
 * the public listener; errors are S3's XML (none for HEAD); bodies stream
 * from the socket into the store and back.
 */
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { ObjectStoreApi } from '../../node/objects/object-store-api.ts'
import type { Logger } from '../../node/log.ts'
import { SAFETY_HEADERS } from '../public/safety.ts'
import { requestAuthKind } from './auth/index.ts'
import { authenticate } from './caller.ts'
import { newRequestId, parseS3Request, wireUrl } from './context.ts'
import type { S3Request } from './context.ts'
import { sendS3Error } from './error-map.ts'
import type { S3Env } from './operation.ts'
import { publicRead } from './public-read.ts'
import { routeOf } from './router.ts'
import type { UploadGate } from './uploads.ts'

export { virtualHostRewrite } from './context.ts'

export interface S3SurfaceOptions {
  objects: ObjectStoreApi
  /** Largest object (and part) accepted: EntityTooLarge beyond. */
  maxObjectSize: number
  /** `{bucket}.{s3Domain}` requests are virtual-host style. */
  s3Domain?: string | undefined
  /** Unauthenticated reads of public-read objects: the bytes, or 308 to /ipfs/{cid}. */
  aliasMode: 'serve' | 'redirect'
  /** Uploads running at once and stalled bodies (shared with the retrieve API). */
  uploads: UploadGate
  log?: Logger
}

const REQUEST_IDS = new WeakMap<FastifyRequest, string>()
const PARSED = new WeakMap<FastifyRequest, S3Request>()

export async function s3Surface (app: FastifyInstance, options: S3SurfaceOptions): Promise<void> {
  const env: S3Env = { objects: options.objects, maxObjectSize: options.maxObjectSize, s3Domain: options.s3Domain, aliasMode: options.aliasMode, uploads: options.uploads }

  // bodies stream into the store: never parsed, never buffered by fastify
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  app.addHook('onRequest', async (request, reply) => {
    const id = newRequestId()
    REQUEST_IDS.set(request, id)
    reply.headers(SAFETY_HEADERS)
    reply.header('x-amz-request-id', id)
  })

  app.setErrorHandler(async (err, request, reply) => {
    const s3 = PARSED.get(request)
    const resource = s3?.resource ?? wireUrl(request.raw).split('?')[0] ?? '/'
    return await sendS3Error(err, request, reply, { resource, requestId: REQUEST_IDS.get(request) ?? newRequestId() })
  })

  const handler = async (request: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const s3 = parseS3Request(request.raw, env.s3Domain, REQUEST_IDS.get(request) ?? newRequestId())
    PARSED.set(request, s3)
    if (requestAuthKind(s3) === 'none') return await publicRead(env, s3, request, reply)
    const caller = await authenticate(s3, env.objects)
    const route = routeOf(s3)
    request.log.debug({ op: route.name, tenant: caller.tenant.name, key: s3.key }, 'S3 request')
    return await route.run({ s3, caller, request, reply, env })
  }
  const methods = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE']
  app.route({ method: methods, url: '/', handler })
  app.route({ method: methods, url: '/:bucket', handler })
  app.route({ method: methods, url: '/:bucket/*', handler })
}
