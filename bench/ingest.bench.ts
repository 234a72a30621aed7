// Benchmark 3: ingest of a large file through `fdn add` (and through the admin API
// directly), against `openssl dgst -sha256` of the same file; the daemon's peak RSS.
// Each way is run with FDN_FSYNC=true (the default) and FDN_FSYNC=false, interleaved,
// so the cost of flushing to the disk shows beside the same anchor.
import { createReadStream } from 'node:fs'
import { rm } from 'node:fs/promises'
import { request } from 'node:http'
import path from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { AddResponse } from '../protocol/admin-api.ts'
import { BENCH_LOG_LEVEL, FDN_BIN, memoryOf, sampleRss, startFdn } from './fdn.ts'
import type { FdnDaemon } from './fdn.ts'
import { writeRandomFile } from './fixtures.ts'
import { flushDirtyPages, ROOT, run, step } from './proc.ts'
import type { Tools } from './tools.ts'

export interface IngestParams {
  bytes: number
  /** The daemon's peak RSS must stay below this. */
  rssLimit: number
  /** Rounds of the four runs (each way, each FDN_FSYNC); the fastest run of each counts. */
  rounds: number
  cpuProfDir: string | undefined
}

export interface IngestRun {
  method: 'cli' | 'api'
  /** The daemon's FDN_FSYNC. */
  fsync: boolean
  round: number
  command: string
  seconds: number
  bytesPerSecond: number
  cid: string
  /** VmRSS of the idle daemon just before the upload. */
  idleRss: number
  /** Highest VmRSS seen by sampling every 50 ms during the upload. */
  sampledPeakRss: number
  /** VmHWM when the upload finished: the daemon's peak since its start. */
  hwm: number
  digestMatches: boolean
}

export interface IngestReport {
  params: IngestParams
  openssl: { command: string, seconds: number, bytesPerSecond: number, digest: string } | undefined
  /** Time of `fdn add` of a 1-byte file: the CLI's start-up and request cost, included in the CLI figure. */
  cliOverheadSeconds: number | undefined
  runs: IngestRun[]
  notMeasured: string[]
  notes: string[]
}

export async function benchIngest (tools: Tools, params: IngestParams, work: string): Promise<IngestReport> {
  const report: IngestReport = { params, openssl: undefined, cliOverheadSeconds: undefined, runs: [], notMeasured: [], notes: [] }
  const file = path.join(work, 'ingest.bin')
  step(`ingest: writing ${formatMiB(params.bytes)} of random data`)
  await writeRandomFile(file, params.bytes)
  try {
    if (tools.openssl != null) {
      // twice: the first run also warms the page cache the fdn runs then read from
      let best: { seconds: number, digest: string } | undefined
      for (let i = 0; i < 2; i++) {
        const result = await run(tools.openssl.path, ['dgst', '-sha256', file])
        if (result.code !== 0) throw new Error(`openssl dgst failed: ${result.stderr}`)
        const digest = /([0-9a-f]{64})\s*$/.exec(result.stdout.trim())?.[1] ?? ''
        const seconds = result.ms / 1000
        if (best == null || seconds < best.seconds) best = { seconds, digest }
      }
      if (best != null) {
        report.openssl = { command: `openssl dgst -sha256 ${path.basename(file)}`, seconds: best.seconds, bytesPerSecond: params.bytes / best.seconds, digest: best.digest }
        step(`ingest: openssl dgst -sha256: ${best.seconds.toFixed(2)} s, ${formatMiB(params.bytes / best.seconds)}/s`)
      }
    } else {
      report.notMeasured.push('openssl anchor: openssl not available')
    }

    const runs = Array.from({ length: params.rounds }, (_, i) => i + 1)
      .flatMap(round => (['cli', 'api'] as const).flatMap(method => [true, false].map(fsync => ({ round, method, fsync }))))
    for (const { round, method, fsync } of runs) {
      const dataDir = path.join(work, `fdn-ingest-${method}`)
      step(`ingest: round ${round}/${params.rounds}: starting a fresh fdn daemon for the ${method === 'cli' ? 'fdn add' : 'admin API'} run (FDN_FSYNC=${String(fsync)}, FDN_LOG_LEVEL=${BENCH_LOG_LEVEL})`)
      const daemon = await startFdn({
        dataDir,
        env: { FDN_FSYNC: String(fsync) },
        nodeOptions: params.cpuProfDir != null ? `--cpu-prof --cpu-prof-dir=${params.cpuProfDir}` : undefined
      })
      try {
        if (method === 'cli' && report.cliOverheadSeconds == null) {
          const tiny = path.join(work, 'one-byte.bin')
          await writeRandomFile(tiny, 1)
          const overhead = await cliAdd(daemon, tiny)
          report.cliOverheadSeconds = overhead.seconds
          await rm(tiny, { force: true })
        }
        await flushDirtyPages() // no run pays for an earlier run's writeback (FDN_FSYNC=false leaves it to the kernel)
        const idle = await memoryOf(daemon.pid)
        const sampler = sampleRss(daemon.pid)
        let outcome: { seconds: number, result: AddResponse, command: string }
        let sampled: { peakRss: number, samples: number }
        try {
          outcome = method === 'cli' ? await cliAdd(daemon, file) : await apiAdd(daemon, file, params.bytes)
        } finally {
          sampled = await sampler.stop()
        }
        const after = await memoryOf(daemon.pid)
        if (outcome.result.size !== params.bytes) throw new Error(`${method} ingest stored ${outcome.result.size} bytes, expected ${params.bytes}`)
        const digestMatches = report.openssl == null || outcome.result.sha256 === report.openssl.digest
        if (!digestMatches) report.notes.push(`${method}: the daemon's sha256 ${outcome.result.sha256} differs from openssl's ${report.openssl?.digest ?? ''}`)
        const entry: IngestRun = {
          method,
          fsync,
          round,
          command: outcome.command,
          seconds: outcome.seconds,
          bytesPerSecond: params.bytes / outcome.seconds,
          cid: outcome.result.cid,
          idleRss: idle?.rss ?? NaN,
          sampledPeakRss: sampled.peakRss,
          hwm: after?.hwm ?? NaN,
          digestMatches
        }
        report.runs.push(entry)
        step(`ingest: ${method === 'cli' ? 'fdn add' : 'admin API'}, FDN_FSYNC=${String(fsync)}: ${entry.seconds.toFixed(2)} s, ${formatMiB(entry.bytesPerSecond)}/s, daemon peak RSS ${formatMiB(entry.hwm)} (sampled ${formatMiB(entry.sampledPeakRss)}, idle ${formatMiB(entry.idleRss)})`)
      } finally {
        await daemon.stop()
        await rm(dataDir, { recursive: true, force: true })
      }
    }
  } finally {
    await rm(file, { force: true })
  }
  return report
}

