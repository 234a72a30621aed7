// What `npm run simulate` prints: the V1 model beside the measured fdn figures,
// the goals with their limits, as a table or as one JSON object.
import type { Measured } from './run.ts'

/** Room over the ideal figures that the goals allow (HTTP headers, rounding). */
export const SLACK = 0.05

export interface Goal {
  /** What the goal says, with its limit. */
  rule: string
  limitBytes?: number
  pass: boolean
  /** Why it failed, when it did. */
  reason?: string
}

export interface Result {
  servers: number
  instances: number
  posts: number
  origins: number
  replicas: number
  seed: number
  concurrency: number
  attachments: number
  mediaBytes: number
  v1: { transferBytes: number, storageBytes: number }
  fdn: { transferBytes: number, originBytes: number, swarmBytes: number, storageBytes: number, cacheBytes: number, reportedCachedBytes: number }
  /** fdn ÷ V1. */
  ratios: { transfer: number, storage: number }
  goals: { transfer: Goal, storage: Goal, correct: Goal }
  sources: Measured['sources']
  latencyMs: Measured['latencyMs']
  retrievesPerSecond: number
  nodeRetrieve: Measured['nodeRetrieve']
  originRequests: number
  originRepeats: number
  repeatedUrls: Measured['repeatedUrls']
  verified: number
  wrongAnswers: number
  failures: string[]
  settled: boolean
  underReplicated: number
  pending: number
  baselineBytes: number
  seconds: Measured['seconds']
  nodes: Measured['nodes']
}

export function evaluate (m: Measured): Result {
  const { servers, instances, posts, origins, replicas, seed, concurrency } = m.options
  // A swarm of fewer servers than replicas holds at most one copy per server.
  const copies = Math.min(replicas, servers)
  const transferBytes = m.originBytes + m.swarmBytes
  const transferLimit = Math.floor((servers + copies - 1) * m.mediaBytes * (1 + SLACK))
  const storageLimit = Math.floor(copies * m.mediaBytes * (1 + SLACK))
  const answered = m.sources.local + m.sources.swarm + m.sources.origin
  const transfer: Goal = {
    rule: `transfer ≤ (servers + replicas − 1) × media + 5 % = ${servers + copies - 1} × media + 5 %`,
    limitBytes: transferLimit,
    pass: transferBytes <= transferLimit
  }
  if (!transfer.pass) transfer.reason = `${transferBytes} bytes moved, ${(transferBytes / m.mediaBytes).toFixed(2)} × media`
  const storage: Goal = {
    rule: `storage ≤ replicas × media + 5 % = ${copies} × media + 5 %`,
    limitBytes: storageLimit,
    pass: m.storageBytes <= storageLimit && m.settled
  }
  if (!m.settled) storage.reason = 'replication did not settle: the figure may not be final'
  else if (!storage.pass) storage.reason = `${m.storageBytes} bytes stored, ${(m.storageBytes / m.mediaBytes).toFixed(2)} × media`
  const correct: Goal = {
    rule: 'every retrieve answered 200 with the attachment\'s digest and size; every sampled gateway read returned its bytes',
    pass: m.sources.failed === 0 && m.wrongAnswers === 0 && answered === m.retrieves
  }
  if (!correct.pass) correct.reason = `${m.sources.failed} failed, ${m.wrongAnswers} wrong, ${answered} of ${m.retrieves} answered`
  return {
    servers,
    instances,
    posts,
    origins,
    replicas,
    seed,
    concurrency,
    attachments: m.attachments,
    mediaBytes: m.mediaBytes,
    v1: { transferBytes: 2 * instances * m.mediaBytes, storageBytes: instances * m.mediaBytes },
    fdn: { transferBytes, originBytes: m.originBytes, swarmBytes: m.swarmBytes, storageBytes: m.storageBytes, cacheBytes: m.cacheBytes, reportedCachedBytes: m.reportedCachedBytes },
    ratios: { transfer: transferBytes / (2 * instances * m.mediaBytes), storage: m.storageBytes / (instances * m.mediaBytes) },
    goals: { transfer, storage, correct },
    sources: m.sources,
    latencyMs: m.latencyMs,
    retrievesPerSecond: m.retrievesPerSecond,
    nodeRetrieve: m.nodeRetrieve,
    originRequests: m.originRequests,
    originRepeats: m.originRepeats,
    repeatedUrls: m.repeatedUrls,
    verified: m.verified,
    wrongAnswers: m.wrongAnswers,
    failures: m.failures,
    settled: m.settled,
    underReplicated: m.underReplicated,
    pending: m.pending,
    baselineBytes: m.baselineBytes,
    seconds: m.seconds,
    nodes: m.nodes
  }
}

export function passed (result: Result): boolean {
  return result.goals.transfer.pass && result.goals.storage.pass && result.goals.correct.pass
}

