import type { FastifyInstance, FastifyReply } from 'fastify'
import { ACTIVITY_JSON, AP_ROUTES, emptyCollection, MAX_ACTIVITY_BYTES, nodeinfoIndex, NODEINFO_SCHEMA } from '../../protocol/activitypub.ts'
import type { NodeActor } from '../../node/activitypub/node-actor.ts'
import { SAFETY_HEADERS } from '../public/safety.ts'

export interface ActivityPubSurfaceOptions {
  actor: NodeActor
  /** The public base URL (no trailing slash). */
  publicUrl: () => string
}

/** Content types an inbox takes: ActivityPub's two, and plain JSON as some servers send it. */
const ACTIVITY_TYPES = ['application/activity+json', 'application/ld+json', 'application/json']

/**
 * The node's ActivityPub routes on the public listener: the actor and its
 * collections, the inboxes, WebFinger, NodeInfo and host-meta
 * (docs/activitypub.md). Errors are `{"error":{"code","message"}}`.
 */
export async function activityPubSurface (app: FastifyInstance, options: ActivityPubSurfaceOptions): Promise<void> {
  const { actor } = options
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(SAFETY_HEADERS)
  })
  // the inbox checks the signature over the exact bytes: keep them
  app.removeAllContentTypeParsers()
  app.addContentTypeParser(ACTIVITY_TYPES, { parseAs: 'buffer', bodyLimit: MAX_ACTIVITY_BYTES }, (_request, body, done) => { done(null, body) })

  const json = (reply: FastifyReply, type: string, body: unknown, maxAge = 600): FastifyReply =>
    reply.type(type).header('cache-control', `public, max-age=${maxAge}`).header('vary', 'Accept').send(JSON.stringify(body))

  app.get(AP_ROUTES.actor, async (_request, reply) => json(reply, `${ACTIVITY_JSON}; charset=utf-8`, actor.actor()))
  for (const route of [AP_ROUTES.outbox, AP_ROUTES.followers, AP_ROUTES.following]) {
    app.get(route, async (_request, reply) => json(reply, `${ACTIVITY_JSON}; charset=utf-8`, emptyCollection(`${options.publicUrl()}${route}`)))
  }
  for (const route of [AP_ROUTES.inbox, AP_ROUTES.sharedInbox]) {
    app.post(route, async (request, reply) => {
      const answer = await actor.inbox.receive({
        method: request.method,
        url: request.url,
        scheme: options.publicUrl().startsWith('https:') ? 'https' : 'http',
        headers: request.headers,
        // a POST without a body or Content-Type has none: it is refused as not JSON
        body: Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0)
      })
      reply.header('cache-control', 'no-store')
      if (answer.status === 503) reply.header('retry-after', '10')
      return await reply.code(answer.status).send(answer.status === 202 ? { status: 'accepted', message: answer.message } : { error: { code: answer.code, message: answer.message } })
    })
  }
  for (const route of [AP_ROUTES.inbox, AP_ROUTES.sharedInbox]) {
    app.get(route, async (_request, reply) => await reply.code(405).header('allow', 'POST').header('cache-control', 'no-store')
      .send({ error: { code: 'method_not_allowed', message: 'the inbox takes signed POSTs of activities; it lists nothing' } }))
  }
  app.get<{ Querystring: { resource?: string } }>(AP_ROUTES.webfinger, async (request, reply) => {
    const resource = request.query.resource
    reply.header('access-control-allow-origin', '*')
    if (typeof resource !== 'string' || resource === '') {
      return await reply.code(400).send({ error: { code: 'invalid_request', message: 'WebFinger needs ?resource=acct:{name}@{host} (or the actor URL)' } })
    }
    const found = actor.webfinger(resource)
    if (found == null) return await reply.code(404).send({ error: { code: 'not_found', message: `this node answers only for its own actor, not ${resource.slice(0, 200)}` } })
    return json(reply, 'application/jrd+json; charset=utf-8', found)
  })
  app.get(AP_ROUTES.hostMeta, async (_request, reply) => {
    const template = `${options.publicUrl()}${AP_ROUTES.webfinger}?resource={uri}`
    return await reply.type('application/xrd+xml; charset=utf-8').header('cache-control', 'public, max-age=600')
      .send(`<?xml version="1.0" encoding="UTF-8"?>\n<XRD xmlns="http://docs.oasis-open.org/ns/xri/xrd-1.0">\n  <Link rel="lrdd" template="${template.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;')}"/>\n</XRD>\n`)
  })
  app.get(AP_ROUTES.nodeinfoIndex, async (_request, reply) => json(reply, 'application/json; charset=utf-8', nodeinfoIndex(options.publicUrl())))
  app.get(AP_ROUTES.nodeinfo, async (_request, reply) => json(reply, `application/json; profile="${NODEINFO_SCHEMA}#"; charset=utf-8`, await actor.nodeinfo(), 300))
}
