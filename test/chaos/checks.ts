/**
 * The guarantees checked once the faults have stopped.
 *
 * Converging (polled until they hold or the settle bound passes): every
 * live blob on its tenant's `replicas` nodes; no copy left of a blob whose
 * last reference was deleted (releases retried); no node holding the media
 * of a status its actor deleted (Deletes forwarded); nothing pending in any
 * node's replication counters.
 *
 * Final (once): every acknowledged object byte-identical from its home node
 * over S3, every deleted key 404 there and 404/410 on its public alias path;
 * private blobs never served by a gateway (404 on the nodes that hold them)
 * and never to a stranger in the swarm; `fdn gc` then `fdn verify` clean on
 * every node, with the block files on disk exactly what the index counts.
 */
import { GetObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { sha256Hex } from '../helpers/bytes.ts'
import { blockFiles, runCli } from '../helpers/daemon.ts'
import type { BlobView, GcResponse, VerifyResponse } from '../../protocol/admin-api.ts'
import type { Cluster } from './cluster.ts'
import { ABSENT, certainVersion, story } from './model.ts'
import type { KeyRecord, Model, Outcome, StatusRecord, Version } from './model.ts'
import type { Random } from './random.ts'
import type { ChaosReport, Violation } from './report.ts'
import type { Stranger } from './stranger.ts'

export interface CheckContext {
  cluster: Cluster
  model: Model
  report: ChaosReport
  rng: Random
  log: (line: string) => void
}

/** Runs `fn` over `items`, at most `limit` at a time. */
export async function mapLimit<T, R> (items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length)
  let next = 0
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++
      out[index] = await fn(items[index]!)
    }
  }))
  return out
}

/** What each node holds of each blob (undefined: nothing). */
type Views = Map<string, Array<BlobView | undefined>>

async function blobViews (cluster: Cluster, cids: readonly string[]): Promise<Views> {
  const views: Views = new Map(cids.map(cid => [cid, new Array<BlobView | undefined>(cluster.nodes.length)]))
  const jobs = cids.flatMap(cid => cluster.nodes.map(node => ({ cid, node: node.index })))
  await mapLimit(jobs, 8, async ({ cid, node }) => {
    const response = await cluster.admin(node, `/admin/v1/blobs/${cid}`)
    if (response.status === 404) { await response.arrayBuffer(); return }
    if (!response.ok) throw new Error(`GET /admin/v1/blobs/${cid} on node ${node}: ${response.status}`)
    views.get(cid)![node] = await response.json() as BlobView
  })
  return views
}

/** A deleted status whose outcome is known: its media must be gone everywhere. */
const deletedStatus = (status: StatusRecord | undefined): boolean => status?.state === 'deleted' && !status.unknown

/** The outcomes a key may have at the end: a retrieve key of a deleted status must be gone. */
function expectedOutcomes (record: KeyRecord): Outcome[] | undefined {
  if (record.source === 'retrieve') {
    if (record.status?.unknown === true || record.status?.state === 'closing' || record.status?.state === 'delete-failed') return undefined
    if (deletedStatus(record.status)) return [ABSENT]
  }
  return record.possible
}

const refsText = (view: BlobView): string => view.refs.map(ref => `${ref.kind}:${ref.holder.slice(0, 16)}`).join(', ')

