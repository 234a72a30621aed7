// Benchmarks 4, 5 and 6: the S3 API driven by a real client (@aws-sdk/client-s3 v3).
//  4. PutObject of 1 MiB objects (distinct random contents), 16 at a time, against nginx's
//     WebDAV `PUT` of the same bodies to disk, sent by this same process with node:http;
//     to a daemon with FDN_FSYNC=true (the default) and to one with FDN_FSYNC=false.
//  5. GetObject of the same objects, 16 at a time, against nginx serving the files it stored.
//  6. The daemon's RSS while a large object goes up through a multipart upload
//     (@aws-sdk/lib-storage, generated source): a small and a large run, so a peak that
//     grows with the size shows.
// Beside the SDK figures, the same requests signed by the SDK's own signer
// (@smithy/signature-v4) and sent with node:http tell how much of the time is the SDK's.
import { execFileSync } from 'node:child_process'
import { createCipheriv, createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { Agent, request } from 'node:http'
import type { IncomingMessage } from 'node:http'
import path from 'node:path'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { crc32 } from 'node:zlib'
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { Hash } from '@smithy/hash-node'
import { SignatureV4 } from '@smithy/signature-v4'
import { ADMIN_ROUTES } from '../protocol/admin-api.ts'
import type { TenantCreated } from '../protocol/admin-api.ts'
import { memoryOf, startFdn } from './fdn.ts'
import type { FdnDaemon } from './fdn.ts'
import { startNginx } from './nginx.ts'
import type { Nginx } from './nginx.ts'
import { flushDirtyPages, onCleanup, step } from './proc.ts'
import type { Tools } from './tools.ts'

const MiB = 1048576
const REGION = 'us-east-1'
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

export interface S3Params {
  /** Objects per measured run. */
  objects: number
  objectSize: number
  concurrency: number
  /** Each round measures nginx, then fdn through the SDK, then fdn through the bare signer; the best of each counts. */
  rounds: number
  /** Objects each contender PUTs and GETs once before anything is timed. */
  warmupObjects: number
  /** Sizes of the multipart uploads of benchmark 6, ascending. */
  multipartSizes: number[]
  partSize: number
  queueSize: number
  /** The daemon's RSS may grow by less than this during a multipart upload. */
  rssGrowthLimit: number
  /** ... and the largest upload's growth may pass the smallest's by less than this. */
  rssSizeSlack: number
  sampleEveryMs: number
  /** Servers on CPU 0, this process (the client) on CPU 1, for benchmarks 4 and 5. */
  pin: boolean
  cpuProfDir: string | undefined
}

/** `nosync`: the SDK's PutObject to a second daemon, with FDN_FSYNC=false (PUT only). */
export type Contender = 'nginx' | 'sdk' | 'signed' | 'nosync'
export type S3Op = 'put' | 'get'

export interface S3Run {
  op: S3Op
  contender: Contender
  round: number
  objects: number
  bytes: number
  seconds: number
  objectsPerSecond: number
  bytesPerSecond: number
  latencyMs: { p50: number, p99: number, max: number }
  /** CPU time of this process (the client) per object. */
  clientCpuMsPerObject: number
  /** CPU time of the server's processes (every thread) per object. */
  serverCpuMsPerObject: number
}

export interface MultipartRun {
  bytes: number
  parts: number
  seconds: number
  /** From the first byte sent until every part was acknowledged (the rest is CompleteMultipartUpload). */
  partsSeconds: number
  bytesPerSecond: number
  /** VmRSS of the daemon just before the upload, its highest sample, and just after Complete. */
  startRss: number
  sampledPeakRss: number
  /** Highest VmRSS sample until every part was acknowledged (before CompleteMultipartUpload). */
  peakDuringParts: number
  /** VmHWM after the upload, reset (clear_refs 5) just before it; NaN when the reset was refused. */
  hwm: number
  peakRss: number
  endRss: number
  growth: number
  samples: number
  /** A few evenly spaced samples, for the report. */
  timeline: Array<{ seconds: number, rss: number }>
  etag: string
  expectedEtag: string
  size: number
  verified: boolean
}

export interface S3Report {
  params: S3Params
  runs: S3Run[]
  best: Record<S3Op, Partial<Record<Contender, S3Run>>>
  multipart: MultipartRun[]
  nginxConfig: string | undefined
  notMeasured: Array<{ what: S3Op | 'multipart', reason: string }>
  notes: string[]
  seconds: number
}

interface Endpoint {
  daemon: FdnDaemon
  tenant: TenantCreated
  /** Owns its keep-alive agent (destroyed with the client). */
  client: S3Client
  signer: SignatureV4
  /** The keep-alive agent of the bare signed requests. */
  agent: Agent
}

export async function benchS3 (tools: Tools, params: S3Params, work: string): Promise<S3Report> {
  const begin = performance.now()
  const report: S3Report = {
    params,
    runs: [],
    best: { put: {}, get: {} },
    multipart: [],
    nginxConfig: undefined,
    notMeasured: [],
    notes: [],
    seconds: 0
  }
  try {
    await throughput(tools, params, work, report)
  } catch (err) {
    const reason = `failed: ${(err as Error).message}`
    step(`s3: PutObject/GetObject benchmark ${reason}`)
    for (const op of ['put', 'get'] as const) if (report.best[op].sdk == null || report.best[op].nginx == null) report.notMeasured.push({ what: op, reason })
  }
  try {
    await multipart(params, work, report)
  } catch (err) {
    const reason = `failed: ${(err as Error).message}`
    step(`s3: multipart benchmark ${reason}`)
    report.notMeasured.push({ what: 'multipart', reason })
  }
  report.notes.push(...hints(report))
  report.seconds = (performance.now() - begin) / 1000
  return report
}

/** What the figures say about where the time went, for a target that fails (and for the anchors' limits). */
function hints (report: S3Report): string[] {
  const notes: string[] = []
  const p = report.params
  const busy = (cpuMs: number, run: S3Run): number => cpuMs * run.objectsPerSecond / 1000
  for (const op of ['put', 'get'] as const) {
    const name = op === 'put' ? 'PutObject' : 'GetObject'
    const nginx = report.best[op].nginx
    const sdk = report.best[op].sdk
    if (nginx != null && busy(nginx.clientCpuMsPerObject, nginx) >= 0.8) {
      notes.push(`${name}: the nginx run kept this bench process ${(busy(nginx.clientCpuMsPerObject, nginx) * 100).toFixed(0)} % busy (${nginx.clientCpuMsPerObject.toFixed(2)} ms of client CPU per object): the anchor is limited by the Node client, so nginx itself could go faster.`)
    }
    if (sdk == null || nginx == null || sdk.objectsPerSecond >= 0.5 * nginx.objectsPerSecond) continue
    const server = busy(sdk.serverCpuMsPerObject, sdk)
    const client = busy(sdk.clientCpuMsPerObject, sdk)
    notes.push(`${name} misses its target: fdn used ${sdk.serverCpuMsPerObject.toFixed(2)} ms of server CPU per object against nginx's ${nginx.serverCpuMsPerObject.toFixed(2)} ms;`
      + ` at ${sdk.objectsPerSecond.toFixed(0)} objects/s that is ${server.toFixed(2)} CPU-seconds per second${p.pin ? ' on its one pinned core' : ''}, the client ${client.toFixed(2)}:`
      + ` ${server >= 0.8 ? 'fdn is bound by its own CPU time per request' : client >= 0.8 ? 'the client is the bottleneck' : 'neither side is CPU-bound: look for waits (disk, the index, locks), or the machine\'s other load took the core'}.`
      + ' `BENCH_CPU_PROF=1 BENCH_ONLY=s3 npm run bench` writes the daemons\' CPU profiles to bench/.work/profiles/ (`node bench/profile-summary.ts <file>`).')
  }
  const runs = [...report.multipart].sort((a, b) => a.bytes - b.bytes)
  if (runs.some(r => r.growth >= p.rssGrowthLimit)) {
    const during = runs.map(r => `${(r.bytes / MiB).toFixed(0)} MiB: +${((r.peakDuringParts - r.startRss) / MiB).toFixed(1)} MiB while the parts went up, +${(r.growth / MiB).toFixed(1)} MiB in all`).join('; ')
    notes.push(`Multipart growth by phase (${during}). The daemon's verified-block memory cache (FDN_BLOCK_CACHE, default 128MB) fills as blocks are read and counts in its RSS:`
      + ' a bounded cost, not a leak. `FDN_BLOCK_CACHE=0 BENCH_ONLY=s3 npm run bench` shows the growth without it (the report\'s "default settings" line is then wrong for that run).')
  }
  for (const r of runs) {
    if (r.seconds - r.partsSeconds > 0.25 * r.seconds) {
      notes.push(`Multipart ${(r.bytes / MiB).toFixed(0)} MiB: CompleteMultipartUpload took ${(r.seconds - r.partsSeconds).toFixed(1)} s of ${r.seconds.toFixed(1)} s (the parts were all acknowledged at ${r.partsSeconds.toFixed(1)} s).`)
    }
  }
  return notes
}

// ---------------------------------------------------------------- 4 and 5: PutObject, GetObject

async function throughput (tools: Tools, params: S3Params, work: string, report: S3Report): Promise<void> {
  const size = params.objectSize
  step(`s3: generating ${params.objects} objects of ${size} bytes (random, each run stamps its own id into the first bytes)`)
  const bodies = randomObjects(params.objects, size)
  const www = path.join(work, 's3-www')
  await mkdir(www, { recursive: true })

  const pinned = params.pin && tools.taskset != null
  if (params.pin && tools.taskset == null) report.notes.push('taskset not found: S3 servers and client are not pinned to CPUs')
  const serverCpu = pinned && tools.taskset != null ? { taskset: tools.taskset, list: '0' } : undefined

  step(`s3: starting fdn daemon (FDN_LOG_LEVEL=warn${serverCpu != null ? ', pinned to CPU 0' : ''})`)
  const fdn = await startEndpoint(path.join(work, 'fdn-s3'), params, serverCpu)
  let nosync: Endpoint | undefined
  let nginx: Nginx | undefined
  const nginxAgent = keepAliveAgent(params.concurrency)
  let unpin: (() => Promise<void>) | undefined
  try {
    if (tools.nginx != null) {
      step(`s3: starting nginx ${tools.nginx.version} with WebDAV PUT (1 worker${serverCpu != null ? ', pinned to CPU 0' : ''})`)
      nginx = await startNginx({ binary: tools.nginx.path, configure: tools.nginx.configure, root: www, prefix: path.join(work, 'nginx-s3'), cpu: serverCpu, dav: true })
      report.nginxConfig = nginx.config
    } else {
      for (const op of ['put', 'get'] as const) report.notMeasured.push({ what: op, reason: 'nginx anchor: nginx not available' })
    }
    step(`s3: starting a second fdn daemon with FDN_FSYNC=false${serverCpu != null ? ', pinned to CPU 0' : ''}`)
    const unsynced = await startEndpoint(path.join(work, 'fdn-s3-nosync'), params, serverCpu, { FDN_FSYNC: 'false' })
    nosync = unsynced
    if (pinned && tools.taskset != null) unpin = await pinSelf(tools.taskset, '1')

    const putters: Contender[] = nginx != null ? ['nginx', 'sdk', 'signed', 'nosync'] : ['sdk', 'signed', 'nosync']
    const contenders = putters.filter(c => c !== 'nosync')
    const serverPids = async (c: Contender): Promise<number[]> => c === 'nginx' && nginx != null ? await processTree(nginx.pid) : [c === 'nosync' ? unsynced.daemon.pid : fdn.daemon.pid]
    const name = (c: Contender, set: string, i: number): string => `${set}-${c}/${String(i).padStart(5, '0')}.bin`
    const put = async (c: Contender, set: string, i: number, body: Buffer): Promise<number> => {
      if (c === 'nginx' && nginx != null) return await plainPut(nginxAgent, `${nginx.url}/${name(c, set, i)}`, body)
      if (c === 'sdk') return await sdkPut(fdn, name(c, set, i), body)
      if (c === 'nosync') return await sdkPut(unsynced, name(c, set, i), body)
      return await signedPut(fdn, name(c, set, i), body)
    }
    // GETs read back what the SDK PUT (fdn) and what nginx stored, in the last round
    const getSet = `r${params.rounds}`
    const get = async (c: Contender, i: number): Promise<number> => {
      if (c === 'nginx' && nginx != null) return await plainGet(nginxAgent, `${nginx.url}/${name('nginx', getSet, i)}`)
      if (c === 'sdk') return await sdkGet(fdn, name('sdk', getSet, i))
      return await signedGet(fdn, name('sdk', getSet, i))
    }

    // warm-up: connections, JIT, the SDK's lazily loaded parts; nothing measured
    const warm = Math.min(params.warmupObjects, params.objects)
    for (const c of putters) {
      stampAll(bodies, `warm-${c}`, warm)
      await drive(warm, params.concurrency, async i => await put(c, 'warm', i, bodies[i]!))
      await drive(warm, params.concurrency, async i => c === 'nginx' && nginx != null
        ? await plainGet(nginxAgent, `${nginx.url}/${name(c, 'warm', i)}`)
        : c === 'sdk' || c === 'nosync' ? await sdkGet(c === 'nosync' ? unsynced : fdn, name(c, 'warm', i)) : await signedGet(fdn, name(c, 'warm', i)))
    }
    step(`s3: warmed up (${warm} PUTs and GETs per contender)`)

    const measure = async (op: S3Op, c: Contender, round: number, one: (i: number) => Promise<number>): Promise<void> => {
      const pids = await serverPids(c)
      const serverBefore = await cpuSeconds(pids)
      const clientBefore = process.cpuUsage()
      const result = await drive(params.objects, params.concurrency, one)
      const client = process.cpuUsage(clientBefore)
      const serverAfter = await cpuSeconds(pids)
      const expected = params.objects * size
      if (result.bytes !== expected) throw new Error(`${op} ${c}: ${result.bytes} bytes moved, expected ${expected}`)
      const entry: S3Run = {
        op,
        contender: c,
        round,
        objects: params.objects,
        bytes: result.bytes,
        seconds: result.seconds,
        objectsPerSecond: params.objects / result.seconds,
        bytesPerSecond: result.bytes / result.seconds,
        latencyMs: result.latencyMs,
        clientCpuMsPerObject: (client.user + client.system) / 1000 / params.objects,
        serverCpuMsPerObject: (serverAfter - serverBefore) * 1000 / params.objects
      }
      report.runs.push(entry)
      const best = report.best[op][c]
      if (best == null || entry.objectsPerSecond > best.objectsPerSecond) report.best[op][c] = entry
      step(`s3: ${op.toUpperCase()} round ${round}/${params.rounds} ${label(c).padEnd(24)}: ${entry.objectsPerSecond.toFixed(0)} objects/s, ${(entry.bytesPerSecond / MiB).toFixed(1)} MiB/s, p99 ${entry.latencyMs.p99.toFixed(1)} ms, client CPU ${entry.clientCpuMsPerObject.toFixed(2)} ms/object, server CPU ${entry.serverCpuMsPerObject.toFixed(2)} ms/object`)
    }

    for (let round = 1; round <= params.rounds; round++) {
      for (const c of putters) {
        stampAll(bodies, `r${round}-${c}`, params.objects)
        await flushDirtyPages() // every PUT run starts with no earlier run's writes pending
        await measure('put', c, round, async i => await put(c, `r${round}`, i, bodies[i]!))
      }
    }
    for (let round = 1; round <= params.rounds; round++) {
      for (const c of contenders) await measure('get', c, round, async i => await get(c, i))
    }

    // what was read is what was written: a sample compared byte for byte, and fdn's ETag is the MD5
    const sample = Array.from({ length: Math.min(16, params.objects) }, (_, k) => Math.floor(k * params.objects / Math.min(16, params.objects)))
    for (const c of putters.filter(c => c !== 'signed')) {
      stampAll(bodies, `r${params.rounds}-${c}`, params.objects)
      for (const i of sample) {
        const body = bodies[i]!
        if (c === 'nginx' && nginx != null) {
          const got = await plainGetBytes(nginxAgent, `${nginx.url}/${name('nginx', getSet, i)}`)
          if (!got.equals(body)) throw new Error(`nginx ${name('nginx', getSet, i)}: not the bytes PUT`)
        } else {
          const endpoint = c === 'nosync' ? unsynced : fdn
          const out = await endpoint.client.send(new GetObjectCommand({ Bucket: endpoint.tenant.bucket, Key: name(c, getSet, i) }))
          const got = Buffer.from(await out.Body!.transformToByteArray())
          if (!got.equals(body)) throw new Error(`fdn ${name(c, getSet, i)}: not the bytes PUT`)
          const md5 = createHash('md5').update(body).digest('hex')
          if (out.ETag !== `"${md5}"`) throw new Error(`fdn ${name(c, getSet, i)}: ETag ${out.ETag ?? ''}, expected "${md5}"`)
        }
      }
    }
    step(`s3: ${sample.length} objects per server read back byte for byte (and fdn's ETags are their MD5s)`)
  } finally {
    await unpin?.()
    nginxAgent.destroy()
    await nginx?.stop()
    await stopEndpoint(fdn)
    if (nosync != null) await stopEndpoint(nosync)
    await rm(www, { recursive: true, force: true })
  }
}

function label (c: Contender): string {
  return c === 'nginx' ? 'nginx (WebDAV / static)' : c === 'sdk' ? 'fdn (@aws-sdk/client-s3)' : c === 'nosync' ? 'fdn FDN_FSYNC=false (SDK)' : 'fdn (signer + node:http)'
}

/** `count` views of one buffer of AES-CTR keystream: incompressible, no two alike. */
function randomObjects (count: number, size: number): Buffer[] {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16))
  const all = cipher.update(Buffer.alloc(count * size))
  return Array.from({ length: count }, (_, i) => all.subarray(i * size, (i + 1) * size))
}

