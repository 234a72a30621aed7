import type { FastifyInstance } from 'fastify'
import type { MediaStore } from '../../node/store/media-store.ts'
import { ipfsRoutes } from './ipfs-route.ts'
import type { SwarmReads } from './ipfs-route.ts'
import { SAFETY_HEADERS } from './safety.ts'

export interface PublicSurfaceOptions {
  store: MediaStore
  swarm: SwarmReads | undefined
  isReady: () => boolean
}

/** The public listener: gateway reads and health probes, all under the serving-safety headers. */
export async function publicSurface (app: FastifyInstance, options: PublicSurfaceOptions): Promise<void> {
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(SAFETY_HEADERS)
  })
  app.get('/healthz', async () => ({ status: 'ok' }))
  app.get('/readyz', async (_request, reply) => {
    const ready = options.isReady()
    return await reply.code(ready ? 200 : 503).send({ status: ready ? 'ready' : 'starting' })
  })
  await app.register(ipfsRoutes, { store: options.store, swarm: options.swarm })
}