/** The converging guarantees; empty once the swarm has settled. */
export async function convergence (context: CheckContext): Promise<Violation[]> {
  const { cluster, model } = context
  const violations: Violation[] = []
  const live: Array<{ record: KeyRecord, version: Version }> = []
  const gone: Array<{ record: KeyRecord, version: Version }> = []
  for (const record of model.keys.values()) {
    const expected = expectedOutcomes(record)
    if (expected == null) continue
    const version = expected.length === 1 && expected[0] !== ABSENT ? expected[0] : undefined
    if (version != null) live.push({ record, version })
    // a version the key can no longer have: its blob is this key's alone (bodies are unique), so it must be released
    if (record.source === 's3') for (const old of record.history) if (!expected.some(outcome => outcome !== ABSENT && outcome.cid === old.cid)) gone.push({ record, version: old })
  }
  const statuses = model.statuses.filter(status => deletedStatus(status))
  const cids = [...new Set([...live, ...gone].map(entry => entry.version.cid).concat(statuses.flatMap(status => status.files.map(file => file.cid))))]
  const views = await blobViews(cluster, cids)
  const peerIds = cluster.nodes.map(node => node.peerId)

  for (const { record, version } of live) {
    const home = record.tenant.home
    const nodes = views.get(version.cid)!
    const holders = nodes.flatMap((view, index) => view != null && (index === home || view.refs.some(ref => ref.kind === 'replica' && ref.holder === peerIds[home])) ? [index] : [])
    const want = Math.min(record.tenant.replicas, cluster.nodes.length)
    if (holders.length < want) {
      violations.push({ kind: 'under-replicated', detail: `held by ${holders.length} of the ${want} nodes wanted (nodes ${holders.join(', ') || 'none'})`, node: home, tenant: record.tenant.name, key: record.key, cid: version.cid, history: story(record) })
    }
  }
  for (const { record, version } of gone) {
    const home = record.tenant.home
    views.get(version.cid)!.forEach((view, index) => {
      if (view == null) return
      const kept = index === home ? view.refs.filter(ref => ref.kind !== 'cache') : view.refs.filter(ref => ref.kind === 'replica' && ref.holder === peerIds[home])
      if (kept.length > 0) violations.push({ kind: 'deleted-blob-kept', detail: `a blob whose last reference was deleted is still held (${refsText(view)})`, node: index, tenant: record.tenant.name, key: record.key, cid: version.cid, history: story(record) })
    })
  }
  for (const status of statuses) {
    for (const file of status.files) {
      views.get(file.cid)!.forEach((view, index) => {
        if (view != null) violations.push({ kind: 'deleted-media-kept', detail: `media of ${status.id}, deleted by its actor, is still held (${refsText(view)})`, node: index, cid: file.cid, history: status.events.join('; ') })
      })
    }
  }
  await Promise.all(cluster.nodes.map(async (node) => {
    const status = await cluster.status(node.index)
    const { pending } = status.replication
    const short = status.replication['under-replicated']
    if (pending > 0 || short > 0) violations.push({ kind: 'replication-incomplete', detail: `fdn status counts ${short} under-replicated and ${pending} pending blobs`, node: node.index })
  }))
  context.report.checked.blobs = live.length
  context.report.checked.releasedBlobs = gone.length
  context.report.checked.deletedStatuses = statuses.length
  return violations
}

/** Extra copies are a documented limit (a holder replaced while away comes back), not a violation: counted in notes. */
export async function overReplicated (context: CheckContext): Promise<number> {
  const { cluster, model } = context
  const live = [...model.keys.values()].flatMap((record) => {
    const version = certainVersion(record)
    return version != null && record.source === 's3' ? [{ record, version }] : []
  })
  const views = await blobViews(cluster, live.map(entry => entry.version.cid))
  return live.filter(({ record, version }) => {
    const home = cluster.nodes[record.tenant.home]!.peerId
    const holders = views.get(version.cid)!.filter((view, index) => view != null && (index === record.tenant.home || view.refs.some(ref => ref.kind === 'replica' && ref.holder === home))).length
    return holders > record.tenant.replicas
  }).length
}

async function httpStatus (url: string, timeoutMs: number): Promise<{ status: number, body: Buffer }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: 'manual' })
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) }
}

