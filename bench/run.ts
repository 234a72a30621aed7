// `npm run bench`: finds or installs the tools, runs the gateway, ingest and S3
// benchmarks against their anchors, writes BENCHMARKS.md, and stops every
// process it started, even on failure.
//
// Settings (environment): BENCH_DURATION (s, default 10), BENCH_WARMUP (s, 3),
// BENCH_CONNECTIONS (64), BENCH_ROUNDS (2), BENCH_PIN (1: servers on CPU 0, load
// generator on CPU 1), BENCH_THREADS (load generator threads; 1 when pinned, else 2),
// BENCH_INGEST_SIZE (1GB = 1 GiB), BENCH_S3_OBJECTS (1 MiB objects per S3 PUT/GET run, 400),
// BENCH_S3_MULTIPART (multipart upload sizes, 512MB,2GB), BENCH_SWARM_SIZE (swarm transfer blob, 100MB),
// BENCH_SWARM_NODES (DHT lookup swarm, 20), BENCH_SWARM_OBJECTS (100 KB PutObjects replicated, 1000),
// BENCH_ONLY (gateway|ingest|s3|swarm), BENCH_INSTALL (1:
// apt-get install nginx-light/wrk when missing), BENCH_PRETEND_MISSING (e.g. nginx,wrk: try
// the not-measured paths), BENCH_CPU_PROF (1: run the daemons
// with --cpu-prof into bench/.work/profiles/), BENCH_STRICT (1: exit 3 when a target fails).
//
// Exit status: 0 all measured, 1 error, 2 something could not be measured, 3 a target failed (BENCH_STRICT=1).
import { execFileSync } from 'node:child_process'
import { appendFile, readFile, mkdir, rm, rmdir } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { parseSize } from '../node/config/values.ts'
import { VERSION } from '../node/version.ts'
import { benchGateway } from './gateway.bench.ts'
import type { GatewayParams, GatewayReport } from './gateway.bench.ts'
import { benchIngest } from './ingest.bench.ts'
import type { IngestReport } from './ingest.bench.ts'
import { benchS3 } from './s3.bench.ts'
import type { S3Params, S3Report } from './s3.bench.ts'
import { benchSwarm, swarmRows, swarmSection } from './swarm.bench.ts'
import type { SwarmParams, SwarmReport } from './swarm.bench.ts'
import { cleanupAll, elapsedSeconds, onCleanup, ROOT, step, WORK } from './proc.ts'
import { summarize, writeReport } from './report.ts'
import type { Environment } from './report.ts'
import { findTools } from './tools.ts'

function setting (name: string, fallback: string): string {
  const value = process.env[name]
  return value == null || value === '' ? fallback : value
}

function numberSetting (name: string, fallback: number): number {
  const raw = setting(name, String(fallback))
  const value = Number(raw)
  if (!Number.isFinite(value) || value < 0) throw new Error(`${name}=${raw} is not a non-negative number`)
  return value
}

