import type { FastifyInstance } from 'fastify'
import { ADMIN_ROUTES } from '../../protocol/admin-api.ts'
import type { AddResponse, StatusResponse } from '../../protocol/admin-api.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { MediaStore } from '../../node/store/media-store.ts'
import { requireBearer } from './auth.ts'
import { tenantRoutes } from './tenants.ts'
import type { TenantRoutesOptions } from './tenants.ts'

export interface AdminSurfaceOptions extends TenantRoutesOptions {
  store: MediaStore
  token: string
  maxObjectSize: number
  status: () => Promise<StatusResponse>
}

/** The admin API on the admin listener: what the CLI calls. */
export async function adminSurface (app: FastifyInstance, options: AdminSurfaceOptions): Promise<void> {
  requireBearer(app, options.token)
  app.get(ADMIN_ROUTES.status, async () => await options.status())
  app.post(ADMIN_ROUTES.verify, async () => await options.store.verify())
  app.post(ADMIN_ROUTES.gc, async () => await options.store.gc())
  await app.register(blobRoutes, options)
  await app.register(tenantRoutes, options)
}

async function blobRoutes (app: FastifyInstance, options: AdminSurfaceOptions): Promise<void> {
  // uploads are streamed into the store, never buffered: hand the raw request on
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  app.post(ADMIN_ROUTES.blobs, async (request, reply): Promise<AddResponse> => {
    const declared = Number(request.headers['content-length'] ?? NaN)
    if (declared > options.maxObjectSize) {
      throw new FdnError('too_large', `body of ${declared} bytes exceeds the ${options.maxObjectSize} byte limit`)
    }
    const controller = new AbortController()
    request.raw.once('aborted', () => controller.abort())
    let commit
    try {
      commit = await options.store.add(request.raw, {
        maxSize: options.maxObjectSize,
        signal: controller.signal
      })
    } catch (err) {
      // the rest of the body will never be read: close the connection after the answer (as fastify
      // does when a body parser fails), or it stays stuck and holds up a graceful shutdown
      if (!request.raw.complete) reply.header('connection', 'close')
      // the store's own verdict (too_large, insufficient_storage) stands even though giving up
      // on the body destroys the request, which fires 'aborted' as if the client had gone
      if (err instanceof FdnError) throw err
      if (controller.signal.aborted || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
        throw new FdnError('aborted', 'upload aborted by the client before its end: nothing was kept', { cause: err })
      }
      throw err
    }
    const { blob, created } = commit
    reply.code(created ? 201 : 200)
    return { cid: blob.cid, size: blob.size, mediaType: blob.mediaType, sha256: blob.sha256, md5: blob.md5, created }
  })
}
