// The simulation itself: origins, a swarm of real fdn nodes, one tenant per
// instance, every post delivered to every instance, then the bytes counted.
import { createHash } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import cliProgress from 'cli-progress'
import type { BlobView, StatusResponse } from '../../protocol/admin-api.ts'
import type { RetrieveResponse, RetrieveSource } from '../../protocol/retrieve-api.ts'
import { retrieve } from '../../test/helpers/api.ts'
import { adminFetch, startDaemon } from '../../test/helpers/daemon.ts'
import type { RunningDaemon } from '../../test/helpers/daemon.ts'
import { startOrigin } from '../../test/helpers/origin.ts'
import type { Origin } from '../../test/helpers/origin.ts'
import { createTenant } from '../../test/helpers/s3.ts'
import type { Tenant } from '../../test/helpers/s3.ts'
import { initNode, status } from '../../test/helpers/swarm.ts'
import type { SimulateOptions } from './options.ts'
import { makePosts, mediaBytesOf, pick, rng, shuffle } from './posts.ts'
import type { Post } from './posts.ts'

/** Posts whose deliveries may be under way at once. */
const POSTS_IN_FLIGHT = 4
/** Share of deliveries (besides each post's first) whose gateway URL is read back and checked. */
const VERIFY_SHARE = 0.02
const RETRIEVE_TIMEOUT_MS = 120_000
const SETTLE_TIMEOUT_MS = 180_000

// ---------------------------------------------------------------- cleanup

const cleanups: Array<{ name: string, fn: () => Promise<void> }> = []
let cleaning: Promise<void> | undefined

/** Whether cleanup has begun (a signal): failures of the run after that are expected. */
export function stopping (): boolean {
  return cleaning != null
}

function onCleanup (name: string, fn: () => Promise<void>): void {
  cleanups.push({ name, fn })
}

/** Stops every node and origin and removes every data directory; safe to call twice. */
export async function cleanup (): Promise<void> {
  cleaning ??= (async () => {
    progressBar?.stop()
    while (cleanups.length > 0) {
      const { name, fn } = cleanups.pop()!
      try {
        await fn()
      } catch (err) {
        process.stderr.write(`cleanup of ${name} failed: ${(err as Error).message}\n`)
      }
    }
  })()
  await cleaning
}

// ---------------------------------------------------------------- progress

const started = performance.now()
let progressBar: cliProgress.SingleBar | undefined

/** One line on stderr, prefixed with the seconds since start. */
export function note (message: string): void {
  const seconds = ((performance.now() - started) / 1000).toFixed(1).padStart(6)
  process.stderr.write(`[simulate ${seconds}s] ${message}\n`)
}

// ---------------------------------------------------------------- results

export interface NodeFigures {
  server: number
  peerId: string
  instances: number
  /** Downloads from origins started by this node. */
  originFetches: number
  /** Block bytes received from peers during the run. */
  receivedBytes: number
  /** Bytes on disk added during the run, less the blobs held only as cache. */
  storedBytes: number
  /** Blobs of the run this node holds for good (an object, a pin or a replica) and only as cache, and their bytes. */
  durableBlobs: number
  cacheOnlyBlobs: number
  cacheOnlyBytes: number
  /** What the node's status calls cache (`swarm.cachedBytes`). */
  reportedCachedBytes: number
}

