import Fastify, { LogController } from 'fastify'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import type { IncomingMessage } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Config } from '../node/config/settings.ts'
import { formatListen } from '../node/config/values.ts'
import { initDataDir, readAdminToken } from '../node/identity/identity.ts'
import type { Logger } from '../node/log.ts'
import { MediaStore } from '../node/store/media-store.ts'
import { syncerFor } from '../node/store/syncer.ts'
import { ObjectStore } from '../node/objects/object-store.ts'
import { TenantRegistry } from '../node/tenants/registry.ts'
import { Swarm } from '../node/swarm/swarm.ts'
import { resolveBootstrap } from '../node/config/bootstrap.ts'
import { readSwarmKey } from '../node/config/swarm-key.ts'
import { privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { removeDaemonRecord, writeDaemonRecord } from '../node/daemon-record.ts'
import { VERSION } from '../node/version.ts'
import type { StatusResponse } from '../protocol/admin-api.ts'
import { adminSurface } from './admin/index.ts'
import { clientErrorHandler, frameworkErrors, installErrorHandler } from './errors.ts'
import { publicSurface } from './public/index.ts'
import { apiSurface, handleExpectContinue, isAddByHash } from './api/index.ts'
import { SafeFetcher } from '../node/fetcher/safe-fetcher.ts'
import { Retriever } from '../node/retrieve/retriever.ts'
import { s3Surface, virtualHostRewrite } from './s3/index.ts'
import { UploadGate } from './s3/uploads.ts'
import { activityPubSurface } from './activitypub/index.ts'
import { NodeActor } from '../node/activitypub/node-actor.ts'

export interface Daemon {
  peerId: string
  httpUrl: string
  adminUrl: string
  /** Stops accepting, finishes in-flight requests (up to the shutdown timeout), closes the store. */
  close: () => Promise<void>
}

/** Header sizes above this are refused with 431 before any handler runs. */
const MAX_HEADER_BYTES = 16 * 1024
/** A connection that sends nothing for this long is closed. */
const IDLE_TIMEOUT_MS = 60_000
/**
 * An idle keep-alive connection is closed after this: longer than the 60 s
 * after which nginx and cloud load balancers drop theirs, so that it is the
 * proxy that closes, never fdn under a request the proxy is sending.
 */
const KEEP_ALIVE_TIMEOUT_MS = 72_000

/** The composition root: opens the store and serves the public and admin listeners. */
export async function startDaemon (config: Config, log: Logger): Promise<Daemon> {
  const { identity, createdIdentity } = await initDataDir(config.data)
  if (createdIdentity) {
    log.warn({ peerId: identity.peerId, file: `${config.data}/identity.key` }, 'created a new node identity: back up identity.key, it cannot be recovered from peers')
  }
  const token = await readAdminToken(config.data)
  const store = new MediaStore({ dataDir: config.data, blockCacheBytes: config.blockCache, minFreeSpace: config.minFreeSpace, syncer: syncerFor(config.fsync), log })
  await store.open()
  const started = Date.now()
  let ready = false

  const tenants = new TenantRegistry(store, privateKeyToProtobuf(identity.privateKey), config.replicas)
  const objects = new ObjectStore(store, tenants)
  let addresses = { http: '', admin: '' }
  const publicUrl = (): string => (config.publicUrl?.toString() ?? addresses.http).replace(/\/$/, '')

  let swarm: Swarm
  try {
    swarm = await Swarm.start({
      dataDir: config.data,
      privateKey: identity.privateKey,
      listen: config.swarmListen,
      announce: config.swarmAnnounce,
      bootstrap: await resolveBootstrap(config),
      swarmKey: config.swarmKey != null ? await readSwarmKey(config.swarmKey) : undefined,
      trustedPeers: config.trustedPeers,
      defaultReplicas: config.replicas,
      cacheSize: config.cacheSize,
      fetchTimeout: config.fetchTimeout,
      noFetch: config.noFetch,
      peerQuota: config.peerQuota,
      repairGrace: config.repairGrace,
      repairInterval: config.repairInterval,
      repairRate: config.repairRate,
      maxObjectSize: config.maxObjectSize,
      store,
      objects,
      tenants,
      log
    })
  } catch (err) {
    await store.close()
    throw err
  }

  const fetcher = new SafeFetcher({
    allow: config.fetchAllow,
    allowedPorts: config.fetchPorts,
    connectTimeoutMs: config.originConnectTimeout,
    timeoutMs: config.originTimeout,
    maxBytes: config.originMaxSize
  })
  const retriever = new Retriever({ store, objects, swarm, fetcher, maxSize: config.originMaxSize, publicUrl, log })
  const actor = await NodeActor.start({
    dataDir: config.data,
    name: config.actorName,
    publicUrl,
    store,
    objects,
    retriever,
    fetcher,
    swarm,
    prefetch: { maxSize: config.prefetchMaxSize, types: config.prefetchTypes, budget: config.prefetchBudget, rate: config.prefetchRate },
    tenants: async () => (await tenants.list()).length,
    log
  })

  const uploads = new UploadGate({ max: config.uploadsMax, perTenant: config.uploadsPerTenant, idleTimeout: config.bodyTimeout, minRate: config.bodyMinRate })
  const publicApp = createServer(log, config.bodyTimeout, virtualHostRewrite(config.s3Domain))
  handleExpectContinue(publicApp.server, req => isAddByHash(req.method, req.url))
  await publicApp.register(publicSurface, { store, swarm, isReady: () => ready })
  await publicApp.register(activityPubSurface, { actor, publicUrl })
  await publicApp.register(apiSurface, { store, objects, retriever, maxObjectSize: config.maxObjectSize, uploads, publicUrl })
  await publicApp.register(s3Surface, { objects, maxObjectSize: config.maxObjectSize, s3Domain: config.s3Domain, aliasMode: config.aliasMode, uploads, log })
  const adminApp = createServer(log, config.bodyTimeout)
  const status = async (): Promise<StatusResponse> => {
    const stats = await store.stats()
    return {
      version: VERSION,
      peerId: identity.peerId,
      addresses: { ...addresses, swarm: swarm.addresses() },
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
      ...stats,
      ...await swarm.status(),
      retrieve: retriever.counters(),
      activitypub: await actor.counters()
    }
  }
  await adminApp.register(adminSurface, { store, token, maxObjectSize: config.maxObjectSize, status, tenants, objects, publicUrl, swarm, relays: actor.relays })
  const expiry = startUploadExpiry(objects, config.uploadExpiry, log)

  try {
    await publicApp.listen({ host: config.httpListen.host, port: config.httpListen.port })
    await adminApp.listen({ host: config.adminListen.host, port: config.adminListen.port })
  } catch (err) {
    await Promise.allSettled([publicApp.close(), adminApp.close()])
    await actor.stop()
    await swarm.stop()
    await store.close()
    throw err
  }
  addresses = { http: urlOf(publicApp), admin: urlOf(adminApp) }
  await writeDaemonRecord(config.data, { pid: process.pid, http: addresses.http, admin: addresses.admin, startedAt: new Date(started).toISOString() })
  ready = true
  log.info({ peerId: identity.peerId, http: addresses.http, admin: addresses.admin, swarm: swarm.addresses(), data: config.data, version: VERSION }, 'fdn node started')

  let closing: Promise<void> | undefined
  const close = async (): Promise<void> => {
    closing ??= (async () => {
      ready = false
      clearInterval(expiry)
      await removeDaemonRecord(config.data)
      const timer = setTimeout(() => {
        log.warn({ timeoutMs: config.shutdownTimeout }, 'in-flight requests did not finish in time: closing their connections')
        publicApp.server.closeAllConnections()
        adminApp.server.closeAllConnections()
      }, config.shutdownTimeout)
      // fastify closes the connections that are idle when close starts; a keep-alive connection
      // whose in-flight response ends later would hold the exit back until its keep-alive timeout
      const sweep = setInterval(() => {
        publicApp.server.closeIdleConnections()
        adminApp.server.closeIdleConnections()
      }, 50)
      await Promise.all([publicApp.close(), adminApp.close()])
      clearInterval(sweep)
      clearTimeout(timer)
      await actor.stop()
      await swarm.stop()
      await store.close()
      log.info('fdn node stopped')
    })()
    await closing
  }
  return { peerId: identity.peerId, httpUrl: addresses.http, adminUrl: addresses.admin, close }
}

/** Aborts multipart uploads left unfinished longer than the expiry, freeing their parts. */
function startUploadExpiry (objects: ObjectStore, expiryMs: number, log: Logger): NodeJS.Timeout {
  const sweep = (): void => {
    objects.expireUploads(new Date(Date.now() - expiryMs)).then(count => {
      if (count > 0) log.info({ uploads: count }, 'expired unfinished multipart uploads')
    }, (err: unknown) => { log.warn({ err }, 'multipart upload expiry failed') })
  }
  const timer = setInterval(sweep, Math.min(Math.max(expiryMs / 4, 1000), 3_600_000))
  timer.unref()
  return timer
}

/** `headersTimeout`: the whole request head must have come by then (408 and closed). */
function createServer (log: Logger, headersTimeout: number, rewriteUrl?: (req: IncomingMessage) => string): FastifyInstance {
  const app: FastifyInstance = Fastify({
    ...(rewriteUrl == null ? {} : { rewriteUrl }),
    loggerInstance: log as FastifyBaseLogger,
    // one access-log line per request (the onResponse hook below) instead of fastify's two
    logController: new LogController({ disableRequestLogging: true }),
    routerOptions: { maxParamLength: 1000 },
    // no deadline for a whole request: it would cut a large upload however good its
    // rate; request bodies are timed by the upload gate instead (s3/uploads.ts)
    requestTimeout: 0,
    connectionTimeout: IDLE_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // node looks for overdue request heads this often (30 s by default)
    http: { maxHeaderSize: MAX_HEADER_BYTES, connectionsCheckingInterval: Math.min(Math.max(headersTimeout / 4, 250), 5_000) },
    exposeHeadRoutes: false,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    frameworkErrors,
    clientErrorHandler: clientErrorHandler(MAX_HEADER_BYTES)
  })
  app.server.headersTimeout = headersTimeout
  installErrorHandler(app)
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) }, 'request')
  })
  return app
}

function urlOf (app: FastifyInstance): string {
  const address = app.server.address() as AddressInfo
  const host = address.address === '0.0.0.0' || address.address === '::' ? '127.0.0.1' : address.address
  return `http://${formatListen({ host, port: address.port })}`
}