/** Decimal units: 1 MB = 10^6 bytes, 1 GB = 10^9 bytes. */
export function bytes (n: number): string {
  const abs = Math.abs(n)
  if (abs >= 1e12) return `${(n / 1e12).toFixed(2)} TB`
  if (abs >= 1e9) return `${(n / 1e9).toFixed(2)} GB`
  if (abs >= 1e6) return `${(n / 1e6).toFixed(1)} MB`
  if (abs >= 1e3) return `${(n / 1e3).toFixed(1)} kB`
  return `${n} B`
}

function percent (ratio: number): string {
  return `${(ratio * 100).toFixed(ratio < 0.1 ? 2 : 1)} %`
}

function table (rows: string[][]): string {
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map(row => row[column]!.length)))
  return rows.map(row => row.map((cell, column) => column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!)).join('   ').trimEnd()).join('\n')
}

export function human (r: Result): string {
  const times = (n: number): string => `${(n / r.mediaBytes).toFixed(2)} × media`
  const pass = (goal: Goal): string => goal.pass ? 'PASS' : `FAIL (${goal.reason ?? ''})`
  const lines = [
    `fdn simulate: ${r.servers} servers, ${r.instances} instances, ${r.posts} posts from ${r.origins} origins, replicas ${r.replicas}, seed ${r.seed}`,
    `media: ${r.attachments} distinct attachments, ${bytes(r.mediaBytes)} (decimal units: 1 MB = 10^6 bytes)`,
    '',
    table([
      ['', 'V1: each instance alone', 'fdn', 'fdn / V1'],
      ['transfer', bytes(r.v1.transferBytes), bytes(r.fdn.transferBytes), percent(r.ratios.transfer)],
      ['  from origins', bytes(r.instances * r.mediaBytes), bytes(r.fdn.originBytes), ''],
      ['  between media servers', '—', bytes(r.fdn.swarmBytes), ''],
      ['  uploads to own bucket', bytes(r.instances * r.mediaBytes), '—', ''],
      ['storage', bytes(r.v1.storageBytes), bytes(r.fdn.storageBytes), percent(r.ratios.storage)],
      ['cache (bounded, evictable)', '—', bytes(r.fdn.cacheBytes), '']
    ]),
    '',
    `retrieves: ${r.sources.origin} from origin, ${r.sources.swarm} from swarm, ${r.sources.local} local, ${r.sources.failed} failed; ${r.verified} gateway reads verified`,
    `retrieve time (median / p90): origin ${r.latencyMs.origin.p50} / ${r.latencyMs.origin.p90} ms, swarm ${r.latencyMs.swarm.p50} / ${r.latencyMs.swarm.p90} ms, local ${r.latencyMs.local.p50} / ${r.latencyMs.local.p90} ms; ${r.retrievesPerSecond.toFixed(0)} retrieves/s with ${r.concurrency} in flight`,
    `origins answered ${r.originRequests} requests (${r.originRepeats} repeats of a URL); nodes started ${r.nodeRetrieve.originFetches} origin downloads`,
    `replication: ${r.underReplicated} under-replicated, ${r.pending} pending${r.settled ? '' : ' (did not settle)'}; ${bytes(r.baselineBytes)} on the nodes' disks before the first delivery, not counted`,
    '',
    table([
      ['node', 'instances', 'origin downloads', 'received from peers', 'stored', 'blobs kept', 'cache only', 'status cachedBytes'],
      ...r.nodes.map(node => [String(node.server), String(node.instances), String(node.originFetches), bytes(node.receivedBytes), bytes(node.storedBytes), String(node.durableBlobs), `${node.cacheOnlyBlobs} / ${bytes(node.cacheOnlyBytes)}`, bytes(node.reportedCachedBytes)])
    ]),
    '',
    `goal ${r.goals.transfer.rule} = ${bytes(r.goals.transfer.limitBytes!)}: ${pass(r.goals.transfer)}, measured ${bytes(r.fdn.transferBytes)} = ${times(r.fdn.transferBytes)}`,
    `goal ${r.goals.storage.rule} = ${bytes(r.goals.storage.limitBytes!)}: ${pass(r.goals.storage)}, measured ${bytes(r.fdn.storageBytes)} = ${times(r.fdn.storageBytes)}`,
    `goal correct (${r.goals.correct.rule}): ${pass(r.goals.correct)}`,
    `time: setup ${r.seconds.setup.toFixed(1)} s, deliveries ${r.seconds.deliveries.toFixed(1)} s, settle ${r.seconds.settle.toFixed(1)} s, total ${r.seconds.total.toFixed(1)} s (CPU of the simulator itself: ${r.seconds.simulatorCpu.toFixed(1)} s)`
  ]
  if (r.repeatedUrls.length > 0) lines.push('', 'URLs downloaded from their origin more than once:', ...r.repeatedUrls.map(u => `  ${u.url} (${bytes(u.size)}): ${u.requests} requests`))
  if (r.failures.length > 0) lines.push('', 'first failures:', ...r.failures.map(failure => `  ${failure}`))
  return lines.join('\n') + '\n'
}