export interface Measured {
  options: SimulateOptions
  attachments: number
  mediaBytes: number
  deliveries: number
  retrieves: number
  /** Bytes the origin servers wrote to their sockets (headers included). */
  originBytes: number
  /** Requests the origins answered, and how many of them were repeats of a URL already served. */
  originRequests: number
  originRepeats: number
  /** The URLs an origin served more than once (at most 20): each repeat is a media server that did not find the file in the swarm. */
  repeatedUrls: Array<{ url: string, size: number, requests: number }>
  swarmBytes: number
  storageBytes: number
  /** Bytes on the nodes' disks before the first delivery (tenants' manifests…), not counted in storageBytes. */
  baselineBytes: number
  /** Bytes of blobs the nodes hold only as cache (bounded by FDN_CACHE_SIZE, evictable). */
  cacheBytes: number
  /** Σ of the nodes' `swarm.cachedBytes`. */
  reportedCachedBytes: number
  /** Where the media came from, as the answers to the instances said. */
  sources: Record<RetrieveSource | 'failed', number>
  /** Milliseconds a retrieve took as the instance saw it, by source: median and 90th percentile. */
  latencyMs: Record<RetrieveSource, { p50: number, p90: number }>
  /** Retrieve answers per second during the deliveries. */
  retrievesPerSecond: number
  /** The nodes' own retrieve counters, summed. */
  nodeRetrieve: StatusResponse['retrieve']
  /** Copies the nodes still count as under-replicated or pending at the end. */
  underReplicated: number
  pending: number
  verified: number
  /** Answers that named other bytes than the attachment's, and sampled gateway reads that did not match. */
  wrongAnswers: number
  failures: string[]
  settled: boolean
  /** Wall time of the phases, and the CPU time of this process (the instances, the origins: not the nodes). */
  seconds: { setup: number, deliveries: number, settle: number, total: number, simulatorCpu: number }
  nodes: NodeFigures[]
}

// ---------------------------------------------------------------- helpers

/** Runs `fn` over `items` with at most `limit` at once. */
async function eachLimited<T> (items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++
      await fn(items[index]!, index)
    }
  }))
}

/**
 * At most `size` holders at once. A freed slot goes to a waiter picked at
 * random, so the deliveries of the posts in flight interleave.
 */
class Slots {
  private free: number
  private readonly waiters: Array<() => void> = []
  private readonly random: () => number

  constructor (size: number, random: () => number) {
    this.free = size
    this.random = random
  }

  async run<T> (fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--
    else await new Promise<void>(resolve => this.waiters.push(resolve))
    try {
      return await fn()
    } finally {
      if (this.waiters.length > 0) this.waiters.splice(pick(this.random, this.waiters.length), 1)[0]!()
      else this.free++
    }
  }
}

function percentiles (values: number[]): { p50: number, p90: number } {
  const sorted = [...values].sort((a, b) => a - b)
  const at = (q: number): number => sorted.length === 0 ? 0 : Math.round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]! * 10) / 10
  return { p50: at(0.5), p90: at(0.9) }
}

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function need (value: number | undefined, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new Error(`the node's status has no ${what}: does this build have the retrieve API and its counters?`)
  }
  return value
}

interface NodeSnapshot {
  physical: number
  cached: number
  received: number
  status: StatusResponse
}

function snapshotOf (s: StatusResponse): NodeSnapshot {
  return {
    physical: need(s.physicalBytes, 'physicalBytes'),
    cached: need(s.swarm.cachedBytes, 'swarm.cachedBytes'),
    received: need(s.swarm.receivedBytes, 'swarm.receivedBytes'),
    status: s
  }
}

// ---------------------------------------------------------------- the run

/** SIGTERM, and SIGKILL if the node has not stopped within 5 s. */
async function stopDaemon (daemon: RunningDaemon): Promise<void> {
  const timer = setTimeout(() => { void daemon.kill() }, 5_000)
  try {
    await daemon.stop()
  } finally {
    clearTimeout(timer)
  }
}

interface Member {
  server: number
  peerId: string
  dataDir: string
  daemon: RunningDaemon
}

interface Instance {
  index: number
  server: number
  tenant: Tenant
}

async function startOrigins (count: number, posts: Post[]): Promise<Origin[]> {
  const origins: Origin[] = []
  for (let i = 0; i < count; i++) {
    const origin = await startOrigin()
    onCleanup(`origin ${i}`, async () => { await origin.close() })
    origins.push(origin)
  }
  for (const post of posts) {
    const origin = origins[post.origin]!
    for (const attachment of post.attachments) {
      attachment.url = `${origin.url}${attachment.path}`
      origin.route(attachment.path, { body: attachment.bytes, contentType: attachment.mediaType })
    }
  }
  return origins
}