/** Writes `fdn-bench {run} {i}` over the first 32 bytes: every run PUTs contents no run PUT before (nothing deduplicates). */
function stampAll (bodies: Buffer[], runId: string, count: number): void {
  for (let i = 0; i < count; i++) bodies[i]!.write(`fdn-bench ${runId} ${i}`.padEnd(32, ' ').slice(0, 32), 0, 'latin1')
}

/** Runs `one(0..count-1)`, `concurrency` at a time; `one` answers the bytes moved. */
async function drive (count: number, concurrency: number, one: (i: number) => Promise<number>): Promise<{ seconds: number, bytes: number, latencyMs: { p50: number, p99: number, max: number } }> {
  let next = 0
  let bytes = 0
  let failed = false
  const latencies: number[] = []
  const begin = performance.now()
  const worker = async (): Promise<void> => {
    while (!failed && next < count) {
      const i = next++
      const t = performance.now()
      try {
        const moved = await one(i) // not `bytes += await …`: that reads `bytes` before the await
        bytes += moved
      } catch (err) {
        failed = true
        throw err
      }
      latencies.push(performance.now() - t)
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, worker))
  const seconds = (performance.now() - begin) / 1000
  latencies.sort((a, b) => a - b)
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? NaN
  return { seconds, bytes, latencyMs: { p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1] ?? NaN } }
}

