/**
 * `npm run chaos -- --nodes 5 --minutes 2 --seed S [--json]`: starts a
 * trusted swarm of real fdn daemons on loopback, runs a seeded workload
 * against it while injecting seeded faults, lets it settle, and checks that
 * what was acknowledged holds (docs/chaos.md). Exit code 0: no violation;
 * 1: violations; 2: the tool itself failed (the run proves nothing).
 */
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { startOrigin } from '../helpers/origin.ts'
import { startActorServer } from '../helpers/fediverse.ts'
import { createTenant } from '../helpers/s3.ts'
import { checkObjects, checkPrivacy, checkStores, convergence, overReplicated } from './checks.ts'
import type { CheckContext } from './checks.ts'
import { Cleanup, RUN_PREFIX, sweepStaleRuns, writeOwner } from './cleanup.ts'
import { Cluster } from './cluster.ts'
import { healAll, runFaults } from './faults.ts'
import { certainVersion, Model, story } from './model.ts'
import type { TenantInfo } from './model.ts'
import { Random } from './random.ts'
import { emptyReport, formatReport } from './report.ts'
import type { ChaosReport, Violation } from './report.ts'
import { Stranger } from './stranger.ts'
import { tenantClient, Workload } from './workload.ts'

const USAGE = `usage: npm run chaos -- [--nodes N] [--minutes M] [--seed S] [--json] [--keep]

Starts N fdn daemons on loopback as a trusted swarm (their links through a
fault-injecting TCP proxy, one data directory on a small tmpfs), runs a
seeded workload of S3, retrieve and ActivityPub operations for M minutes
while killing, pausing, filling the disk of and cutting links between nodes,
lets the swarm settle, and checks every guarantee (docs/chaos.md).

  --nodes N     trusted nodes, 3 to 9 (default 5)
  --minutes M   minutes of workload and faults, may be fractional (default 2)
  --seed S      seed of the workload and the faults (default: random, printed)
  --json        print the report as JSON on stdout (progress goes to stderr)
  --keep        keep the run's directory (data directories, minus the tmpfs)
  --help        this text

Needs Linux and root (the tmpfs mount and /proc). Exit code: 0 no violation,
1 violations, 2 the tool failed.`

/** Settings of every trusted node: quick repair rounds, bounded caches, the loopback origin and actor servers allowed. */
const NODE_ENV = {
  FDN_LOG_LEVEL: 'warn',
  FDN_REPLICAS: '2',
  FDN_REPAIR_INTERVAL: '3s',
  FDN_REPAIR_GRACE: '20s',
  FDN_FETCH_TIMEOUT: '10s',
  FDN_CACHE_SIZE: '64MB',
  FDN_MIN_FREE_SPACE: '0',
  FDN_FETCH_ALLOW: '127.0.0.0/8',
  FDN_ORIGIN_CONNECT_TIMEOUT: '2s',
  FDN_ORIGIN_TIMEOUT: '10s'
}
const TMPFS_BYTES = 384 * 1024 * 1024
/** Replicas of the three tenants. */
const TENANT_REPLICAS = [2, 3, 2]
const SETUP_BUDGET_MS = 4 * 60_000
const CHECK_BUDGET_MS = 15 * 60_000

interface Options { nodes: number, minutes: number, seed: string, json: boolean, keep: boolean }

function parseOptions (argv: string[]): Options | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      nodes: { type: 'string', default: '5' },
      minutes: { type: 'string', default: '2' },
      seed: { type: 'string' },
      json: { type: 'boolean', default: false },
      keep: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false }
    },
    strict: true,
    allowPositionals: false
  })
  if (values.help) return 'help'
  const nodes = Number(values.nodes)
  if (!Number.isInteger(nodes) || nodes < 3 || nodes > 9) throw new Error(`--nodes must be a whole number from 3 to 9, got '${values.nodes}'`)
  const minutes = Number(values.minutes)
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) throw new Error(`--minutes must be a number above 0, got '${values.minutes}'`)
  const seed = values.seed ?? randomBytes(4).toString('hex')
  if (seed === '' || seed.length > 100) throw new Error('--seed must be 1 to 100 characters')
  return { nodes, minutes, seed, json: values.json, keep: values.keep }
}

const log = (line: string): void => { process.stderr.write(`[chaos ${new Date().toISOString().slice(11, 19)}] ${line}\n`) }