async function startNodes (options: SimulateOptions, originPorts: number[]): Promise<Member[]> {
  const inits: Array<{ dataDir: string, peerId: string }> = []
  await eachLimited(Array.from({ length: options.servers }, (_, i) => i), 4, async (i) => {
    const node = await initNode()
    onCleanup(`data directory of node ${i}`, async () => { await rm(node.dataDir, { recursive: true, force: true }) })
    inits[i] = node
  })
  note(`${options.servers} node identities made; starting the daemons`)
  const env: Record<string, string> = {
    FDN_TRUSTED_PEERS: inits.map(node => node.peerId).join(','),
    FDN_FETCH_ALLOW: '127.0.0.0/8',
    FDN_FETCH_PORTS: originPorts.join(','),
    FDN_REPLICAS: String(options.replicas),
    FDN_LOG_LEVEL: options.logLevel,
    // trusted peers are pinged at this interval: healthy within seconds, not the default 30 s
    FDN_REPAIR_INTERVAL: '5s'
  }
  const members: Member[] = []
  const daemons: RunningDaemon[] = []
  onCleanup('nodes', async () => { await Promise.all(daemons.map(stopDaemon)) })
  const start = async (i: number, extra: Record<string, string>): Promise<void> => {
    const node = inits[i]!
    const daemon = await startDaemon({ dataDir: node.dataDir, env: { ...env, ...extra } })
    daemons.push(daemon)
    members[i] = { server: i, peerId: node.peerId, dataDir: node.dataDir, daemon }
  }
  await start(0, {})
  const bootstrap = (await status(members[0]!.daemon)).addresses.swarm[0]
  if (bootstrap == null) throw new Error('node 0 has no swarm address')
  await eachLimited(Array.from({ length: options.servers - 1 }, (_, i) => i + 1), 3, async (i) => { await start(i, { FDN_BOOTSTRAP: bootstrap }) })
  note('daemons started; waiting until they all see each other')
  const deadline = Date.now() + 60_000 + options.servers * 3_000
  for (;;) {
    const all = await Promise.all(members.map(async member => await status(member.daemon)))
    if (all.every(s => s.swarm.trustedHealthy === options.servers - 1)) break
    if (Date.now() > deadline) {
      throw new Error(`the nodes did not all see each other as healthy trusted peers: ${all.map(s => s.swarm.trustedHealthy).join(', ')} of ${options.servers - 1}`)
    }
    await sleep(250)
  }
  return members
}

async function createInstances (options: SimulateOptions, members: Member[]): Promise<Instance[]> {
  const instances: Instance[] = []
  const width = String(options.instances - 1).length
  await Promise.all(members.map(async (member) => {
    for (let index = member.server; index < options.instances; index += options.servers) {
      const tenant = await createTenant(member.daemon, `instance-${String(index).padStart(width, '0')}`)
      instances[index] = { index, server: member.server, tenant }
    }
  }))
  return instances
}

/**
 * How a node holds the run's blobs, from each blob's references: for good
 * (an object, a pin, a replica: anything but the swarm cache) or only as
 * cache, which FDN_CACHE_SIZE bounds and eviction may drop.
 */
async function holdingsOf (daemon: RunningDaemon, cids: string[]): Promise<{ durableBlobs: number, cacheOnlyBlobs: number, cacheOnlyBytes: number }> {
  const held = { durableBlobs: 0, cacheOnlyBlobs: 0, cacheOnlyBytes: 0 }
  await eachLimited(cids, 8, async (cid) => {
    const response = await adminFetch(daemon, `/admin/v1/blobs/${cid}`)
    if (response.status === 404) {
      await response.body?.cancel()
      return
    }
    if (!response.ok) throw new Error(`GET /admin/v1/blobs/${cid}: ${response.status} ${await response.text()}`)
    const blob = await response.json() as BlobView
    if (blob.refs.some(ref => ref.kind !== 'cache')) {
      held.durableBlobs++
    } else {
      held.cacheOnlyBlobs++
      held.cacheOnlyBytes += blob.size
    }
  })
  return held
}

