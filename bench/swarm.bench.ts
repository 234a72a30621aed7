// Benchmarks 7, 8 and 9: the libp2p swarm between real `fdn start` processes on loopback.
//  7. swarm transfer: a 100 MiB blob added to node A, fetched by a fresh, empty node B through
//     B's own gateway (DHT lookup + bitswap from A), against a plain HTTP download of the
//     same blob from A's gateway by the same client.
//  8. provider lookup: a 20-node swarm; a few nodes add small blobs (provided to the DHT by
//     the nodes themselves); an in-bench libp2p peer with the nodes' DHT configuration times
//     `contentRouting.findProviders` to the first provider.
//  9. replication catch-up: 3 trusted nodes, replicas 2, 1000 PutObject of 100 KB on node A;
//     the time from the last PutObject's answer until A reports every blob replicated.
import { createHash, randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import type { KadDHT } from '@libp2p/kad-dht'
import { noise } from '@libp2p/noise'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { CID } from 'multiformats/cid'
import { sha256 as sha256Hasher } from 'multiformats/hashes/sha2'
import { ADMIN_ROUTES } from '../protocol/admin-api.ts'
import type { StatusResponse } from '../protocol/admin-api.ts'
import { KAD_PROTOCOL, KAD_QUERY } from '../node/swarm/swarm-node.ts'
import { addBytes, initFdn, memoryOf, sampleRss, startFdn, statusOf, swarmAddressesOf } from './fdn.ts'
import type { FdnDaemon } from './fdn.ts'
import { onCleanup, ROOT, step } from './proc.ts'
import { mib } from './report.ts'
import type { SummaryRow } from './report.ts'

const MiB = 1048576
const RAW_CODE = 0x55

/** Swarm transfer must reach this fraction of the plain HTTP download (the issue's target). */
const TRANSFER_TARGET = 0.25
/** Median time to the first provider. */
const LOOKUP_TARGET_MS = 50
/** From the last PutObject's answer to every blob replicated. */
const CATCHUP_TARGET_S = 10

export interface SwarmParams {
  /** Bytes of the blob of benchmark 7. */
  transferBytes: number
  /** Fresh B node (and new blob) per run; the median counts. */
  transferRuns: number
  /** FDN_FETCH_TIMEOUT of the B nodes: a stalled fetch answers 504 after it (keep it under the gateway's 60 s idle timeout). */
  fetchTimeout: string
  /** Wait after B connects to A before the timed GET. */
  settleMs: number
  /** Nodes of the lookup swarm (benchmark 8). */
  dhtNodes: number
  /** Nodes started at once. */
  startBatch: number
  publishers: number
  blobsPerPublisher: number
  smallBlobBytes: number
  /** Timed lookups: every CID is looked up this many times over. */
  lookupPasses: number
  /** Gateway first reads of a blob the node lacks (reported, no target). */
  gatewayMisses: number
  /** PutObjects of benchmark 9. */
  objects: number
  objectBytes: number
  concurrency: number
  /** FDN_REPAIR_INTERVAL of the replication nodes (how often trusted peers are pinged and holders checked). */
  repairInterval: string
  catchupTimeoutMs: number
  /** Catch-up is given up when A's counts have not moved for this long (and nothing is pending). */
  stallMs: number
}

export interface Download {
  status: number
  bytes: number
  ttfbMs: number
  seconds: number
  bytesPerSecond: number
  sha256: string
  /** The body of an error answer, or why there was none. */
  text?: string
  /** The body ended early (the connection was closed mid-answer). */
  cut?: boolean
}

export interface TransferRun {
  run: number
  cid: string
  http: Download
  swarm: Download
  /** B: VmRSS before the fetch, highest sample during it, and VmHWM after it. */
  idleRss: number
  sampledPeakRss: number
  hwm: number
  verified: boolean
  failure: string | undefined
  bConnectedMs: number
  /** Inbound streams B's yamux aborted (its error log). */
  streamAborts: number
}

export interface TransferReport {
  runs: TransferRun[]
  medianSwarm: number | undefined
  medianHttp: number | undefined
  ratio: number | undefined
  peakRss: number | undefined
  notMeasured: string | undefined
}

export interface LookupStats {
  label: string
  count: number
  failures: number
  /** Lookups answered from the client's own provider store (should be 0). */
  local: number
  medianMs: number | undefined
  p90Ms: number | undefined
  minMs: number | undefined
  maxMs: number | undefined
  routingTable: number
}

export interface LookupReport {
  nodes: number
  startSeconds: number
  cids: number
  /** From the last add until every CID had a provider, as seen by the probe. */
  providedSeconds: number | undefined
  lookups: LookupStats[]
  miss: { count: number, failures: number, medianMissTtfbMs: number | undefined, medianHitTtfbMs: number | undefined, medianExtraMs: number | undefined, p90ExtraMs: number | undefined } | undefined
  notMeasured: string | undefined
}

export interface ReplicationReport {
  objects: number
  objectBytes: number
  uploadSeconds: number | undefined
  putsPerSecond: number | undefined
  /** A's counts when the last PutObject answered. */
  atLastPut: StatusResponse['replication'] | undefined
  catchupSeconds: number | undefined
  final: StatusResponse['replication'] | undefined
  heldForPeers: number[]
  timeline: Array<{ seconds: number, replicated: number, pending: number, under: number, healthy: number }>
  /** What B and C logged about the copies A asked them to hold (info level), counted by message. */
  holderLog: string[]
  notMeasured: string | undefined
}

export interface SwarmReport {
  params: SwarmParams
  seconds: number
  versions: Record<string, string>
  transfer: TransferReport
  lookup: LookupReport
  replication: ReplicationReport
  notes: string[]
}

export async function benchSwarm (params: SwarmParams, work: string): Promise<SwarmReport> {
  const begin = performance.now()
  const notes: string[] = []
  const versions = await libp2pVersions()
  const transfer = await guarded('transfer', async () => await benchTransfer(params, path.join(work, 'swarm-transfer'), notes),
    (reason): TransferReport => ({ runs: [], medianSwarm: undefined, medianHttp: undefined, ratio: undefined, peakRss: undefined, notMeasured: reason }))
  const lookup = await guarded('lookup', async () => await benchLookup(params, path.join(work, 'swarm-dht'), notes),
    (reason): LookupReport => ({ nodes: params.dhtNodes, startSeconds: 0, cids: 0, providedSeconds: undefined, lookups: [], miss: undefined, notMeasured: reason }))
  const replication = await guarded('replication', async () => await benchReplication(params, path.join(work, 'swarm-replication'), notes),
    (reason): ReplicationReport => ({ objects: params.objects, objectBytes: params.objectBytes, uploadSeconds: undefined, putsPerSecond: undefined, atLastPut: undefined, catchupSeconds: undefined, final: undefined, heldForPeers: [], timeline: [], holderLog: [], notMeasured: reason }))
  return { params, seconds: (performance.now() - begin) / 1000, versions, transfer, lookup, replication, notes }
}

/** A failed part is reported as NOT MEASURED with its reason; the other parts still run. */
async function guarded<T> (name: string, fn: () => Promise<T>, failed: (reason: string) => T): Promise<T> {
  try {
    return await fn()
  } catch (err) {
    step(`swarm: ${name} FAILED: ${(err as Error).stack ?? String(err)}`)
    return failed((err as Error).message.split('\n')[0])
  }
}

// ---------------------------------------------------------------------------------------------
// 7. transfer

async function benchTransfer (params: SwarmParams, work: string, notes: string[]): Promise<TransferReport> {
  step(`swarm: transfer: starting node A (fdn start, FDN_LOG_LEVEL=warn, loopback)`)
  const a = await startFdn({ dataDir: path.join(work, 'a') })
  const runs: TransferRun[] = []
  try {
    const aSwarm = await swarmAddressesOf(a)
    step(`swarm: transfer: A is ${aSwarm.peerId} at ${aSwarm.addresses.join(', ')}`)
    for (let run = 1; run <= params.transferRuns; run++) {
      const blob = randomBytes(params.transferBytes)
      const expected = sha256(blob)
      const added = await addBytes(a, blob)
      step(`swarm: transfer run ${run}/${params.transferRuns}: added ${mib(blob.length)} of random bytes to A: ${added.cid}`)
      // the anchor first: it also brings A's blocks into its page cache and block cache, which bitswap then reads
      const http = await download(`${a.http}/ipfs/${added.cid}`)
      step(`swarm: transfer run ${run}: HTTP GET A/ipfs/{cid}: ${(http.bytesPerSecond / MiB).toFixed(1)} MiB/s (${http.seconds.toFixed(2)} s)`)
      if (http.status !== 200 || http.sha256 !== expected) throw new Error(`A answered ${http.status}, ${http.bytes} bytes: not the blob`)
      // DEBUG: yamux's own error lines only (a stream it aborts), for the diagnosis of a failed run
      const b = await startFdn({ dataDir: path.join(work, `b${run}`), env: { FDN_BOOTSTRAP: aSwarm.addresses.join(','), FDN_FETCH_TIMEOUT: params.fetchTimeout, DEBUG: '*yamux*:error' } })
      try {
        const connectedAt = performance.now()
        await until(async () => (await statusOf(b)).swarm.connected >= 1, 15_000, 'B connected to A')
        const bConnectedMs = performance.now() - connectedAt
        // kad-dht holds a new node's first query until its initial self-query (1 s after start): a node that just booted is not what is measured
        await sleep(params.settleMs)
        const idleRss = (await memoryOf(b.pid))?.rss ?? NaN
        const sampler = sampleRss(b.pid, 50)
        const began = performance.now()
        const fetched = await download(`${b.http}/ipfs/${added.cid}`).catch((err: unknown) => err as Error)
        const sampled = await sampler.stop()
        const hwm = (await memoryOf(b.pid))?.hwm ?? NaN
        const swarm: Download = fetched instanceof Error
          ? { status: 0, bytes: 0, ttfbMs: NaN, seconds: (performance.now() - began) / 1000, bytesPerSecond: 0, sha256: '', text: fetched.message }
          : fetched
        const failure = swarm.status !== 200
          ? `B answered ${swarm.status === 0 ? `nothing (${swarm.text ?? ''})` : `${swarm.status} ${(swarm.text ?? '').slice(0, 200)}`} after ${swarm.seconds.toFixed(1)} s`
          : swarm.cut === true ? `B answered 200 after ${swarm.ttfbMs.toFixed(0)} ms, then its ${swarm.text ?? ''} (${swarm.seconds.toFixed(1)} s)`
            : swarm.sha256 !== expected ? `B answered 200 with ${swarm.bytes} bytes that are not the blob` : undefined
        // a failed fetch moved no blob: it counts as 0 MiB/s in the median
        if (failure != null) swarm.bytesPerSecond = 0
        // yamux aborts an inbound stream whose unread data passes its read buffer limit: the blocks on it are lost
        const aborted = b.output().split('\n').filter(line => /yamux.*:error abort with error/.test(line))
        const streamAborts = aborted.length
        runs.push({ run, cid: added.cid, http, swarm, idleRss, sampledPeakRss: sampled.peakRss, hwm, verified: failure == null, failure, bConnectedMs, streamAborts })
        if (failure == null) {
          step(`swarm: transfer run ${run}: GET B/ipfs/{cid} through the swarm: ${(swarm.bytesPerSecond / MiB).toFixed(1)} MiB/s (${swarm.seconds.toFixed(2)} s, first byte after ${swarm.ttfbMs.toFixed(0)} ms), `
            + `${(swarm.bytesPerSecond / http.bytesPerSecond * 100).toFixed(0)} % of HTTP; B RSS ${mib(idleRss)} → peak ${mib(sampled.peakRss)} (VmHWM ${mib(hwm)})`)
        } else {
          step(`swarm: transfer run ${run}: FAILED: ${failure}; B RSS ${mib(idleRss)} → peak ${mib(sampled.peakRss)}`)
          const warnings = summarizeLog(b.output().split('\n'), line => (line.includes('"level":40') || line.includes('"level":50')) && !line.includes('created a new node identity'))
          // the yamux line names the stream and the error, after a time stamp and colour codes
          const abort = (aborted.find(line => line.includes('StreamBufferError')) ?? aborted[0])?.replace(/\u001b\[[0-9;]*m/g, '').replace(/^\S+\s+/, '').slice(0, 300)
          notes.push(`transfer run ${run}: ${failure}. B's yamux aborted ${streamAborts} inbound stream(s), ${aborted.filter(line => line.includes('StreamBufferError')).length} for a full read buffer${abort != null ? `, e.g. \`${abort}\`` : ''}${warnings.length > 0 ? `; B warned: ${warnings.slice(0, 2).join('; ')}` : ''}`)
        }
      } finally {
        await b.stop()
      }
    }
  } finally {
    await a.stop()
  }
  const medianSwarm = median(runs.map(r => r.swarm.bytesPerSecond))
  const medianHttp = median(runs.map(r => r.http.bytesPerSecond))
  return {
    runs,
    medianSwarm,
    medianHttp,
    ratio: medianSwarm != null && medianHttp != null ? medianSwarm / medianHttp : undefined,
    peakRss: runs.length > 0 ? Math.max(...runs.map(r => Math.max(r.sampledPeakRss, r.hwm))) : undefined,
    notMeasured: undefined
  }
}

/** GET with node:http (no keep-alive), the body kept as received and hashed after the clock stops. */
async function download (url: string, timeoutMs = 300_000): Promise<Download> {
  const start = performance.now()
  return await new Promise<Download>((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMs }, response => {
      const ttfbMs = performance.now() - start
      const chunks: Buffer[] = []
      let bytes = 0
      response.on('data', (chunk: Buffer) => { chunks.push(chunk); bytes += chunk.length })
      // an answer cut short (a server that streams while it fetches, then fails) is reported with what came
      response.on('error', (err: Error) => {
        const seconds = (performance.now() - start) / 1000
        resolve({ status: response.statusCode ?? 0, bytes, ttfbMs, seconds, bytesPerSecond: bytes / seconds, sha256: '', text: `body cut after ${bytes} bytes: ${err.message}`, cut: true })
      })
      response.on('end', () => {
        const seconds = (performance.now() - start) / 1000
        const hash = createHash('sha256')
        for (const chunk of chunks) hash.update(chunk)
        const status = response.statusCode ?? 0
        resolve({ status, bytes, ttfbMs, seconds, bytesPerSecond: bytes / seconds, sha256: hash.digest('hex'), ...(status !== 200 ? { text: Buffer.concat(chunks).toString('utf8', 0, 500) } : {}) })
      })
    })
    req.on('timeout', () => { req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)) })
    req.on('error', reject)
    req.end()
  })
}

// ---------------------------------------------------------------------------------------------
// 8. provider lookup

async function benchLookup (params: SwarmParams, work: string, notes: string[]): Promise<LookupReport> {
  const nodes: FdnDaemon[] = []
  const stopAll = async (): Promise<void> => { await Promise.allSettled(nodes.map(async n => { await n.stop() })) }
  const clients: Libp2p[] = []
  try {
    const began = performance.now()
    step(`swarm: lookup: starting ${params.dhtNodes} nodes, ${params.startBatch} at a time, all bootstrapped to node 0`)
    nodes.push(await startFdn({ dataDir: path.join(work, 'n0') }))
    const zero = await swarmAddressesOf(nodes[0])
    for (let i = 1; i < params.dhtNodes; i += params.startBatch) {
      const batch = []
      for (let j = i; j < Math.min(params.dhtNodes, i + params.startBatch); j++) {
        batch.push(startFdn({ dataDir: path.join(work, `n${j}`), env: { FDN_BOOTSTRAP: zero.addresses.join(',') } }))
      }
      const started = await Promise.allSettled(batch)
      for (const s of started) if (s.status === 'fulfilled') nodes.push(s.value)
      const failed = started.find(s => s.status === 'rejected')
      if (failed != null) throw (failed as PromiseRejectedResult).reason
    }
    const ids = new Map<FdnDaemon, string>()
    for (const n of nodes) {
      await until(async () => (await statusOf(n)).swarm.connected >= 1, 20_000, `node ${nodes.indexOf(n)} connected`)
      ids.set(n, (await statusOf(n)).peerId)
    }
    const startSeconds = (performance.now() - began) / 1000
    const connected = await Promise.all(nodes.map(async n => (await statusOf(n)).swarm.connected))
    step(`swarm: lookup: ${nodes.length} nodes up in ${startSeconds.toFixed(1)} s; connections per node: ${connected.join(' ')}; total RSS ${mib((await Promise.all(nodes.map(async n => (await memoryOf(n.pid))?.rss ?? 0))).reduce((x, y) => x + y, 0))}`)
    // the routing tables fill from node 0's answers to the nodes' self-queries
    await sleep(2000)

    // publishers spread over the swarm, none of them node 0
    const publishers = Array.from({ length: params.publishers }, (_, k) => nodes[1 + Math.floor(k * (nodes.length - 1) / params.publishers)])
    const cids: Array<{ cid: string, publisher: FdnDaemon }> = []
    const addStart = performance.now()
    // the publishers add at the same time, each one blob after the other
    const perPublisher = await Promise.all(publishers.map(async publisher => {
      const mine: Array<{ cid: string, publisher: FdnDaemon }> = []
      for (let k = 0; k < params.blobsPerPublisher; k++) mine.push({ cid: (await addBytes(publisher, randomBytes(params.smallBlobBytes))).cid, publisher })
      return mine
    }))
    for (let k = 0; k < params.blobsPerPublisher; k++) for (const mine of perPublisher) cids.push(mine[k])
    const addSeconds = (performance.now() - addStart) / 1000
    const addedAt = performance.now()
    step(`swarm: lookup: ${publishers.length} nodes (${publishers.map(p => nodes.indexOf(p)).join(', ')}) added ${params.blobsPerPublisher} blobs of ${params.smallBlobBytes} bytes each (${cids.length} CIDs) in ${addSeconds.toFixed(1)} s; waiting for their provider records`)

    // a DHT client (client mode: it stores no records) waits until every CID has a provider
    const probe = await dhtClient(true, [zero.addresses[0], ...(await swarmAddressesOf(nodes[Math.floor(nodes.length / 2)])).addresses.slice(0, 1)])
    clients.push(probe)
    await waitForRoutingTable(probe, Math.min(nodes.length, 10), 10_000)
    const missing = new Set(cids.map(c => c.cid))
    const deadline = Date.now() + 60_000
    while (missing.size > 0 && Date.now() < deadline) {
      for (const cid of [...missing]) {
        const found = await firstProvider(probe, CID.parse(cid), 3000)
        if (found.ms != null) missing.delete(cid)
      }
      if (missing.size > 0) await sleep(500)
    }
    const providedSeconds = missing.size === 0 ? (performance.now() - addedAt) / 1000 : undefined
    if (missing.size > 0) notes.push(`lookup: ${missing.size} of ${cids.length} CIDs still had no provider 60 s after they were added; they are looked up anyway`)
    step(`swarm: lookup: ${cids.length - missing.size}/${cids.length} CIDs have a provider ${((performance.now() - addedAt) / 1000).toFixed(1)} s after the last add; settling 3 s`)
    // the provides go to the k closest peers one after the other: the first record seen is not the last sent
    await sleep(3000)

    // the timed client joins now, as the nodes run their DHT (server mode), bootstrapped to node 0 only
    const client = await dhtClient(false, [zero.addresses[0]])
    clients.push(client)
    await waitForRoutingTable(client, Math.min(nodes.length, 10), 15_000)
    const lookups: LookupStats[] = []
    for (const [label, c, passes] of [['in-bench peer, kad-dht server mode (the nodes\' settings), bootstrapped to node 0', client, params.lookupPasses], ['in-bench peer, kad-dht client mode (the probe), bootstrapped to nodes 0 and 10', probe, 1]] as const) {
      // one untimed lookup: the first dials of a fresh peer are not what is measured
      await firstProvider(c, CID.parse(cids[0].cid), 5000)
      const times: number[] = []
      let failures = 0
      let local = 0
      for (let pass = 0; pass < passes; pass++) {
        for (const { cid } of cids) {
          const parsed = CID.parse(cid)
          if ((await dhtOf(c).providers.getProviders(parsed)).length > 0) local++
          const found = await firstProvider(c, parsed, 5000)
          if (found.ms == null) failures++
          else times.push(found.ms)
        }
      }
      const stats: LookupStats = { label, count: times.length, failures, local, medianMs: median(times), p90Ms: percentile(times, 0.9), minMs: times.length > 0 ? Math.min(...times) : undefined, maxMs: times.length > 0 ? Math.max(...times) : undefined, routingTable: dhtOf(c).routingTable.size }
      lookups.push(stats)
      step(`swarm: lookup (${label}): ${stats.count} lookups, median ${fmtMs(stats.medianMs)}, p90 ${fmtMs(stats.p90Ms)}, min ${fmtMs(stats.minMs)}, max ${fmtMs(stats.maxMs)}, failures ${failures}, answered locally ${local}, routing table ${stats.routingTable}`)
    }

    // reported: a gateway's first read of a blob it lacks, against a read of one it holds
    let miss: LookupReport['miss']
    if (params.gatewayMisses > 0) {
      const extra: number[] = []
      const missTtfb: number[] = []
      const hitTtfb: number[] = []
      let failures = 0
      for (let k = 0; k < Math.min(params.gatewayMisses, cids.length); k++) {
        const { cid, publisher } = cids[Math.floor(k * cids.length / Math.min(params.gatewayMisses, cids.length))]
        // a node that neither published it nor read it yet
        const candidates = nodes.filter(n => n !== publisher && !publishers.includes(n))
        const reader = candidates[k % candidates.length]
        const first = await download(`${reader.http}/ipfs/${cid}`, 35_000).catch(() => undefined)
        const second = await download(`${reader.http}/ipfs/${cid}`, 35_000).catch(() => undefined)
        if (first?.status !== 200 || second?.status !== 200) {
          failures++
          continue
        }
        missTtfb.push(first.ttfbMs)
        hitTtfb.push(second.ttfbMs)
        extra.push(first.ttfbMs - second.ttfbMs)
      }
      miss = { count: extra.length, failures, medianMissTtfbMs: median(missTtfb), medianHitTtfbMs: median(hitTtfb), medianExtraMs: median(extra), p90ExtraMs: percentile(extra, 0.9) }
      step(`swarm: lookup: gateway first reads of a ${params.smallBlobBytes}-byte blob the node lacks: ${extra.length} reads (${failures} failed), TTFB median ${fmtMs(miss.medianMissTtfbMs)} against ${fmtMs(miss.medianHitTtfbMs)} for a local hit: +${fmtMs(miss.medianExtraMs)} median, +${fmtMs(miss.p90ExtraMs)} p90`)
    }
    return { nodes: nodes.length, startSeconds, cids: cids.length, providedSeconds, lookups, miss, notMeasured: undefined }
  } finally {
    await Promise.allSettled(clients.map(async c => { await c.stop() }))
    step(`swarm: lookup: stopping ${nodes.length} nodes`)
    await stopAll()
  }
}

/** What the bench reads of kad-dht beyond its interface: its routing table and its own provider store. */
function dhtOf (client: Libp2p): { routingTable: { size: number }, providers: { getProviders: (cid: CID) => Promise<unknown[]> } } {
  return (client as Libp2p<{ dht: KadDHT }>).services.dht as unknown as ReturnType<typeof dhtOf>
}

/** A libp2p peer with the nodes' transport and DHT settings (swarm-node.ts), dialled to `bootstrap`. */
async function dhtClient (clientMode: boolean, bootstrap: string[]): Promise<Libp2p> {
  const node = await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: { inboundConnectionThreshold: 1000, maxIncomingPendingConnections: 100 },
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: KAD_PROTOCOL, ...KAD_QUERY, clientMode, peerInfoMapper: passthroughMapper })
    }
  })
  const unregister = onCleanup('in-bench libp2p peer', async () => { await node.stop() })
  node.addEventListener('stop', () => { unregister() })
  for (const address of bootstrap) await node.dial(multiaddr(address), { signal: AbortSignal.timeout(10_000) })
  return node
}

async function waitForRoutingTable (client: Libp2p, size: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (dhtOf(client).routingTable.size < size && Date.now() < deadline) {
    // a lookup of a random key walks the swarm and fills the routing table
    await firstProvider(client, CID.createV1(RAW_CODE, await sha256Hasher.digest(randomBytes(32))), 2000)
    await sleep(200)
  }
}

/** Milliseconds to the first provider of `cid` (the query is stopped there), or undefined when none came in time. */
async function firstProvider (client: Libp2p, cid: CID, timeoutMs: number): Promise<{ ms: number | undefined }> {
  const start = performance.now()
  try {
    for await (const provider of client.contentRouting.findProviders(cid, { signal: AbortSignal.timeout(timeoutMs) })) {
      if (provider != null) return { ms: performance.now() - start }
    }
  } catch {}
  return { ms: undefined }
}

// ---------------------------------------------------------------------------------------------
// 9. replication catch-up

async function benchReplication (params: SwarmParams, work: string, notes: string[]): Promise<ReplicationReport> {
  const names = ['a', 'b', 'c']
  const dirs = names.map(n => path.join(work, n))
  const peerIds = await Promise.all(dirs.map(async d => await initFdn(d)))
  const trustedOf = (i: number): string => peerIds.filter((_, j) => j !== i).join(',')
  const common = { FDN_REPLICAS: '2', FDN_REPAIR_INTERVAL: params.repairInterval }
  step(`swarm: replication: starting 3 trusted nodes (FDN_REPLICAS=2, FDN_REPAIR_INTERVAL=${params.repairInterval}), B and C bootstrapped to A`)
  const nodes: FdnDaemon[] = []
  try {
    nodes.push(await startFdn({ dataDir: dirs[0], env: { ...common, FDN_TRUSTED_PEERS: trustedOf(0) } }))
    const a = nodes[0]
    const aSwarm = await swarmAddressesOf(a)
    // the holders log at info level, so a refused copy is seen (A, the measured node, stays at warn)
    const others = await Promise.all([1, 2].map(async i => await startFdn({ dataDir: dirs[i], env: { ...common, FDN_TRUSTED_PEERS: trustedOf(i), FDN_BOOTSTRAP: aSwarm.addresses.join(','), FDN_LOG_LEVEL: 'info' } })))
    nodes.push(...others)
    await until(async () => (await statusOf(a)).swarm.trustedHealthy >= 2, 30_000, 'A sees both trusted peers healthy')

    const response = await fetch(`${a.admin}${ADMIN_ROUTES.tenants}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench' })
    })
    if (response.status !== 201 && response.status !== 200) throw new Error(`POST ${ADMIN_ROUTES.tenants} answered ${response.status}: ${await response.text()}`)
    const tenant = await response.json() as { bucket: string, accessKeyId: string, secretAccessKey: string }
    const agent = new Agent({ keepAlive: true, maxSockets: params.concurrency, maxFreeSockets: params.concurrency })
    const client = new S3Client({
      endpoint: a.http,
      region: 'us-east-1',
      forcePathStyle: true,
      credentials: { accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey },
      maxAttempts: 1,
      requestHandler: { httpAgent: agent }
    })
    const before = (await statusOf(a)).replication
    step(`swarm: replication: tenant bucket ${tenant.bucket} on A; A's counts before: ${JSON.stringify(before)}; ${params.objects} PutObject of ${params.objectBytes} random bytes, ${params.concurrency} at a time`)

    const timeline: ReplicationReport['timeline'] = []
    let lastAnswer = 0
    const uploadStart = performance.now()
    let next = 0
    const worker = async (): Promise<void> => {
      while (next < params.objects) {
        const i = next++
        await client.send(new PutObjectCommand({ Bucket: tenant.bucket, Key: `o/${i}.bin`, Body: randomBytes(params.objectBytes) }))
        lastAnswer = performance.now()
      }
    }
    // A's counts during the upload too (reported)
    let uploading = true
    const watcher = (async () => {
      while (uploading) {
        const status = await statusOf(a)
        const r = status.replication
        timeline.push({ seconds: (performance.now() - uploadStart) / 1000, replicated: r.replicated, pending: r.pending, under: r['under-replicated'], healthy: status.swarm.trustedHealthy })
        await sleep(500)
      }
    })()
    try {
      await Promise.all(Array.from({ length: params.concurrency }, async () => { await worker() }))
    } finally {
      uploading = false
      await watcher
    }
    const uploadSeconds = (lastAnswer - uploadStart) / 1000
    const atLastPut = (await statusOf(a)).replication
    step(`swarm: replication: ${params.objects} PutObject in ${uploadSeconds.toFixed(1)} s (${(params.objects / uploadSeconds).toFixed(0)}/s); A's counts at the last answer: ${JSON.stringify(atLastPut)}`)

    let catchupSeconds: number | undefined
    let final = atLastPut
    const deadline = lastAnswer + params.catchupTimeoutMs
    let lastLog = performance.now()
    let lastChange = performance.now()
    let stalled = false
    while (performance.now() < deadline) {
      const status = await statusOf(a)
      const previous = final
      final = status.replication
      const now = performance.now()
      timeline.push({ seconds: (now - uploadStart) / 1000, replicated: final.replicated, pending: final.pending, under: final['under-replicated'], healthy: status.swarm.trustedHealthy })
      if (final.replicated >= params.objects && final.pending + final['under-replicated'] === 0) {
        catchupSeconds = (now - lastAnswer) / 1000
        break
      }
      if (JSON.stringify(previous) !== JSON.stringify(final)) lastChange = now
      if (final.pending === 0 && now - lastChange > params.stallMs) {
        stalled = true
        break
      }
      if (now - lastLog > 5000) {
        step(`swarm: replication: ${((now - lastAnswer) / 1000).toFixed(0)} s after the last PutObject: ${JSON.stringify(final)}`)
        lastLog = now
      }
      await sleep(100)
    }
    agent.destroy()
    const heldForPeers = await Promise.all(others.map(async n => (await statusOf(n)).swarm.heldForPeers))
    const holderLog = summarizeLog(others.flatMap(n => n.output().split('\n')), line => /hold|replica|refused|copy|trusted/i.test(line))
    if (catchupSeconds == null) {
      const why = stalled ? `no change for ${(params.stallMs / 1000).toFixed(0)} s with nothing pending (given up)` : `not within ${(params.catchupTimeoutMs / 1000).toFixed(0)} s`
      notes.push(`replication: not caught up after the last PutObject (${why}): ${JSON.stringify(final)}`)
      step(`swarm: replication: NOT caught up (${why}): ${JSON.stringify(final)}; B and C hold ${heldForPeers.join(' and ')} copies for peers`)
      for (const line of holderLog.slice(0, 6)) step(`swarm: replication: B/C logged: ${line}`)
    } else {
      step(`swarm: replication: caught up ${catchupSeconds.toFixed(2)} s after the last PutObject: ${JSON.stringify(final)}; B and C hold ${heldForPeers.join(' and ')} copies for peers`)
    }
    return { objects: params.objects, objectBytes: params.objectBytes, uploadSeconds, putsPerSecond: params.objects / uploadSeconds, atLastPut, catchupSeconds, final, heldForPeers, timeline, holderLog, notMeasured: undefined }
  } finally {
    for (const [i, n] of nodes.entries()) {
      for (const line of summarizeLog(n.output().split('\n'), l => l.includes('"level":40') || l.includes('"level":50')).slice(0, 4)) notes.push(`replication: node ${names[i]} warned: ${line}`)
    }
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
  }
}

/** Log lines (pino JSON) grouped by message and error, CIDs and peer IDs blanked: "count × message: error", most frequent first. */
function summarizeLog (lines: string[], keep: (line: string) => boolean): string[] {
  const counts = new Map<string, number>()
  for (const line of lines) {
    if (!keep(line)) continue
    let entry: { msg?: string, err?: unknown, reason?: string, level?: number }
    try {
      entry = JSON.parse(line) as typeof entry
    } catch {
      continue
    }
    if (entry.msg === 'request') continue
    const err = typeof entry.err === 'string' ? entry.err : (entry.err as { message?: string } | undefined)?.message ?? entry.reason ?? ''
    const key = `${entry.msg ?? ''}${err !== '' ? `: ${err}` : ''}`.replace(/\b(baf[a-z2-7]{20,}|12D3Koo[1-9A-HJ-NP-Za-km-z]{40,})\b/g, '…').slice(0, 300)
    counts.set(key, (counts.get(key) ?? 0) + 1)
  }
  return [...counts.entries()].sort((x, y) => y[1] - x[1]).map(([key, count]) => `${count} × ${key}`)
}

// ---------------------------------------------------------------------------------------------
// report

export function swarmRows (report: SwarmReport): SummaryRow[] {
  const rows: SummaryRow[] = []
  const t = report.transfer
  const p = report.params
  rows.push({
    id: '7a',
    benchmark: `swarm transfer of a ${mib(p.transferBytes)} blob: GET on a fresh node B that fetches it from A (DHT + bitswap), median of ${p.transferRuns}`,
    fdn: t.medianSwarm != null ? `${mib(t.medianSwarm)}/s${t.runs.some(r => r.failure != null) ? ` (${t.runs.filter(r => r.failure != null).length} of ${t.runs.length} fetches failed, counted as 0)` : ''}` : 'not measured',
    anchor: t.medianHttp != null ? `HTTP GET from A's gateway ${mib(t.medianHttp)}/s` : 'not measured',
    ratio: t.ratio != null ? `${(t.ratio * 100).toFixed(0)} %` : 'n/a',
    target: `swarm ≥ ${TRANSFER_TARGET * 100} % of HTTP`,
    verdict: t.ratio == null ? 'NOT MEASURED' : t.ratio >= TRANSFER_TARGET ? 'PASS' : 'FAIL'
  })
  rows.push({
    id: '7b',
    benchmark: 'node B peak RSS during the swarm transfer (highest of the sampled VmRSS and VmHWM over the runs)',
    fdn: t.peakRss != null ? mib(t.peakRss) : 'not measured',
    anchor: '—',
    ratio: '—',
    target: 'none (reported)',
    verdict: t.peakRss == null ? 'NOT MEASURED' : 'reported'
  })
  const timed = report.lookup.lookups[0]
  rows.push({
    id: '8',
    benchmark: `DHT provider lookup in a ${report.lookup.nodes}-node swarm, time to the first provider (${timed?.count ?? 0} lookups; p90 ${fmtMs(timed?.p90Ms)})`,
    fdn: timed?.medianMs != null ? `median ${fmtMs(timed.medianMs)}` : 'not measured',
    anchor: '—',
    ratio: '—',
    target: `median < ${LOOKUP_TARGET_MS} ms`,
    verdict: timed?.medianMs == null || timed.count < 100 ? 'NOT MEASURED' : timed.medianMs < LOOKUP_TARGET_MS ? 'PASS' : 'FAIL'
  })
  const r = report.replication
  rows.push({
    id: '9',
    benchmark: `replication catch-up: ${r.objects} PutObject of ${(r.objectBytes / 1024).toFixed(0)} KiB on A (3 trusted nodes, replicas 2), last answer → all replicated`,
    fdn: r.catchupSeconds != null ? `${r.catchupSeconds.toFixed(2)} s` : r.final != null ? `not caught up in ${(p.catchupTimeoutMs / 1000).toFixed(0)} s` : 'not measured',
    anchor: '—',
    ratio: '—',
    target: `≤ ${CATCHUP_TARGET_S} s`,
    verdict: r.final == null ? 'NOT MEASURED' : r.catchupSeconds != null && r.catchupSeconds <= CATCHUP_TARGET_S ? 'PASS' : 'FAIL'
  })
  return rows
}

export function swarmSection (report: SwarmReport): string[] {
  const p = report.params
  const out: string[] = ['', '## Swarm (7, 8, 9)', '',
    `- The swarm section took ${report.seconds.toFixed(0)} s. Every node is a real \`node bin/fdn.ts start\` process (FDN_LOG_LEVEL=warn, fresh data directory,`,
    '  `FDN_SWARM_LISTEN=/ip4/127.0.0.1/tcp/0`, HTTP and admin on 127.0.0.1), not pinned to CPUs; all nodes share the machine\'s cores.',
    `- libp2p stack: ${Object.entries(report.versions).map(([k, v]) => `${k} ${v}`).join(', ')}.`,
    '',
    '### Swarm transfer (7)', '',
    `- Node A holds a ${mib(p.transferBytes)} blob of random bytes (\`POST /admin/v1/blobs\`, an operator pin; 1 MiB chunks, so ${Math.ceil(p.transferBytes / MiB)} leaves under a dag-pb root).`,
    '- Per run: a new blob on A; the anchor `GET A/ipfs/{cid}` first (this also warms A\'s page and block cache); then a fresh, empty node B started with',
    `  \`FDN_BOOTSTRAP=<A>\` (and \`FDN_FETCH_TIMEOUT=${p.fetchTimeout}\`), and, ${p.settleMs / 1000} s after B is connected, \`GET B/ipfs/{cid}\`: B finds A through the DHT, fetches the blocks by bitswap,`,
    '  verifies and stores the blob, then answers. Both GETs by the same client: node:http, one connection, the body kept in memory and its SHA-256',
    '  checked against the blob after the clock stopped. Time is from sending the request to the last byte; "first byte" is when the answer\'s headers came',
    '  (early if B streams the blob while it fetches it). A run whose fetch fails counts as 0 MiB/s in the median. The wait after connecting keeps a cold',
    '  start out of the figure: kad-dht holds a new node\'s first query until its initial self-query, about 1 s after start.',
    '- B\'s RSS: VmRSS of /proc/<pid>/status before the GET, sampled every 50 ms during it, and VmHWM (start-up included) after it. B runs with',
    '  `DEBUG=*yamux*:error` (libp2p\'s error lines of the stream muxer only), so a stream yamux aborts is counted.',
    '', '| run | HTTP from A MiB/s | swarm via B MiB/s | swarm / HTTP | swarm first byte | swarm seconds | B RSS idle | B sampled peak | B VmHWM | streams B\'s yamux aborted | bytes verified |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
  for (const r of report.transfer.runs) {
    out.push(`| ${r.run} | ${(r.http.bytesPerSecond / MiB).toFixed(1)} | ${r.failure != null ? '0 (failed)' : (r.swarm.bytesPerSecond / MiB).toFixed(1)} | ${(r.swarm.bytesPerSecond / r.http.bytesPerSecond * 100).toFixed(0)} % | ${Number.isFinite(r.swarm.ttfbMs) ? `${r.swarm.ttfbMs.toFixed(0)} ms` : '—'} | ${r.swarm.seconds.toFixed(2)} | ${mib(r.idleRss)} | ${mib(r.sampledPeakRss)} | ${mib(r.hwm)} | ${r.streamAborts} | ${r.verified ? 'yes' : `NO: ${(r.failure ?? '').replace(/\|/g, '\\|')}`} |`)
  }
  if (report.transfer.notMeasured != null) out.push(`- NOT MEASURED — ${report.transfer.notMeasured}`)

  const l = report.lookup
  out.push('', '### Provider lookup (8)', '',
    `- ${l.nodes} nodes, started ${p.startBatch} at a time, all with \`FDN_BOOTSTRAP=<node 0>\` (up in ${l.startSeconds.toFixed(1)} s). ${p.publishers} of them add`,
    `  ${p.blobsPerPublisher} blobs of ${p.smallBlobBytes} random bytes each through the admin API (${l.cids} CIDs); each node provides its new blobs to the DHT by itself.`,
    `  A probe (client-mode libp2p peer) polls \`findProviders\` until every CID has a provider${l.providedSeconds != null ? ` (${l.providedSeconds.toFixed(1)} s after the last add)` : ''}, then 3 s more pass.`,
    '- The timed peer is a libp2p node in this bench process with the nodes\' settings (libp2p TCP + Noise + Yamux, identify, ping,',
    `  \`kadDHT({ protocol: '${KAD_PROTOCOL}', alpha: ${KAD_QUERY.alpha}, disjointPaths: ${KAD_QUERY.disjointPaths}, clientMode: false, peerInfoMapper: passthroughMapper })\`, inboundConnectionThreshold 1000), started after the`,
    '  provides (so it holds none of the records itself; the "local" column checks it), bootstrapped to node 0 and given one untimed lookup.',
    `  Each lookup is \`libp2p.contentRouting.findProviders(cid)\`, timed to its first result, then stopped. Every CID ${p.lookupPasses} times, in order (the probe: once).`,
    '- With 20 nodes and k = 20, every node is among the k closest to every key, so each node holds each provider record. kad-dht 16 starts a',
    '  lookup on k = 20 disjoint paths at once (`disjointPaths` defaults to k, α = 10): one lookup sends GET_PROVIDERS to every node it knows in',
    '  parallel, and the first answer wins. The client-mode probe is listed for comparison.',
    '', '| peer | lookups | median | p90 | min | max | failed | local | routing table |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
  for (const s of l.lookups) out.push(`| ${s.label} | ${s.count} | ${fmtMs(s.medianMs)} | ${fmtMs(s.p90Ms)} | ${fmtMs(s.minMs)} | ${fmtMs(s.maxMs)} | ${s.failures} | ${s.local} | ${s.routingTable} |`)
  if (l.miss != null) {
    out.push('', `- Reported, no target: a gateway's first read of a blob it lacks (\`GET /ipfs/{cid}\` on a node that neither published nor read it: DHT lookup,`,
      `  dial, bitswap, verify, store), against the second read of it (a local hit), ${l.miss.count} blobs (${l.miss.failures} failed): time to first byte`,
      `  ${fmtMs(l.miss.medianMissTtfbMs)} against ${fmtMs(l.miss.medianHitTtfbMs)}, so the swarm adds ${fmtMs(l.miss.medianExtraMs)} (median), ${fmtMs(l.miss.p90ExtraMs)} (p90).`)
  }
  if (l.notMeasured != null) out.push(`- NOT MEASURED — ${l.notMeasured}`)

  const r = report.replication
  out.push('', '### Replication catch-up (9)', '',
    `- Nodes A, B, C: each made by \`fdn init --json\` (for its peer ID) and started with the other two in \`FDN_TRUSTED_PEERS\`, \`FDN_REPLICAS=2\`,`,
    `  \`FDN_REPAIR_INTERVAL=${p.repairInterval}\` (how often trusted peers are pinged: A needs one successful ping to count them healthy), B and C with \`FDN_BOOTSTRAP=<A>\`.`,
    `  The upload starts once A sees both peers healthy. A tenant on A (\`POST /admin/v1/tenants\`), then ${r.objects} \`PutObject\` of ${r.objectBytes} random bytes`,
    `  with @aws-sdk/client-s3 (path style, keep-alive, ${p.concurrency} in flight).`,
    '- Catch-up: from the last PutObject\'s answer until A\'s `GET /admin/v1/status` shows `replication.replicated` ≥ the object count and',
    '  `pending` + `under-replicated` = 0 (polled every 100 ms). The tenant\'s manifest blobs count in these figures too.')
  if (r.uploadSeconds != null) {
    out.push(`- Upload: ${r.uploadSeconds.toFixed(1)} s (${r.putsPerSecond?.toFixed(0) ?? '?'} PutObject/s). A's counts at the last answer: ${JSON.stringify(r.atLastPut)}; at the end: ${JSON.stringify(r.final)};`,
      `  copies B and C hold for peers: ${r.heldForPeers.join(' and ')}.`,
      `- Catch-up: ${r.catchupSeconds != null ? `${r.catchupSeconds.toFixed(2)} s` : `not reached within ${(p.catchupTimeoutMs / 1000).toFixed(0)} s`}.`)
    const sparse = r.timeline.filter((_, i, all) => i % Math.max(1, Math.ceil(all.length / 40)) === 0 || i === all.length - 1)
    out.push(`- A's counts over time (s since the first PutObject: replicated/pending/under-replicated, trusted peers healthy): ${sparse.map(e => `${e.seconds.toFixed(1)} ${e.replicated}/${e.pending}/${e.under} h${e.healthy}`).join(', ')}`)
    if (r.holderLog.length > 0) out.push('- B and C logged (info level, grouped; `…` is a CID or peer ID):', ...r.holderLog.slice(0, 8).map(line => `  - ${line.replace(/\|/g, '\\|')}`))
  }
  if (r.notMeasured != null) out.push(`- NOT MEASURED — ${r.notMeasured}`)
  if (report.notes.length > 0) out.push('', '### Swarm notes', '', ...report.notes.map(n => `- ${n}`))
  out.push('')
  return out
}

// ---------------------------------------------------------------------------------------------
// helpers

async function until (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    try {
      if (await check()) return
    } catch {}
    await sleep(100)
  }
  throw new Error(`${what}: not within ${timeoutMs / 1000} s`)
}

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}

function median (values: number[]): number | undefined {
  return percentile(values, 0.5)
}

/** Nearest-rank percentile (the median of an even count is the mean of the middle two). */
function percentile (values: number[], q: number): number | undefined {
  if (values.length === 0) return undefined
  const sorted = [...values].sort((x, y) => x - y)
  if (q === 0.5 && sorted.length % 2 === 0) return (sorted[sorted.length / 2 - 1] + sorted[sorted.length / 2]) / 2
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]
}

function fmtMs (ms: number | undefined): string {
  if (ms == null) return 'n/a'
  return ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`
}

async function libp2pVersions (): Promise<Record<string, string>> {
  const versions: Record<string, string> = {}
  for (const pkg of ['libp2p', '@libp2p/kad-dht', 'helia', '@helia/bitswap', '@libp2p/tcp', '@libp2p/noise', '@libp2p/yamux']) {
    try {
      versions[pkg] = (JSON.parse(await readFile(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      versions[pkg] = 'not installed'
    }
  }
  return versions
}