async function chaos (options: Options, report: ChaosReport, cleanup: Cleanup): Promise<void> {
  const root = new Random(options.seed)
  if (process.platform !== 'linux' || process.getuid?.() !== 0) throw new Error('chaos needs Linux and root: it mounts a tmpfs and reads other processes\' sockets in /proc')
  const swept = await sweepStaleRuns()
  if (swept.length > 0) log(`cleaned up after ${swept.length} earlier run(s) that were killed: ${swept.join(', ')}`)
  const runDir = await mkdtemp(path.join(tmpdir(), `${RUN_PREFIX}${process.pid}-`))
  await writeOwner(runDir, { pid: process.pid })
  cleanup.add('remove the run directory', async () => {
    if (options.keep) {
      // without its owner record the next run's sweep leaves it alone
      await rm(path.join(runDir, 'owner.json'), { force: true })
      log(`kept ${runDir}`)
    } else {
      await rm(runDir, { recursive: true, force: true })
    }
  })

  const origin = await startOrigin()
  cleanup.add('close the origin', async () => { await origin.close() })
  const fedi = await startActorServer()
  cleanup.add('close the actor server', async () => { await fedi.close() })
  const actors = await Promise.all(['alice', 'bob', 'carol', 'dave'].map(async name => await fedi.addActor(name)))

  const violations = report.violations
  const violation = (found: Violation): void => {
    violations.push(found)
    log(`VIOLATION ${found.kind}: ${found.detail.split('\n')[0]}`)
  }

  const tmpfsNode = root.fork('layout').int(0, options.nodes - 1)
  log(`seed ${options.seed}: ${options.nodes} nodes (node ${tmpfsNode} on a tmpfs), ${options.minutes} min`)
  const cluster = await Cluster.start({
    nodes: options.nodes,
    runDir,
    tmpfsNode,
    tmpfsBytes: TMPFS_BYTES,
    env: { ...NODE_ENV, FDN_FETCH_PORTS: `${origin.port},${new URL(fedi.url).port}` },
    cleanup,
    log
  })
  report.peers = cluster.nodes.map(node => node.peerId)
  await waitHealthy(cluster, 120_000)
  log('swarm up: every node sees the others as healthy trusted peers')

  const tenants: TenantInfo[] = []
  for (const [index, replicas] of TENANT_REPLICAS.entries()) {
    const name = `chaos-${index}`
    const created = await createTenant(cluster.nodes[index]!.daemon!, name, { replicas })
    tenants.push({ index, name, home: index, replicas, accessKeyId: created.accessKeyId, secretAccessKey: created.secretAccessKey })
  }
  let model: Model | undefined
  const stranger = new Stranger(cluster, report, violation, (cid) => { const record = model?.privateBlobs.get(cid); return record != null ? story(record) : undefined })
  await stranger.start()
  cleanup.add('stop the stranger\'s prober', async () => { await stranger.stop() })

  // the chaos phase: workload and faults side by side
  model = new Model(tenants)
  const chaosStart = Date.now()
  const deadline = chaosStart + options.minutes * 60_000
  const workload = new Workload({ cluster, model, report, origin, actors, violation, privateWritten: cid => { stranger.enqueue(cid) } }, root.fork('workload'))
  cleanup.add('close the S3 clients', async () => { workload.close() })
  const progress = setInterval(() => {
    const ops = Object.values(report.operations).reduce((sum, counts) => sum + counts.ok + counts.failed, 0)
    const faults = Object.values(report.faults).reduce((sum, count) => sum + count, 0)
    log(`${Math.round((Date.now() - chaosStart) / 1000)} s: ${ops} operations, ${faults} faults, ${violations.length} violations, nodes ${cluster.nodes.map(node => node.state).join(' ')}`)
    cluster.sampleDirect().catch(() => {})
  }, 15_000)
  cleanup.add('stop the progress timer', async () => { clearInterval(progress) })
  await Promise.all([
    workload.run(deadline),
    runFaults({
      cluster,
      rng: root.fork('faults'),
      deadline,
      record: (fault) => { report.faultLog.push(fault); report.faults[fault.kind]++ },
      log
    })
  ])
  clearInterval(progress)
  await healAll(cluster)
  log('faults lifted; letting the swarm settle')

  // settle: the converging checks, until they hold or the bound passes
  const context: CheckContext = { cluster, model, report, rng: root.fork('checks'), log }
  const settleStart = Date.now()
  const settleBound = Math.min(300_000, 90_000 + options.minutes * 6_000)
  let pending: Violation[] = []
  await waitHealthy(cluster, 120_000).catch((err: unknown) => { violation({ kind: 'swarm-not-healthy', detail: (err as Error).message }) })
  for (let round = 0; ; round++) {
    pending = await convergence(context)
    if (pending.length === 0 || Date.now() - settleStart > settleBound) break
    if (round % 5 === 0) log(`settling: ${pending.length} open (${[...new Set(pending.map(found => found.kind))].join(', ')})`)
    await sleep(3_000)
  }
  report.settle = { seconds: Math.round((Date.now() - settleStart) / 1000), converged: pending.length === 0 }
  for (const found of pending) violation(found)
  await cluster.sampleDirect()
  log(`settled in ${report.settle.seconds} s; final checks`)

  const clients = new Map(tenants.map(tenant => [tenant.index, tenantClient(cluster.nodes[tenant.home]!.http, tenant)]))
  cleanup.add('close the checkers\' S3 clients', async () => { for (const client of clients.values()) client.destroy() })
  for (const found of await checkObjects(context, clients)) violation(found)
  await stranger.stop()
  const publicBlobs = [...model.keys.values()].flatMap(record => { const version = certainVersion(record); return version?.public === true ? [version] : [] })
  const controls = root.fork('controls').shuffle(publicBlobs).slice(0, 3)
  const reached = (await Promise.all(controls.map(async version => await stranger.fetches(version.cid, version.sha256)))).filter(Boolean).length
  if (controls.length > 0 && reached === 0) violation({ kind: 'public-blob-unreachable', detail: `the stranger fetched none of ${controls.length} public blobs (it is connected to ${await stranger.connected()} peers): its privacy probes prove nothing` })
  for (const found of await checkPrivacy(context, stranger)) violation(found)
  for (const found of await checkStores(context)) violation(found)
  const extra = await overReplicated(context)
  if (extra > 0) report.notes.push(`${extra} blobs with more copies than wanted (a holder replaced while away came back: a documented limit)`)
  for (const crash of cluster.crashes) violation({ kind: 'daemon-crash', detail: `exited by itself (code ${crash.code}, signal ${crash.signal}) at ${crash.at}:\n${crash.output}`, node: crash.node })
  if (cluster.directSeen > 0) report.notes.push(`${cluster.directSeen} direct connections between nodes were seen: some swarm traffic bypassed the link proxy`)
  report.proxy = { ...cluster.proxy.stats, directConnections: cluster.directSeen }
  report.logs = await cluster.logSummary()
}

