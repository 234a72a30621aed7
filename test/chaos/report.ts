/**
 * The chaos run's report: what ran, what broke on purpose, and what the
 * swarm got wrong. Violations are broken guarantees only: an operation that
 * failed because its node was down is counted as failed, never a violation.
 */
import type { ProxyStats } from './link-proxy.ts'

export const OPERATION_KINDS = ['put', 'overwrite', 'multipart', 'get', 'delete', 'alias-get', 'gateway-get', 'private-probe', 'stranger-probe', 'retrieve', 'ap-delete'] as const
export type OperationKind = typeof OPERATION_KINDS[number]

export const FAULT_KINDS = ['kill', 'pause', 'disk-full', 'link-drop', 'link-delay', 'link-reset'] as const
export type FaultKind = typeof FAULT_KINDS[number]

export interface Violation {
  /** What guarantee broke, e.g. `acknowledged-object-missing`. */
  kind: string
  detail: string
  node?: number
  tenant?: string
  key?: string
  cid?: string
  /** What the clients did to the key involved, with times (seconds into the chaos phase, as in the fault log). */
  history?: string
}

export interface FaultRecord {
  kind: FaultKind
  /** Seconds since the chaos phase began. */
  at: number
  target: string
  durationMs: number
  detail?: string
}

export interface CheckCounts {
  objects: number
  deletedKeys: number
  blobs: number
  releasedBlobs: number
  deletedStatuses: number
  privateBlobs: number
  strangerProbes: number
  gatewayProbes: number
  nodesCollected: number
}

export interface ChaosReport {
  seed: string
  nodes: number
  minutes: number
  /** Each node's peer ID, by index (references name holders and origins by peer ID). */
  peers: string[]
  startedAt: string
  /** Wall time of the whole run, set-up and checks included. */
  seconds: number
  operations: Record<OperationKind, { ok: number, failed: number }>
  faults: Record<FaultKind, number>
  faultLog: FaultRecord[]
  proxy: ProxyStats & { directConnections: number }
  /** Seconds the swarm took to settle after the faults stopped, and whether it did within the bound. */
  settle: { seconds: number, converged: boolean }
  checked: CheckCounts
  /** What the nodes logged at warn and error level, counted by node and message. */
  logs: { errors: Record<string, number>, warnings: Record<string, number> }
  /** Worth knowing, not broken: e.g. a blob with a copy more than wanted (a documented limit). */
  notes: string[]
  violations: Violation[]
  /** Set when the tool itself failed (not the swarm): the run proves nothing. */
  error?: string
}

export function emptyReport (seed: string, nodes: number, minutes: number): ChaosReport {
  return {
    seed,
    nodes,
    minutes,
    peers: [],
    startedAt: new Date().toISOString(),
    seconds: 0,
    operations: Object.fromEntries(OPERATION_KINDS.map(kind => [kind, { ok: 0, failed: 0 }])) as ChaosReport['operations'],
    faults: Object.fromEntries(FAULT_KINDS.map(kind => [kind, 0])) as ChaosReport['faults'],
    faultLog: [],
    proxy: { connections: 0, identified: 0, bytes: 0, droppedBytes: 0, resets: 0, directConnections: 0 },
    settle: { seconds: 0, converged: false },
    checked: { objects: 0, deletedKeys: 0, blobs: 0, releasedBlobs: 0, deletedStatuses: 0, privateBlobs: 0, strangerProbes: 0, gatewayProbes: 0, nodesCollected: 0 },
    logs: { errors: {}, warnings: {} },
    notes: [],
    violations: []
  }
}

const MAX_LISTED = 50

/** The readable summary printed without --json. */
export function formatReport (report: ChaosReport): string {
  const lines: string[] = []
  lines.push(`chaos: seed ${report.seed}, ${report.nodes} nodes, ${report.minutes} min of faults (${report.seconds} s in all)`)
  if (report.peers.length > 0) lines.push(`peers: ${report.peers.map((peer, index) => `node ${index} ${peer}`).join(', ')}`)
  if (report.error != null) lines.push(`TOOL ERROR: ${report.error}`)
  lines.push('', 'operations          ok  failed')
  for (const [kind, counts] of Object.entries(report.operations)) lines.push(`  ${kind.padEnd(14)} ${String(counts.ok).padStart(6)}  ${String(counts.failed).padStart(6)}`)
  lines.push('', `faults: ${Object.entries(report.faults).map(([kind, count]) => `${kind} ${count}`).join(', ')}`)
  const mb = (bytes: number): string => bytes < 1024 * 1024 ? `${(bytes / 1024).toFixed(1)} KB` : `${(bytes / 1024 / 1024).toFixed(1)} MB`
  lines.push(`link proxy: ${report.proxy.connections} connections (${report.proxy.identified} from known nodes), ${mb(report.proxy.bytes)} through, ${mb(report.proxy.droppedBytes)} dropped, ${report.proxy.resets} reset; direct connections seen: ${report.proxy.directConnections}`)
  lines.push(`settled in ${report.settle.seconds} s${report.settle.converged ? '' : ' (NOT within the bound)'}`)
  const c = report.checked
  lines.push(`checked: ${c.objects} objects, ${c.deletedKeys} deleted keys, ${c.blobs} blobs' copies, ${c.releasedBlobs} released blobs, ${c.deletedStatuses} deleted statuses, ${c.privateBlobs} private blobs (${c.strangerProbes} stranger fetches, ${c.gatewayProbes} gateway reads), gc and verify on ${c.nodesCollected} nodes`)
  for (const note of report.notes) lines.push(`note: ${note}`)
  for (const [level, counts] of Object.entries(report.logs)) {
    const top = Object.entries(counts).sort((a, b) => b[1] - a[1]).slice(0, 8)
    if (top.length > 0) lines.push(`logged ${level}: ${top.map(([message, count]) => `${message} ×${count}`).join('; ')}`)
  }
  lines.push('', `violations: ${report.violations.length}`)
  for (const violation of report.violations.slice(0, MAX_LISTED)) {
    const where = [violation.node != null ? `node ${violation.node}` : '', violation.tenant ?? '', violation.key ?? '', violation.cid ?? ''].filter(part => part !== '').join(' ')
    lines.push(`  ${violation.kind}${where !== '' ? ` [${where}]` : ''}: ${violation.detail}`)
    if (violation.history != null) lines.push(`      ${violation.history}`)
  }
  if (report.violations.length > MAX_LISTED) lines.push(`  … and ${report.violations.length - MAX_LISTED} more (--json lists all)`)
  return lines.join('\n')
}
