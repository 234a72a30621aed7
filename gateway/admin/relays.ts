import type { FastifyInstance } from 'fastify'
import { RELAY_ROUTES } from '../../protocol/relay-api.ts'
import type { RelayAddRequest, RelayRemoved, RelayView } from '../../protocol/relay-api.ts'
import type { Relays } from '../../node/activitypub/relays.ts'

export interface RelayRoutesOptions {
  relays: Relays
}

const MAX_URL = 2048

const addSchema = {
  body: {
    type: 'object',
    required: ['url'],
    additionalProperties: false,
    properties: { url: { type: 'string', minLength: 1, maxLength: MAX_URL } }
  }
} as const

const removeSchema = {
  querystring: {
    type: 'object',
    required: ['url'],
    properties: { url: { type: 'string', minLength: 1, maxLength: MAX_URL } }
  }
} as const

/** `relay add|list|remove` of the CLI. */
export async function relayRoutes (app: FastifyInstance, options: RelayRoutesOptions): Promise<void> {
  const { relays } = options

  app.get(RELAY_ROUTES.relays, async (): Promise<RelayView[]> => await relays.list())

  // 202: the Follow is sent, the relay's answer comes later (poll the list)
  app.post<{ Body: RelayAddRequest }>(RELAY_ROUTES.relays, { schema: addSchema }, async (request, reply): Promise<RelayView> => {
    const relay = await relays.add(request.body.url)
    reply.code(202)
    return relay
  })

  app.delete<{ Querystring: { url: string } }>(RELAY_ROUTES.relays, { schema: removeSchema }, async (request): Promise<RelayRemoved> => {
    return await relays.remove(request.query.url)
  })
}