async function waitHealthy (cluster: Cluster, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const counts = await Promise.all(cluster.nodes.map(async node => await cluster.status(node.index).then(status => status.swarm.trustedHealthy, () => -1)))
    if (counts.every(count => count === cluster.nodes.length - 1)) return
    if (Date.now() > deadline) throw new Error(`the nodes did not all see each other as healthy within ${timeoutMs / 1000} s (healthy trusted peers: ${counts.join(', ')})`)
    await sleep(500)
  }
}

async function main (): Promise<number> {
  let options: Options | 'help'
  try {
    options = parseOptions(process.argv.slice(2))
  } catch (err) {
    process.stderr.write(`chaos: ${(err as Error).message}\n\n${USAGE}\n`)
    return 2
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  const report = emptyReport(options.seed, options.nodes, options.minutes)
  const started = Date.now()
  const cleanup = new Cleanup()
  const finish = async (code: number): Promise<number> => {
    report.seconds = Math.round((Date.now() - started) / 1000)
    const failedSteps = await cleanup.run()
    for (const step of failedSteps) log(`cleanup step failed: ${step}`)
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : `${formatReport(report)}\n`)
    return report.error != null ? 2 : code
  }
  // stop by itself, whatever hangs
  const bound = SETUP_BUDGET_MS + options.minutes * 60_000 + 300_000 + CHECK_BUDGET_MS
  let interrupted: (reason: string) => void = () => {}
  const interruption = new Promise<string>((resolve) => { interrupted = resolve })
  const watchdog = setTimeout(() => { interrupted(`the run did not finish within ${Math.round(bound / 60_000)} min`) }, bound)
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => { interrupted(`interrupted by ${signal}`) })
  try {
    const running = chaos(options, report, cleanup).then(() => undefined, (err: unknown) => (err as Error).stack ?? String(err))
    const outcome = await Promise.race([running, interruption])
    if (outcome != null) report.error = outcome
  } finally {
    clearTimeout(watchdog)
  }
  return await finish(report.violations.length > 0 ? 1 : 0)
}

process.exitCode = await main()
// the S3 clients' sockets and the servers' timers are closed; anything still pending must not keep the run alive
setTimeout(() => { process.exit() }, 2000).unref()