async function main (): Promise<number> {
  const only = setting('BENCH_ONLY', 'all')
  if (!['all', 'gateway', 'ingest', 's3', 'swarm'].includes(only)) throw new Error(`BENCH_ONLY=${only}: expected gateway, ingest, s3 or swarm`)
  const pin = setting('BENCH_PIN', '1') === '1' && os.availableParallelism() >= 2
  const cpuProf = setting('BENCH_CPU_PROF', '0') === '1'
  const profileDir = path.join(WORK, 'profiles')
  const gatewayParams: GatewayParams = {
    connections: numberSetting('BENCH_CONNECTIONS', 64),
    threads: numberSetting('BENCH_THREADS', pin ? 1 : 2),
    durationSeconds: numberSetting('BENCH_DURATION', 10),
    warmupSeconds: numberSetting('BENCH_WARMUP', 3),
    rounds: Math.max(1, numberSetting('BENCH_ROUNDS', 2)),
    pin,
    cpuProfDir: cpuProf ? profileDir : undefined
  }
  const ingestBytes = parseSize(setting('BENCH_INGEST_SIZE', '1GB'))
  const s3Params: S3Params = {
    objects: Math.max(1, Math.round(numberSetting('BENCH_S3_OBJECTS', 400))),
    objectSize: 1048576,
    concurrency: 16,
    rounds: gatewayParams.rounds,
    warmupObjects: 32,
    multipartSizes: setting('BENCH_S3_MULTIPART', '512MB,2GB').split(',').filter(s => s.trim() !== '').map(s => parseSize(s.trim())).sort((a, b) => a - b),
    partSize: 8 * 1048576,
    queueSize: 4,
    rssGrowthLimit: 150 * 1048576,
    rssSizeSlack: 50 * 1048576,
    sampleEveryMs: 200,
    pin,
    cpuProfDir: cpuProf ? profileDir : undefined
  }
  const swarmParams: SwarmParams = {
    transferBytes: parseSize(setting('BENCH_SWARM_SIZE', '100MB')),
    transferRuns: 3,
    fetchTimeout: '30s',
    settleMs: 2000,
    dhtNodes: Math.max(2, Math.round(numberSetting('BENCH_SWARM_NODES', 20))),
    startBatch: 4,
    publishers: 5,
    blobsPerPublisher: 20,
    smallBlobBytes: 4096,
    lookupPasses: 2,
    gatewayMisses: 40,
    objects: Math.max(1, Math.round(numberSetting('BENCH_SWARM_OBJECTS', 1000))),
    objectBytes: 100 * 1024,
    concurrency: 16,
    repairInterval: '1s',
    catchupTimeoutMs: 30_000,
    stallMs: 20_000
  }
  const loadAverage = os.loadavg()

  const work = path.join(WORK, `run-${process.pid}`)
  await mkdir(work, { recursive: true })
  if (cpuProf) await mkdir(profileDir, { recursive: true })
  onCleanup('bench/.work scratch folder', async () => {
    await rm(work, { recursive: true, force: true })
    await rmdir(WORK).catch(() => {}) // only when empty: CPU profiles stay
  })

  step(`fdn ${VERSION} benchmarks, Node ${process.version}; scratch ${path.relative(ROOT, work)}`)
  step('tools: looking for nginx, wrk, openssl, taskset')
  const tools = await findTools({
    install: setting('BENCH_INSTALL', '1') === '1',
    pretendMissing: setting('BENCH_PRETEND_MISSING', '').split(',').filter(name => name !== '')
  })
  for (const note of tools.notes) step(`tools: ${note}`)
  step(`tools: nginx ${tools.nginx?.version ?? 'MISSING'}, ${tools.loadgen != null ? `${tools.loadgen.kind} ${tools.loadgen.version}` : 'load generator MISSING'}, ${tools.openssl?.version ?? 'openssl MISSING'}`)

  let gateway: GatewayReport | undefined
  let ingest: IngestReport | undefined
  let s3: S3Report | undefined
  if (only === 'all' || only === 'gateway') gateway = await benchGateway(tools, gatewayParams, work)
  if (only === 'all' || only === 'ingest') ingest = await benchIngest(tools, { bytes: ingestBytes, rssLimit: 200 * 1048576, rounds: gatewayParams.rounds, cpuProfDir: cpuProf ? profileDir : undefined }, work)
  if (only === 'all' || only === 's3') s3 = await benchS3(tools, s3Params, work)
  let swarm: SwarmReport | undefined
  if (only === 'all' || only === 'swarm') swarm = await benchSwarm(swarmParams, work)

  const rows = summarize(gateway, ingest, s3)
  if (swarm != null) rows.push(...swarmRows(swarm))
  const env = await environment(tools, {
    BENCH_DURATION: String(gatewayParams.durationSeconds),
    BENCH_WARMUP: String(gatewayParams.warmupSeconds),
    BENCH_CONNECTIONS: String(gatewayParams.connections),
    BENCH_THREADS: String(gatewayParams.threads),
    BENCH_ROUNDS: String(gatewayParams.rounds),
    BENCH_PIN: pin ? '1' : '0',
    BENCH_INGEST_SIZE: setting('BENCH_INGEST_SIZE', '1GB'),
    BENCH_S3_OBJECTS: String(s3Params.objects),
    BENCH_S3_MULTIPART: setting('BENCH_S3_MULTIPART', '512MB,2GB'),
    BENCH_SWARM_SIZE: setting('BENCH_SWARM_SIZE', '100MB'),
    BENCH_SWARM_NODES: String(swarmParams.dhtNodes),
    BENCH_SWARM_OBJECTS: String(swarmParams.objects),
    BENCH_ONLY: only,
    BENCH_CPU_PROF: cpuProf ? '1' : '0'
  }, loadAverage)
  const file = await writeReport(env, gateway, ingest, s3, rows, elapsedSeconds())
  if (swarm != null) await appendFile(file, swarmSection(swarm).join('\n'))
  else await appendFile(file, 'Swarm benchmarks (7, 8, 9): not run in this invocation (BENCH_ONLY).\n')
  step(`wrote ${path.relative(ROOT, file)}`)
  process.stdout.write('\n')
  for (const r of rows) process.stdout.write(`  ${r.id.padEnd(3)} ${r.verdict.padEnd(12)} ${r.benchmark}: fdn ${r.fdn} | ${r.anchor} | ${r.ratio} (target ${r.target})\n`)
  process.stdout.write('\n')
  if (cpuProf) step(`CPU profiles of the daemons: ${path.relative(ROOT, profileDir)}/ (summarise with: node bench/profile-summary.ts <file>)`)
  if (rows.some(r => r.verdict === 'NOT MEASURED')) {
    step('some figures were NOT MEASURED (see above): exit 2')
    return 2
  }
  if (setting('BENCH_STRICT', '0') === '1' && rows.some(r => r.verdict === 'FAIL')) return 3
  return 0
}

