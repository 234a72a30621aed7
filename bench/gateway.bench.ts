// Benchmarks 1 and 2: cached `GET /ipfs/{cid}` of a ~100 KB PNG (requests/s) and of a
// 20 MiB MP4 (bytes/s), fdn against nginx serving the same file from disk.
import { createHash } from 'node:crypto'
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { addBytes, startFdn } from './fdn.ts'
import type { FdnDaemon } from './fdn.ts'
import { makeMp4, makePng } from './fixtures.ts'
import { startNginx } from './nginx.ts'
import type { Nginx } from './nginx.ts'
import { step } from './proc.ts'
import type { Tools } from './tools.ts'
import { load } from './wrk.ts'
import type { LoadResult } from './wrk.ts'

export interface GatewayParams {
  connections: number
  threads: number
  durationSeconds: number
  warmupSeconds: number
  /** Each round measures nginx then fdn; the best round of each counts. */
  rounds: number
  /** Servers on CPU 0, the load generator on CPU 1 (needs taskset and 2 CPUs). */
  pin: boolean
  /** Folder for `--cpu-prof` output of the daemon, when profiling. */
  cpuProfDir: string | undefined
}

export type Server = 'nginx' | 'fdn'

export interface GatewayCase {
  id: 'image' | 'video'
  title: string
  metric: 'requestsPerSecond' | 'bytesPerSecond'
  /** fdn must reach this fraction of nginx. */
  target: number
  size: number
  mediaType: string
  cid: string | undefined
  fdnUrl: string | undefined
  nginxUrl: string | undefined
  runs: Array<{ server: Server, round: number, result: LoadResult }>
  best: Partial<Record<Server, LoadResult>>
  /** fdn / nginx on the metric, when both were measured. */
  ratio: number | undefined
  notMeasured: string[]
}

export interface GatewayReport {
  params: GatewayParams
  cases: GatewayCase[]
  nginxConfig: string | undefined
  notes: string[]
}

export async function benchGateway (tools: Tools, params: GatewayParams, work: string): Promise<GatewayReport> {
  const notes: string[] = []
  const www = path.join(work, 'www')
  await mkdir(www, { recursive: true })
  step('gateway: writing fixtures (100 KB PNG, 20 MiB MP4)')
  const png = makePng(100 * 1024)
  const mp4 = makeMp4(20 * 1024 * 1024)
  await writeFile(path.join(www, 'image.png'), png)
  await writeFile(path.join(www, 'video.mp4'), mp4)

  const cases: GatewayCase[] = [
    emptyCase('image', `cached GET of a ${(png.length / 1024).toFixed(0)} KiB PNG`, 'requestsPerSecond', 0.5, png.length),
    emptyCase('video', 'cached GET of a 20 MiB MP4', 'bytesPerSecond', 0.7, mp4.length)
  ]
  const bodies = { image: png, video: mp4 }
  const files = { image: 'image.png', video: 'video.mp4' }

  const pinned = params.pin && tools.taskset != null
  if (params.pin && tools.taskset == null) notes.push('taskset not found: processes are not pinned to CPUs')
  const serverCpu = pinned && tools.taskset != null ? { taskset: tools.taskset, list: '0' } : undefined
  const loadCpu = pinned && tools.taskset != null ? { taskset: tools.taskset, list: '1' } : undefined

  step(`gateway: starting fdn daemon (FDN_LOG_LEVEL=warn${serverCpu != null ? ', pinned to CPU 0' : ''}${params.cpuProfDir != null ? ', --cpu-prof' : ''})`)
  const daemon: FdnDaemon = await startFdn({
    dataDir: path.join(work, 'fdn-gateway'),
    cpu: serverCpu,
    nodeOptions: params.cpuProfDir != null ? `--cpu-prof --cpu-prof-dir=${params.cpuProfDir}` : undefined
  })
  let nginx: Nginx | undefined
  try {
    for (const c of cases) {
      const added = await addBytes(daemon, bodies[c.id])
      c.cid = added.cid
      c.mediaType = added.mediaType
      c.fdnUrl = `${daemon.http}/ipfs/${added.cid}`
      step(`gateway: added ${files[c.id]} to fdn: ${added.cid} (${added.mediaType})`)
    }
    if (tools.nginx != null) {
      step(`gateway: starting nginx ${tools.nginx.version} (1 worker, sendfile on${serverCpu != null ? ', pinned to CPU 0' : ''})`)
      nginx = await startNginx({ binary: tools.nginx.path, configure: tools.nginx.configure, root: www, prefix: path.join(work, 'nginx'), cpu: serverCpu })
      for (const c of cases) c.nginxUrl = `${nginx.url}/${files[c.id]}`
    } else {
      for (const c of cases) c.notMeasured.push('nginx anchor: nginx not available')
    }

    // both servers must answer the same bytes, and fdn must type the media, before anything is timed
    for (const c of cases) {
      const expected = sha256(bodies[c.id])
      for (const [server, url] of [['fdn', c.fdnUrl], ['nginx', c.nginxUrl]] as const) {
        if (url == null) continue
        const response = await fetch(url)
        const body = Buffer.from(await response.arrayBuffer())
        const type = response.headers.get('content-type') ?? ''
        if (response.status !== 200 || sha256(body) !== expected) throw new Error(`${server} ${url}: status ${response.status}, ${body.length} bytes: not the fixture`)
        if (!type.startsWith(c.id === 'image' ? 'image/png' : 'video/mp4')) throw new Error(`${server} ${url}: content-type ${type}`)
      }
    }

    if (tools.loadgen == null) {
      for (const c of cases) c.notMeasured.push('no HTTP load generator (wrk/autocannon)')
      return { params, cases, nginxConfig: nginx?.config, notes }
    }
    const generator = tools.loadgen
    for (const c of cases) {
      for (let round = 1; round <= params.rounds; round++) {
        for (const server of ['nginx', 'fdn'] as const) {
          const url = server === 'fdn' ? c.fdnUrl : c.nginxUrl
          if (url == null) continue
          const base = { url, connections: params.connections, threads: params.threads, cpu: loadCpu, workDir: work }
          if (params.warmupSeconds > 0) await load(generator, { ...base, durationSeconds: params.warmupSeconds })
          const result = await load(generator, { ...base, durationSeconds: params.durationSeconds })
          c.runs.push({ server, round, result })
          step(`gateway: ${c.id} round ${round}/${params.rounds} ${server.padEnd(5)}: ${result.requestsPerSecond.toFixed(0)} req/s, ${(result.bytesPerSecond / 1048576).toFixed(1)} MiB/s, p99 ${result.latencyMs.p99.toFixed(1)} ms, errors ${result.errors}`)
          if (result.errors > 0) notes.push(`${c.id} ${server} round ${round}: ${result.errors} errors (connect/read/write/timeout/non-2xx)`)
          const best = c.best[server]
          if (best == null || result[c.metric] > best[c.metric]) c.best[server] = result
        }
      }
      const fdn = c.best.fdn
      const anchor = c.best.nginx
      if (fdn != null && anchor != null) c.ratio = fdn[c.metric] / anchor[c.metric]
    }
    return { params, cases, nginxConfig: nginx?.config, notes }
  } finally {
    await nginx?.stop()
    await daemon.stop()
  }
}

function emptyCase (id: GatewayCase['id'], title: string, metric: GatewayCase['metric'], target: number, size: number): GatewayCase {
  return { id, title, metric, target, size, mediaType: '', cid: undefined, fdnUrl: undefined, nginxUrl: undefined, runs: [], best: {}, ratio: undefined, notMeasured: [] }
}

function sha256 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex')
}
