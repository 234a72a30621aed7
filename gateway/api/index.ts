/**
 * The retrieve API on the public listener (docs/retrieve.md):
 * `POST /api/v1/retrieve`, `HEAD|PUT /api/v1/blobs/{cid}`. Tenant-signed
 * (auth.ts), JSON errors (error-map.ts, then the JSON surfaces' statuses),
 * bodies streamed from the socket, the serving-safety headers on every answer.
 */
import type { FastifyInstance } from 'fastify'
import { visibleTo } from '../../node/objects/media-refs.ts'
import { addByHash, holdExisting } from '../../node/retrieve/add-by-hash.ts'
import type { Retriever } from '../../node/retrieve/retriever.ts'
import type { ObjectStoreApi } from '../../node/objects/object-store-api.ts'
import type { MediaStore } from '../../node/store/media-store.ts'
import type { BlobRecord } from '../../node/store/records.ts'
import { parseCid } from '../../protocol/cid.ts'
import { BLOBS_PREFIX, digestMultibaseOf, MAX_RETRIEVE_BODY, mediaFacts, parseRetrieveRequest, RETRIEVE_ROUTE } from '../../protocol/retrieve-api.ts'
import type { AddBlobResponse, RetrieveResponse } from '../../protocol/retrieve-api.ts'
import { parseJson } from '../../protocol/swarm-records.ts'
import { sendJsonError } from '../errors.ts'
import { dropBody, lingerOnClose } from '../refused-body.ts'
import { SAFETY_HEADERS } from '../public/safety.ts'
import { clientGone } from '../s3/request-body.ts'
import type { UploadGate } from '../s3/uploads.ts'
import { authenticate, signedBody, smallSignedBody } from './auth.ts'
import { awaitsContinue, sendContinue } from './continue.ts'
import { toApiError } from './error-map.ts'

export { handleExpectContinue } from './continue.ts'

export interface ApiSurfaceOptions {
  store: MediaStore
  objects: ObjectStoreApi
  retriever: Retriever
  /** Largest blob added by hash (FDN_MAX_OBJECT_SIZE). */
  maxObjectSize: number
  /** Adds by hash are uploads like the S3 API's: they share its slots and stall timeout. */
  uploads: UploadGate
  publicUrl: () => string
}

/** Whether a request is an add by hash, whose 100 Continue waits until the route knows it needs the body. */
export function isAddByHash (method: string | undefined, url: string | undefined): boolean {
  return method === 'PUT' && url != null && url.startsWith(BLOBS_PREFIX)
}

export async function apiSurface (app: FastifyInstance, options: ApiSurfaceOptions): Promise<void> {
  const { store, objects, retriever, uploads } = options

  // bodies are read by the routes, as signed, never parsed by fastify
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })
  app.addHook('onRequest', async (_request, reply) => {
    reply.headers(SAFETY_HEADERS)
    reply.header('cache-control', 'no-store')
  })
  app.setErrorHandler((err, request, reply) => {
    // a refused body may be half sent: the connection cannot carry another request, and
    // closes once the client has had time to read the answer
    if (!request.raw.complete && !request.raw.destroyed) {
      reply.header('connection', 'close')
      lingerOnClose(request.raw.socket)
      dropBody(request.raw)
    }
    return sendJsonError(toApiError(err, request.log) as Error, request, reply)
  })

  app.post(RETRIEVE_ROUTE, async (request, reply): Promise<RetrieveResponse> => {
    const caller = await authenticate(request, objects)
    // a document of a few KiB: watched for stalls, but no upload slot (the retrieve itself may take long)
    const bytes = await smallSignedBody(uploads.watch(request, reply), request, caller, MAX_RETRIEVE_BODY)
    const body = parseRetrieveRequest(parseJson(bytes, 'the request body'))
    request.log.debug({ tenant: caller.tenant.name, url: body.url }, 'retrieve')
    const result = await retriever.retrieve(caller.tenant.name, body)
    reply.code(200)
    return result
  })

  const blobRoute = `${BLOBS_PREFIX}:cid`
  app.head<{ Params: { cid: string } }>(blobRoute, async (request, reply) => {
    const cid = parseCid(request.params.cid)
    const caller = await authenticate(request, objects)
    const blob = await store.stat(cid)
    if (blob == null || !await visibleTo(store.db, blob, caller.tenant.name)) return await reply.code(404).send()
    return await reply.code(200).headers({
      'content-length': String(blob.size),
      'x-fdn-media-type': blob.mediaType,
      'x-fdn-sha256': blob.sha256,
      'x-fdn-digest-multibase': digestMultibaseOf(blob.sha256)
    }).send()
  })

  app.put<{ Params: { cid: string } }>(blobRoute, async (request, reply): Promise<AddBlobResponse> => {
    const cid = parseCid(request.params.cid)
    const caller = await authenticate(request, objects)
    const tenant = caller.tenant.name
    const existing = await store.stat(cid)
    if (existing != null && await visibleTo(store.db, existing, tenant)) {
      await holdExisting(store, tenant, existing)
      // the body is not needed: a client that waits for 100 Continue never sends it; one that sent it is cut off
      if (!awaitsContinue(request.raw) && !request.raw.complete) reply.header('connection', 'close')
      reply.code(200)
      return added(existing, false, options.publicUrl)
    }
    const source = uploads.admit(tenant, request, reply)
    sendContinue(request.raw, reply.raw)
    const body = signedBody(source, request, caller, options.maxObjectSize, true)
    const blob = await addByHash(store, tenant, cid, body, { maxSize: options.maxObjectSize, signal: clientGone(request), verify: body.checkObjectHashes })
    reply.code(201)
    return added(blob, true, options.publicUrl)
  })
}

function added (blob: BlobRecord, created: boolean, publicUrl: () => string): AddBlobResponse {
  return { ...mediaFacts(blob, publicUrl()), created }
}