/** The fastest run of one way with one FDN_FSYNC. */
export function bestIngest (report: IngestReport, method: IngestRun['method'], fsync: boolean): IngestRun | undefined {
  let best: IngestRun | undefined
  for (const r of report.runs) if (r.method === method && r.fsync === fsync && (best == null || r.bytesPerSecond > best.bytesPerSecond)) best = r
  return best
}

/** The highest VmHWM of the runs of one way (any FDN_FSYNC): what the RSS target is judged on. */
export function peakIngestHwm (report: IngestReport, method: IngestRun['method']): number {
  const hwms = report.runs.filter(r => r.method === method).map(r => r.hwm)
  return hwms.length === 0 ? NaN : Math.max(...hwms)
}

/** `fdn add <file> --json --no-progress`, as a user runs it, timed from spawn to exit. */
async function cliAdd (daemon: FdnDaemon, file: string): Promise<{ seconds: number, result: AddResponse, command: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, FDN_DATA: daemon.dataDir, FDN_LOG_LEVEL: BENCH_LOG_LEVEL }
  const result = await run(process.execPath, [FDN_BIN, 'add', file, '--json', '--no-progress'], { env, cwd: ROOT })
  if (result.code !== 0) throw new Error(`fdn add failed (${result.code}): ${result.stderr}${result.stdout}`)
  return {
    seconds: result.ms / 1000,
    result: JSON.parse(result.stdout) as AddResponse,
    command: `FDN_DATA=<daemon data dir> node bin/fdn.ts add ${path.basename(file)} --json --no-progress`
  }
}

/** `POST /admin/v1/blobs` with the file streamed from disk by node:http (64 KiB reads), timed to the answer. */
async function apiAdd (daemon: FdnDaemon, file: string, size: number): Promise<{ seconds: number, result: AddResponse, command: string }> {
  const begin = performance.now()
  const answer = new Promise<{ status: number, body: string }>((resolve, reject) => {
    const req = request(`${daemon.admin}/admin/v1/blobs`, {
      method: 'POST',
      headers: { authorization: `Bearer ${daemon.token}`, 'content-type': 'application/octet-stream', 'content-length': String(size) }
    }, (response) => {
      let body = ''
      response.setEncoding('utf8')
      response.on('data', (chunk: string) => { body += chunk })
      response.on('end', () => { resolve({ status: response.statusCode ?? 0, body }) })
      response.on('error', reject)
    })
    req.on('error', reject)
    pipeline(createReadStream(file), req).catch(reject)
  })
  const { status, body } = await answer
  const seconds = (performance.now() - begin) / 1000
  if (status !== 200 && status !== 201) throw new Error(`admin API add answered ${status}: ${body}`)
  return { seconds, result: JSON.parse(body) as AddResponse, command: 'POST {admin}/admin/v1/blobs, body streamed from disk by node:http' }
}

export function formatMiB (bytes: number): string {
  return `${(bytes / 1048576).toFixed(1)} MiB`
}