async function environment (tools: Awaited<ReturnType<typeof findTools>>, settings: Record<string, string>, loadAverage: number[]): Promise<Environment> {
  const cpu = os.cpus()[0]?.model ?? 'unknown'
  let osName = `${os.type()} ${os.release()}`
  try {
    osName = /^PRETTY_NAME="?([^"\n]*)"?/m.exec(await readFile('/etc/os-release', 'utf8'))?.[1] ?? osName
  } catch {}
  const git = (args: string[]): string => {
    try {
      return execFileSync('git', args, { cwd: ROOT, encoding: 'utf8' }).trim()
    } catch {
      return ''
    }
  }
  const head = git(['rev-parse', '--short', 'HEAD'])
  const dirty = git(['status', '--porcelain', '--untracked-files=no']) !== ''
  const fastify = JSON.parse(await readFile(path.join(ROOT, 'node_modules', 'fastify', 'package.json'), 'utf8')) as { version: string }
  const versions: Record<string, string> = {
    'Node.js': process.version,
    fdn: VERSION,
    fastify: fastify.version,
    nginx: tools.nginx?.version ?? 'not available',
    [tools.loadgen?.kind ?? 'wrk']: tools.loadgen?.version ?? 'not available',
    openssl: tools.openssl?.version ?? 'not available',
    ...await s3Versions()
  }
  return {
    date: new Date().toISOString(),
    cpu,
    cores: os.availableParallelism(),
    memory: os.totalmem(),
    kernel: os.release(),
    os: osName,
    loadAverage,
    loadAverageEnd: os.loadavg(),
    versions,
    commit: head === '' ? 'unknown' : `git ${head}${dirty ? ' with uncommitted changes' : ''}`,
    command: 'npm run bench',
    settings,
    toolNotes: tools.notes
  }
}

async function s3Versions (): Promise<Record<string, string>> {
  const versions: Record<string, string> = {}
  for (const pkg of ['@aws-sdk/client-s3', '@aws-sdk/lib-storage', '@smithy/signature-v4']) {
    try {
      versions[pkg] = (JSON.parse(await readFile(path.join(ROOT, 'node_modules', pkg, 'package.json'), 'utf8')) as { version: string }).version
    } catch {
      versions[pkg] = 'not installed'
    }
  }
  return versions
}

let interrupted = false
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    if (interrupted) return
    interrupted = true
    step(`${signal}: stopping every process the bench started`)
    cleanupAll().finally(() => { process.exit(130) })
  })
}

let code: number
try {
  code = await main()
} catch (err) {
  if (!interrupted) step(`FAILED: ${(err as Error).stack ?? String(err)}`)
  code = 1
}
if (interrupted) await new Promise(() => {}) // the signal handler cleans up and exits 130
await cleanupAll()
step(`done in ${elapsedSeconds().toFixed(0)} s`)
process.exitCode = code