function keepAliveAgent (concurrency: number): Agent {
  return new Agent({ keepAlive: true, maxSockets: concurrency, maxFreeSockets: concurrency })
}

async function startEndpoint (dataDir: string, params: S3Params, cpu: { taskset: string, list: string } | undefined, env?: Record<string, string>): Promise<Endpoint> {
  const daemon = await startFdn({
    dataDir,
    cpu,
    env,
    nodeOptions: params.cpuProfDir != null ? `--cpu-prof --cpu-prof-dir=${params.cpuProfDir}` : undefined
  })
  try {
    const response = await fetch(`${daemon.admin}${ADMIN_ROUTES.tenants}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${daemon.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'bench' })
    })
    if (response.status !== 201 && response.status !== 200) throw new Error(`POST ${ADMIN_ROUTES.tenants} answered ${response.status}: ${await response.text()}`)
    const tenant = await response.json() as TenantCreated
    const credentials = { accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey }
    const sdkAgent = keepAliveAgent(params.concurrency)
    // every setting at the SDK's default (checksums: WHEN_SUPPORTED) but the endpoint, path style and
    // the keep-alive agent; one attempt, so a failure is seen rather than retried away
    const client = new S3Client({
      endpoint: daemon.http,
      region: REGION,
      forcePathStyle: true,
      credentials,
      maxAttempts: 1,
      requestHandler: { httpAgent: sdkAgent }
    })
    const signer = new SignatureV4({ service: 's3', region: REGION, credentials, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false, applyChecksum: false })
    // the bare signed requests get an agent of their own, made the same way
    return { daemon, tenant, client, signer, agent: keepAliveAgent(params.concurrency) }
  } catch (err) {
    await daemon.stop()
    throw err
  }
}

async function stopEndpoint (endpoint: Endpoint): Promise<void> {
  endpoint.client.destroy()
  endpoint.agent.destroy()
  await endpoint.daemon.stop()
  await rm(endpoint.daemon.dataDir, { recursive: true, force: true })
}

async function sdkPut (fdn: Endpoint, key: string, body: Buffer): Promise<number> {
  const out = await fdn.client.send(new PutObjectCommand({ Bucket: fdn.tenant.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' }))
  if (out.ETag == null) throw new Error(`PutObject ${key}: no ETag`)
  return body.length
}

async function sdkGet (fdn: Endpoint, key: string): Promise<number> {
  const out = await fdn.client.send(new GetObjectCommand({ Bucket: fdn.tenant.bucket, Key: key }))
  let n = 0
  for await (const chunk of out.Body as AsyncIterable<Uint8Array>) n += chunk.length
  return n
}

/** The request the SDK sends (signed SHA-256 payload hash, CRC32 checksum header), signed by the SDK's signer, sent with node:http. */
async function signedPut (fdn: Endpoint, key: string, body: Buffer): Promise<number> {
  const checksum = Buffer.alloc(4)
  checksum.writeUInt32BE(crc32(body))
  const headers: Record<string, string> = {
    'content-type': 'application/octet-stream',
    'content-length': String(body.length),
    'x-amz-content-sha256': createHash('sha256').update(body).digest('hex'),
    'x-amz-checksum-crc32': checksum.toString('base64')
  }
  const answer = await signedRequest(fdn, 'PUT', key, headers, body)
  if (answer.status !== 200) throw new Error(`signed PUT ${key}: ${answer.status} ${answer.body.toString()}`)
  return body.length
}

async function signedGet (fdn: Endpoint, key: string): Promise<number> {
  const answer = await signedRequest(fdn, 'GET', key, { 'x-amz-content-sha256': EMPTY_SHA256 }, undefined, true)
  if (answer.status !== 200) throw new Error(`signed GET ${key}: ${answer.status}`)
  return answer.length
}

async function signedRequest (fdn: Endpoint, method: string, key: string, headers: Record<string, string>, body: Buffer | undefined, drain = false): Promise<{ status: number, length: number, body: Buffer }> {
  const url = new URL(fdn.daemon.http)
  const signed = await fdn.signer.sign({
    method,
    protocol: url.protocol,
    hostname: url.hostname,
    port: Number(url.port),
    path: `/${fdn.tenant.bucket}/${key}`,
    query: {},
    headers: { host: url.host, ...headers }
  })
  return await exchange(fdn.agent, new URL(`/${fdn.tenant.bucket}/${key}`, url).href, method, signed.headers, body, drain)
}

async function plainPut (agent: Agent, url: string, body: Buffer): Promise<number> {
  const answer = await exchange(agent, url, 'PUT', { 'content-type': 'application/octet-stream', 'content-length': String(body.length) }, body)
  if (answer.status !== 201 && answer.status !== 204) throw new Error(`PUT ${url}: ${answer.status} ${answer.body.toString()}`)
  return body.length
}

async function plainGet (agent: Agent, url: string): Promise<number> {
  const answer = await exchange(agent, url, 'GET', {}, undefined, true)
  if (answer.status !== 200) throw new Error(`GET ${url}: ${answer.status}`)
  return answer.length
}

async function plainGetBytes (agent: Agent, url: string): Promise<Buffer> {
  const answer = await exchange(agent, url, 'GET', {}, undefined)
  if (answer.status !== 200) throw new Error(`GET ${url}: ${answer.status}`)
  return answer.body
}

/** One request on a keep-alive agent; the answer's bytes are counted (`drain`) or kept. */
async function exchange (agent: Agent, url: string, method: string, headers: Record<string, string>, body: Buffer | undefined, drain = false): Promise<{ status: number, length: number, body: Buffer }> {
  return await new Promise((resolve, reject) => {
    const req = request(url, { method, agent, headers }, (response: IncomingMessage) => {
      const chunks: Buffer[] = []
      let length = 0
      response.on('data', (chunk: Buffer) => {
        length += chunk.length
        if (!drain) chunks.push(chunk)
      })
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, length, body: Buffer.concat(chunks) }) })
      response.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}

/** Pins every thread of this process to `list`; answers the function that restores the affinity it had. */
async function pinSelf (taskset: string, list: string): Promise<() => Promise<void>> {
  const before = /:\s*(\S+)\s*$/.exec(execFileSync(taskset, ['-c', '-p', String(process.pid)], { encoding: 'utf8' }).trim())?.[1]
  if (before == null) throw new Error('taskset -p: cannot read this process\'s CPU affinity')
  const set = (cpus: string): void => { execFileSync(taskset, ['-a', '-c', '-p', cpus, String(process.pid)], { stdio: 'ignore' }) }
  set(list)
  let restored = false
  const restore = async (): Promise<void> => {
    if (restored) return
    restored = true
    unregister()
    set(before)
  }
  const unregister = onCleanup('CPU affinity of the bench process', restore)
  return restore
}

/** A process and its descendants (nginx: master and worker). */
async function processTree (pid: number): Promise<number[]> {
  const pids = [pid]
  for (let k = 0; k < pids.length; k++) {
    try {
      const children = await readFile(`/proc/${pids[k]}/task/${pids[k]}/children`, 'utf8')
      pids.push(...children.trim().split(/\s+/).filter(s => s !== '').map(Number))
    } catch {}
  }
  return pids
}

let clockTicks: number | undefined
/** utime + stime of these processes (all their threads), in seconds. */
async function cpuSeconds (pids: number[]): Promise<number> {
  clockTicks ??= (() => {
    try {
      return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      return 100
    }
  })()
  let ticks = 0
  for (const pid of pids) {
    try {
      const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12]) // utime, stime (fields 14 and 15 of stat)
    } catch {}
  }
  return ticks / clockTicks
}

// ---------------------------------------------------------------- 6: memory during multipart uploads

async function multipart (params: S3Params, work: string, report: S3Report): Promise<void> {
  for (const bytes of params.multipartSizes) {
    // a fresh daemon per size: every run starts from the same idle state; not pinned (memory, not speed, is measured)
    step(`s3: multipart ${mib(bytes)}: starting a fresh fdn daemon`)
    const fdn = await startEndpoint(path.join(work, 'fdn-s3-multipart'), params, undefined)
    try {
      report.multipart.push(await multipartRun(fdn, bytes, params))
    } finally {
      await stopEndpoint(fdn)
    }
  }
}

async function multipartRun (fdn: Endpoint, bytes: number, params: S3Params): Promise<MultipartRun> {
  const pid = fdn.daemon.pid
  const key = `multipart/${bytes}.bin`
  const source = generatedSource(bytes, params.partSize)
  await sleep(500) // let start-up and the tenant creation settle
  const start = await memoryOf(pid)
  if (start == null) throw new Error('cannot read the daemon\'s /proc/<pid>/status')
  const hwmReset = await writeFile(`/proc/${pid}/clear_refs`, '5').then(() => true, () => false)
  const timeline: Array<{ seconds: number, rss: number }> = []
  let peak = start.rss
  let sampling = true
  const begin = performance.now()
  const sampler = (async () => {
    while (sampling) {
      const m = await memoryOf(pid)
      if (m != null && Number.isFinite(m.rss)) {
        peak = Math.max(peak, m.rss)
        timeline.push({ seconds: (performance.now() - begin) / 1000, rss: m.rss })
      }
      await sleep(params.sampleEveryMs)
    }
  })()
  let partsSeconds = NaN
  let etag = ''
  try {
    const upload = new Upload({
      client: fdn.client,
      params: { Bucket: fdn.tenant.bucket, Key: key, Body: source.stream, ContentType: 'application/octet-stream' },
      partSize: params.partSize,
      queueSize: params.queueSize,
      leavePartsOnError: false
    })
    upload.on('httpUploadProgress', (progress) => {
      if ((progress.loaded ?? 0) >= bytes && Number.isNaN(partsSeconds)) partsSeconds = (performance.now() - begin) / 1000
    })
    const done = await upload.done()
    etag = done.ETag ?? ''
  } finally {
    sampling = false
    await sampler
  }
  const seconds = (performance.now() - begin) / 1000
  const end = await memoryOf(pid)
  const head = await fdn.client.send(new HeadObjectCommand({ Bucket: fdn.tenant.bucket, Key: key }))
  const expectedEtag = `"${source.expectedEtag()}"`
  const size = head.ContentLength ?? -1
  const verified = size === bytes && head.ETag === expectedEtag && etag === expectedEtag
  const hwm = hwmReset && end != null ? end.hwm : NaN
  const peakRss = Number.isFinite(hwm) ? Math.max(peak, hwm) : peak
  const run: MultipartRun = {
    bytes,
    parts: source.parts(),
    seconds,
    partsSeconds: Number.isNaN(partsSeconds) ? seconds : partsSeconds,
    bytesPerSecond: bytes / seconds,
    startRss: start.rss,
    sampledPeakRss: peak,
    peakDuringParts: Math.max(start.rss, ...timeline.filter(t => t.seconds <= (Number.isNaN(partsSeconds) ? seconds : partsSeconds)).map(t => t.rss)),
    hwm,
    peakRss,
    endRss: end?.rss ?? NaN,
    growth: peakRss - start.rss,
    samples: timeline.length,
    timeline: evenly(timeline, 12),
    etag: head.ETag ?? '',
    expectedEtag,
    size,
    verified
  }
  step(`s3: multipart ${mib(bytes)} in ${run.parts} parts: ${seconds.toFixed(1)} s (${mib(run.bytesPerSecond)}/s; parts done at ${run.partsSeconds.toFixed(1)} s), daemon RSS start ${mib(run.startRss)}, peak ${mib(peakRss)}, end ${mib(run.endRss)}: growth ${mib(run.growth)}; size and ETag ${verified ? 'verified' : `WRONG (size ${size}, ETag ${head.ETag ?? ''} / ${etag}, expected ${expectedEtag})`}`)
  return run
}

/**
 * `bytes` of AES-CTR keystream as a stream of 1 MiB chunks, made as they are read (nothing
 * held), with the MD5 of every `partSize` piece, so the multipart ETag can be checked.
 */
function generatedSource (bytes: number, partSize: number): { stream: Readable, parts: () => number, expectedEtag: () => string } {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16))
  const chunk = Math.min(MiB, partSize)
  const zeros = Buffer.alloc(chunk)
  const partMd5s: Buffer[] = []
  async function * generate (): AsyncGenerator<Buffer> {
    let left = bytes
    let inPart = 0
    let md5 = createHash('md5')
    while (left > 0) {
      const n = Math.min(left, chunk, partSize - inPart)
      const data = cipher.update(zeros.subarray(0, n))
      md5.update(data)
      inPart += n
      left -= n
      if (inPart === partSize || left === 0) {
        partMd5s.push(md5.digest())
        md5 = createHash('md5')
        inPart = 0
      }
      yield data
    }
  }
  return {
    stream: Readable.from(generate(), { objectMode: false, highWaterMark: chunk }),
    parts: () => partMd5s.length,
    expectedEtag: () => `${createHash('md5').update(Buffer.concat(partMd5s)).digest('hex')}-${partMd5s.length}`
  }
}

function evenly<T> (items: T[], count: number): T[] {
  if (items.length <= count) return items
  return Array.from({ length: count }, (_, k) => items[Math.round(k * (items.length - 1) / (count - 1))]!)
}

function mib (bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / MiB).toFixed(1)} MiB` : 'n/a'
}