/** Every key read from its home node (S3 and the public alias path). */
export async function checkObjects (context: CheckContext, clients: Map<number, S3Client>): Promise<Violation[]> {
  const { cluster, model, report } = context
  const violations: Violation[] = []
  const records = [...model.keys.values()]
  await mapLimit(records, 6, async (record) => {
    const expected = expectedOutcomes(record)
    if (expected == null) return
    const { tenant } = record
    const where = { node: tenant.home, tenant: tenant.name, key: record.key, history: story(record) }
    let answer: Outcome
    try {
      const response = await clients.get(tenant.index)!.send(new GetObjectCommand({ Bucket: tenant.name, Key: record.key }), { abortSignal: AbortSignal.timeout(30_000) })
      const bytes = Buffer.from(await response.Body!.transformToByteArray())
      answer = { sha256: sha256Hex(bytes), cid: '', size: bytes.length, public: false }
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
      if (status !== 404) {
        violations.push({ kind: 'object-unreadable', detail: `S3 GetObject on the home node failed after the swarm settled: ${(err as Error).name} ${status ?? ''}`, ...where })
        return
      }
      answer = ABSENT
    }
    const matches = expected.some(outcome => outcome === ABSENT ? answer === ABSENT : answer !== ABSENT && outcome.sha256 === answer.sha256)
    if (!matches) {
      const wanted = expected.map(outcome => outcome === ABSENT ? 'absent' : outcome.cid).join(' or ')
      const kind = answer === ABSENT ? 'acknowledged-object-missing' : expected.every(outcome => outcome === ABSENT) ? 'deleted-object-readable' : 'object-wrong-bytes'
      violations.push({ kind, detail: `S3 GetObject answered ${answer === ABSENT ? '404' : `SHA-256 ${answer.sha256}`}, expected ${wanted}`, ...where })
    }
    if (expected.length !== 1) return
    const only = expected[0]!
    if (only === ABSENT) report.checked.deletedKeys++
    else report.checked.objects++
    // the public alias path: public objects served, private and deleted ones never
    const alias = await httpStatus(`${cluster.nodes[tenant.home]!.http}/${tenant.name}/${record.key}`, 30_000).catch(() => undefined)
    if (alias == null) {
      violations.push({ kind: 'object-unreadable', detail: 'the alias path did not answer', ...where })
    } else if (only === ABSENT) {
      // S3 answers an anonymous read of a missing key 403 (it does not say what exists); deleted media of a status, 410
      if (alias.status < 400) violations.push({ kind: 'deleted-object-readable', detail: `the alias path of a deleted key answered ${alias.status}`, ...where })
    } else if (only.public) {
      if (alias.status !== 200 || sha256Hex(alias.body) !== only.sha256) violations.push({ kind: 'public-object-unreadable', detail: `the alias path answered ${alias.status}${alias.status === 200 ? ' with other bytes' : ''}`, ...where })
    } else if (alias.status < 400) {
      violations.push({ kind: 'private-object-public', detail: `the alias path of a private object answered ${alias.status}`, ...where })
    }
  })
  return violations
}

/**
 * Private blobs: the gateway of each node that holds one answers 404, a
 * sample of the others never serves it, and neither does a stranger's.
 */
