import type { FastifyInstance } from 'fastify'
import { ADMIN_ROUTES, MAX_RECOVER_WAIT_MS, RECOVER_WAIT_MS } from '../../protocol/admin-api.ts'
import type { AddResponse, BlobView, PeersResponse, RecoverEvent, RecoverReport, StatusResponse } from '../../protocol/admin-api.ts'
import { PassThrough } from 'node:stream'
import { FdnError } from '../../protocol/errors.ts'
import { parseCid } from '../../protocol/cid.ts'
import type { MediaStore } from '../../node/store/media-store.ts'
import { requireBearer } from './auth.ts'
import { tenantRoutes } from './tenants.ts'
import type { TenantRoutesOptions } from './tenants.ts'
import { relayRoutes } from './relays.ts'
import type { RelayRoutesOptions } from './relays.ts'

/** What the admin API asks of the swarm. */
export interface SwarmAdmin {
  peers: () => Promise<PeersResponse>
  recover: (progress: (event: RecoverEvent) => void, options: { waitMs: number }) => Promise<RecoverReport>
}

export interface AdminSurfaceOptions extends TenantRoutesOptions, RelayRoutesOptions {
  store: MediaStore
  token: string
  maxObjectSize: number
  status: () => Promise<StatusResponse>
  swarm: SwarmAdmin
}

/** The admin API on the admin listener: what the CLI calls. */
export async function adminSurface (app: FastifyInstance, options: AdminSurfaceOptions): Promise<void> {
  requireBearer(app, options.token)
  app.get(ADMIN_ROUTES.status, async () => await options.status())
  app.post(ADMIN_ROUTES.verify, async () => await options.store.verify())
  app.post(ADMIN_ROUTES.gc, async () => await options.store.gc())
  app.get(ADMIN_ROUTES.peers, async () => await options.swarm.peers())
  // NDJSON: progress lines while the recovery runs, then its report
  app.post(ADMIN_ROUTES.recover, async (request, reply) => {
    const waitMs = recoverWait(request.body)
    const out = new PassThrough()
    const line = (event: RecoverEvent): void => { out.write(`${JSON.stringify(event)}\n`) }
    options.swarm.recover(line, { waitMs }).then(
      report => { line({ type: 'report', report }); out.end() },
      (err: unknown) => { out.end(`${JSON.stringify({ type: 'error', error: { code: err instanceof FdnError ? err.code : 'internal', message: (err as Error).message } })}\n`) }
    )
    return await reply.type('application/x-ndjson').send(out)
  })
  await app.register(blobRoutes, options)
  await app.register(tenantRoutes, options)
  await app.register(relayRoutes, options)
}

/** The wait of a RecoverRequest body (none: the default). */
function recoverWait (body: unknown): number {
  if (body == null) return RECOVER_WAIT_MS
  if (typeof body !== 'object' || Array.isArray(body)) throw new FdnError('invalid_request', 'the body must be a JSON object such as {"waitMs":30000}')
  const { waitMs, ...rest } = body as Record<string, unknown>
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw new FdnError('invalid_request', `unknown field '${unknown[0]}': the body may have only waitMs`)
  if (waitMs === undefined) return RECOVER_WAIT_MS
  if (typeof waitMs !== 'number' || !Number.isSafeInteger(waitMs) || waitMs < 0 || waitMs > MAX_RECOVER_WAIT_MS) {
    throw new FdnError('invalid_request', `waitMs must be a whole number of milliseconds from 0 to ${MAX_RECOVER_WAIT_MS}`)
  }
  return waitMs
}

async function blobRoutes (app: FastifyInstance, options: AdminSurfaceOptions): Promise<void> {
  // uploads are streamed into the store, never buffered: hand the raw request on
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  app.get<{ Params: { cid: string } }>(`${ADMIN_ROUTES.blobs}/:cid`, async (request): Promise<BlobView> => {
    const cid = parseCid(request.params.cid)
    const blob = await options.store.stat(cid)
    if (blob == null) throw new FdnError('not_found', `${request.params.cid} is not held by this node`)
    const refs = await options.store.db.refsOf(blob.cid)
    const placement = await options.store.db.get('placement', blob.cid)
    return {
      cid: blob.cid,
      size: blob.size,
      sha256: blob.sha256,
      mediaType: blob.mediaType,
      firstSeen: blob.firstSeen,
      refs: refs.map(ref => ({ kind: ref.kind, holder: ref.holder, public: ref.public })),
      holders: placement?.holders.map(holder => holder.peer) ?? []
    }
  })

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