async function snapshots (members: Member[]): Promise<NodeSnapshot[]> {
  return await Promise.all(members.map(async member => snapshotOf(await status(member.daemon))))
}

/**
 * Waits until every node has replicated what it downloaded (no replication
 * pending) and the byte counts have stopped moving for 1.5 s.
 */
async function settle (members: Member[], timeoutMs: number): Promise<{ settled: boolean, last: NodeSnapshot[] }> {
  const deadline = Date.now() + timeoutMs
  let previous = ''
  let stable = 0
  let last = await snapshots(members)
  while (Date.now() < deadline) {
    const pending = last.reduce((sum, s) => sum + s.status.replication.pending, 0)
    const key = JSON.stringify(last.map(s => [s.physical, s.cached, s.received, s.status.replication]))
    if (pending === 0 && key === previous) {
      if (++stable >= 3) return { settled: true, last }
    } else {
      stable = 0
    }
    previous = key
    await sleep(500)
    last = await snapshots(members)
  }
  return { settled: false, last }
}

export async function simulate (options: SimulateOptions): Promise<Measured> {
  const showBar = process.stderr.isTTY && !options.json
  note(`making ${options.posts} posts (seed ${options.seed})`)
  const posts = await makePosts(options.posts, options.origins, options.seed)
  const attachments = posts.reduce((sum, post) => sum + post.attachments.length, 0)
  const mediaBytes = mediaBytesOf(posts)
  note(`${attachments} attachments, ${(mediaBytes / 1e6).toFixed(1)} MB; starting ${options.origins} origins and ${options.servers} nodes`)
  const origins = await startOrigins(options.origins, posts)
  const members = await startNodes(options, origins.map(origin => origin.port))
  lastMembers = members
  onCleanup('node logs', async () => {
    if (options.logDir == null) return
    await mkdir(options.logDir, { recursive: true })
    await Promise.all(members.map(async member => {
      await writeFile(path.join(options.logDir!, `node-${member.server}.log`), member.daemon.output())
    }))
  })
  note(`creating ${options.instances} instances (tenants)`)
  const instances = await createInstances(options, members)
  const before = await snapshots(members)
  const setupSeconds = (performance.now() - started) / 1000

  const cidBySha = new Map<string, string>()
  const durations: Record<RetrieveSource, number[]> = { local: [], swarm: [], origin: [] }
  // The plan, fixed by the seed: who gets each post first, the order of the rest, which answers are read back.
  const random = rng(options.seed ^ 0x5eed5eed)
  const plan = posts.map(post => {
    const order = shuffle(random, instances.map(instance => instance.index))
    const verify = order.map((_, position) => position === 0 || random() < VERIFY_SHARE)
    return { post, order, verify }
  })

  const sources: Record<RetrieveSource | 'failed', number> = { local: 0, swarm: 0, origin: 0, failed: 0 }
  const failures: string[] = []
  let wrongAnswers = 0
  let verified = 0
  let delivered = 0
  const totalDeliveries = posts.length * instances.length
  const fail = (message: string): void => {
    sources.failed++
    if (failures.length < 20) failures.push(message)
  }

  const deliver = async (post: Post, instance: Instance, check: boolean): Promise<void> => {
    const member = members[instance.server]!
    const originUrl = new URL(post.attachments[0]!.url).origin
    for (const attachment of post.attachments) {
      let answer
      const begin = performance.now()
      try {
        answer = await retrieve(member.daemon.http, instance.tenant, {
          url: attachment.url,
          digestMultibase: attachment.digestMultibase,
          actor: `${originUrl}${post.actorPath}`,
          status: `${originUrl}${post.statusPath}`
        }, AbortSignal.timeout(RETRIEVE_TIMEOUT_MS))
      } catch (err) {
        fail(`instance ${instance.index} (node ${instance.server}) ${attachment.url}: ${(err as Error).message}`)
        continue
      }
      if (answer.status !== 200) {
        fail(`instance ${instance.index} (node ${instance.server}) ${attachment.url}: HTTP ${answer.status} ${answer.text.slice(0, 300)}`)
        continue
      }
      const body = answer.json as RetrieveResponse
      sources[body.source] = (sources[body.source] ?? 0) + 1
      durations[body.source]?.push(performance.now() - begin)
      cidBySha.set(body.sha256, body.cid)
      if (body.sha256 !== attachment.sha256 || body.size !== attachment.size) {
        wrongAnswers++
        if (failures.length < 20) failures.push(`instance ${instance.index}: ${attachment.url} answered sha256 ${body.sha256} size ${body.size}, expected ${attachment.sha256} size ${attachment.size}`)
        continue
      }
      if (check) {
        // read it as the instance's users would, from the instance's own media server
        const gateway = `${member.daemon.http}${new URL(body.url).pathname}`
        const response = await fetch(gateway, { signal: AbortSignal.timeout(RETRIEVE_TIMEOUT_MS) }).catch((err: Error) => err)
        const bytes = response instanceof Error ? undefined : response.ok ? Buffer.from(await response.arrayBuffer()) : undefined
        if (bytes == null || sha256(bytes) !== attachment.sha256) {
          wrongAnswers++
          if (failures.length < 20) failures.push(`GET ${gateway} for instance ${instance.index}: ${response instanceof Error ? response.message : `HTTP ${response.status}, ${bytes == null ? 'no body' : 'other bytes'}`}`)
        } else {
          verified++
        }
      }
    }
    delivered++
    progressBar?.update(delivered, { origin: sources.origin, swarm: sources.swarm, local: sources.local, failed: sources.failed })
  }

  note(`delivering ${posts.length} posts to ${instances.length} instances (${totalDeliveries} deliveries, ${instances.length * attachments} retrieves; ${options.concurrency} in flight)`)
  if (showBar) {
    progressBar = new cliProgress.SingleBar({
      stream: process.stderr,
      format: 'deliveries [{bar}] {value}/{total} {percentage}% | ETA {eta_formatted} | origin {origin} swarm {swarm} local {local} failed {failed}',
      hideCursor: true
    }, cliProgress.Presets.shades_classic)
    progressBar.start(totalDeliveries, 0, { origin: 0, swarm: 0, local: 0, failed: 0 })
  }
  const slots = new Slots(options.concurrency, rng(options.seed ^ 0x0a11ce))
  const deliveriesStarted = performance.now()
  let nextPost = 0
  await Promise.all(Array.from({ length: Math.min(POSTS_IN_FLIGHT, plan.length) }, async () => {
    while (nextPost < plan.length) {
      const { post, order, verify } = plan[nextPost++]!
      // one instance receives the post first: its media server fetches the attachments from the origin
      await slots.run(async () => { await deliver(post, instances[order[0]!]!, true) })
      // then the rest of the fediverse, in random order
      await Promise.all(order.slice(1).map(async (index, i) => {
        await slots.run(async () => { await deliver(post, instances[index]!, verify[i + 1]!) })
      }))
    }
  }))
  progressBar?.stop()
  progressBar = undefined
  const deliverySeconds = (performance.now() - deliveriesStarted) / 1000
  note(`deliveries done in ${deliverySeconds.toFixed(1)} s; waiting for replication to settle`)

  const settleStarted = performance.now()
  const { settled, last: after } = await settle(members, SETTLE_TIMEOUT_MS)
  const settleSeconds = (performance.now() - settleStarted) / 1000
  note(settled ? `settled in ${settleSeconds.toFixed(1)} s` : `replication did not settle within ${SETTLE_TIMEOUT_MS / 1000} s: measuring anyway`)

  const nodeRetrieve: StatusResponse['retrieve'] = { local: 0, swarm: 0, origin: 0, failed: 0, originFetches: 0, originBytes: 0, originWireBytes: 0 }
  for (const s of after) {
    for (const name of Object.keys(nodeRetrieve) as Array<keyof StatusResponse['retrieve']>) nodeRetrieve[name] += need(s.status.retrieve?.[name], `retrieve.${name}`)
  }
  const holdings = await Promise.all(members.map(async member => await holdingsOf(member.daemon, [...cidBySha.values()])))
  const nodes: NodeFigures[] = after.map((s, i) => ({
    server: i,
    peerId: members[i]!.peerId,
    instances: instances.filter(instance => instance.server === i).length,
    originFetches: s.status.retrieve.originFetches,
    receivedBytes: s.received - before[i]!.received,
    storedBytes: s.physical - before[i]!.physical - holdings[i]!.cacheOnlyBytes,
    ...holdings[i]!,
    reportedCachedBytes: s.cached
  }))
  let originRequests = 0
  let originRepeats = 0
  const repeatedUrls: Measured['repeatedUrls'] = []
  const sizeOf = new Map(posts.flatMap(post => post.attachments.map(attachment => [attachment.url, attachment.size] as const)))
  for (const origin of origins) {
    for (const [route, hits] of origin.stats.hits) {
      originRequests += hits
      originRepeats += Math.max(0, hits - 1)
      if (hits > 1 && repeatedUrls.length < 20) repeatedUrls.push({ url: `${origin.url}${route}`, size: sizeOf.get(`${origin.url}${route}`) ?? 0, requests: hits })
    }
  }
  return {
    options,
    attachments,
    mediaBytes,
    deliveries: totalDeliveries,
    retrieves: instances.length * attachments,
    originBytes: origins.reduce((sum, origin) => sum + origin.stats.bytesSent, 0),
    originRequests,
    originRepeats,
    repeatedUrls,
    swarmBytes: nodes.reduce((sum, node) => sum + node.receivedBytes, 0),
    storageBytes: nodes.reduce((sum, node) => sum + node.storedBytes, 0),
    baselineBytes: before.reduce((sum, s) => sum + s.physical, 0),
    cacheBytes: nodes.reduce((sum, node) => sum + node.cacheOnlyBytes, 0),
    reportedCachedBytes: nodes.reduce((sum, node) => sum + node.reportedCachedBytes, 0),
    sources,
    latencyMs: { local: percentiles(durations.local), swarm: percentiles(durations.swarm), origin: percentiles(durations.origin) },
    retrievesPerSecond: (sources.local + sources.swarm + sources.origin) / deliverySeconds,
    nodeRetrieve,
    underReplicated: after.reduce((sum, s) => sum + s.status.replication['under-replicated'], 0),
    pending: after.reduce((sum, s) => sum + s.status.replication.pending, 0),
    verified,
    wrongAnswers,
    failures,
    settled,
    seconds: { setup: setupSeconds, deliveries: deliverySeconds, settle: settleSeconds, total: (performance.now() - started) / 1000, simulatorCpu: (process.cpuUsage().user + process.cpuUsage().system) / 1e6 },
    nodes
  }
}

let lastMembers: Member[] = []

/** The lines of the nodes' logs that speak of a problem (for a failed run). */
export function nodeProblems (limit = 20): string[] {
  return lastMembers.flatMap(member => member.daemon.output().split('\n')
    .filter(line => /"level":(40|50|60)|error|warn/i.test(line))
    .map(line => `node ${member.server}: ${line.slice(0, 400)}`)).slice(0, limit)
}