export async function checkPrivacy (context: CheckContext, stranger: Stranger): Promise<Violation[]> {
  const { cluster, model, report, rng } = context
  const violations: Violation[] = []
  const cids = [...model.privateBlobs.keys()]
  report.checked.privateBlobs = cids.length
  const views = await blobViews(cluster, cids)
  const elsewhere: Record<string, number> = {}
  const jobs: Array<{ cid: string, node: number, holds: boolean }> = []
  for (const cid of cids) {
    views.get(cid)!.forEach((view, node) => { if (view != null) jobs.push({ cid, node, holds: true }) })
  }
  for (const node of cluster.nodes) {
    const lacking = cids.filter(cid => views.get(cid)![node.index] == null)
    for (const cid of rng.shuffle(lacking).slice(0, 10)) jobs.push({ cid, node: node.index, holds: false })
  }
  await mapLimit(jobs, 8, async ({ cid, node, holds }) => {
    const answer = await httpStatus(`${cluster.nodes[node]!.http}/ipfs/${cid}`, 30_000).catch(() => ({ status: 0, body: Buffer.alloc(0) }))
    report.checked.gatewayProbes++
    if (answer.status >= 200 && answer.status < 400) {
      const view = await cluster.admin(node, `/admin/v1/blobs/${cid}`).then(async response => response.ok ? refsText(await response.json() as BlobView) : 'none', () => '?')
      const record = model.privateBlobs.get(cid)
      violations.push({ kind: 'private-blob-served', detail: `the public gateway answered ${answer.status} for a private blob (the node's references to it: ${view})`, node, cid, ...(record != null ? { history: story(record) } : {}) })
    }
    else if (holds && answer.status !== 404) violations.push({ kind: 'private-blob-status', detail: `the public gateway of a node holding a private blob answered ${answer.status}, not 404`, node, cid })
    else if (!holds) elsewhere[answer.status] = (elsewhere[answer.status] ?? 0) + 1
  })
  if (Object.keys(elsewhere).length > 0) context.report.notes.push(`gateway reads of private blobs on nodes that do not hold them answered ${Object.entries(elsewhere).map(([status, count]) => `${status} ×${count}`).join(', ')}`)
  // the stranger: every private blob, at most a few hundred (each failed fetch waits for its fetch timeout)
  await mapLimit(rng.shuffle(cids).slice(0, 300), 8, async (cid) => { await stranger.probe(cid) })
  return violations
}

/** `fdn gc`, then `fdn verify`, on every node; then the block files on disk must be what the index counts. */
export async function checkStores (context: CheckContext): Promise<Violation[]> {
  const { cluster, report } = context
  const violations: Violation[] = []
  let removed = 0
  for (const node of cluster.nodes) {
    const env = { FDN_DATA: node.dataDir }
    const gc = await runCli(['gc', '--json'], env, undefined, { timeoutMs: 120_000 })
    if (gc.code !== 0) {
      violations.push({ kind: 'gc-failed', detail: `fdn gc exited ${gc.code}: ${gc.stderr.slice(0, 300)}`, node: node.index })
      continue
    }
    removed += (JSON.parse(gc.stdout) as GcResponse).blocksRemoved
    const verify = await runCli(['verify', '--json'], env, undefined, { timeoutMs: 300_000 })
    if (verify.code !== 0 && verify.stdout.trim() === '') {
      violations.push({ kind: 'verify-failed', detail: `fdn verify exited ${verify.code}: ${verify.stderr.slice(0, 300)}`, node: node.index })
      continue
    }
    const result = JSON.parse(verify.stdout) as VerifyResponse
    for (const missing of result.missing.slice(0, 20)) violations.push({ kind: 'block-missing', detail: `fdn verify: block ${missing.block} of the blob is missing`, node: node.index, cid: missing.cid })
    for (const corrupt of result.corrupt.slice(0, 20)) violations.push({ kind: 'block-corrupt', detail: `fdn verify: block ${corrupt.block} of the blob does not match its CID`, node: node.index, cid: corrupt.cid })
    // background work (manifests, repair) may write between the two samples: compare a few times
    let last = ''
    for (let attempt = 0; attempt < 5; attempt++) {
      const disk = (await blockFiles(node.dataDir)).bytes
      const indexed = (await cluster.status(node.index)).physicalBytes
      if (disk === indexed) { last = ''; break }
      last = `${disk} bytes of block files on disk, the index counts ${indexed}`
      await new Promise(resolve => setTimeout(resolve, 2000))
    }
    if (last !== '') violations.push({ kind: 'orphan-blocks', detail: `after fdn gc: ${last}`, node: node.index })
    report.checked.nodesCollected++
  }
  report.notes.push(`fdn gc removed ${removed} unreferenced blocks in all (left by killed writes)`)
  return violations
}
