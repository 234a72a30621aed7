/**
 * The seeded workload: one client per tenant, each doing one operation at a
 * time against its tenant's home node (S3 puts, overwrites, multipart
 * uploads, gets, deletes, public alias reads, retrieves by URL naming an
 * actor and a status), plus reads on other nodes (gateway reads of public
 * blobs, probes of private ones) and the actors' signed Deletes of their
 * statuses. Every answer is checked against the model as it comes: a wrong
 * byte, a lost acknowledged object or a private blob served is a violation
 * on the spot; a request that failed is only counted.
 */
import { setTimeout as sleep } from 'node:timers/promises'
import {
  CompleteMultipartUploadCommand, CreateMultipartUploadCommand, DeleteObjectCommand, GetObjectCommand,
  PutObjectCommand, S3Client, UploadPartCommand, AbortMultipartUploadCommand
} from '@aws-sdk/client-s3'
import { jpeg, png, sha256Hex } from '../helpers/bytes.ts'
import { retrieve } from '../helpers/api.ts'
import type { Origin } from '../helpers/origin.ts'
import type { TestActor } from '../helpers/fediverse.ts'
import type { RetrieveResponse } from '../../protocol/retrieve-api.ts'
import type { Cluster } from './cluster.ts'
import { ABSENT, certainVersion, certainlyAbsent, originFile, story, versionOf } from './model.ts'
import type { KeyRecord, Model, Outcome, StatusRecord, TenantInfo, Version } from './model.ts'
import type { Random } from './random.ts'
import type { ChaosReport, OperationKind, Violation } from './report.ts'

const KiB = 1024
const MiB = 1024 * KiB
/** Live keys per tenant above which deletes are favoured, so the data on disk stays bounded. */
const LIVE_KEYS = 60
const OPEN_STATUSES = 3
const REQUEST_TIMEOUT_MS = 12_000
const MULTIPART_TIMEOUT_MS = 30_000

/** What a tenant's client does (the stranger's probes run on their own). */
type ClientOperation = Exclude<OperationKind, 'stranger-probe'>

const WEIGHTS: Readonly<Record<ClientOperation, number>> = {
  put: 26,
  overwrite: 5,
  multipart: 1,
  get: 18,
  delete: 12,
  'alias-get': 6,
  'gateway-get': 8,
  'private-probe': 3,
  retrieve: 14,
  'ap-delete': 4
}

export interface WorkloadContext {
  cluster: Cluster
  model: Model
  report: ChaosReport
  origin: Origin
  actors: TestActor[]
  violation: (violation: Violation) => void
  /** Told of every private blob just acknowledged (the stranger tries it at once). */
  privateWritten: (cid: string) => void
}

interface Failure {
  status: number | undefined
  /** The request was refused before it changed anything (a 4xx, or 507). */
  definitive: boolean
  message: string
}

function failureOf (err: unknown): Failure {
  const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode
  return {
    status,
    definitive: status != null && ((status >= 400 && status < 500) || status === 507),
    message: `${(err as Error).name}: ${(err as Error).message}`.slice(0, 200)
  }
}

const timeout = (ms = REQUEST_TIMEOUT_MS): { abortSignal: AbortSignal } => ({ abortSignal: AbortSignal.timeout(ms) })

/** GET with a deadline; the body read whole, or an error (a cut stream is an error, not bytes). */
async function httpGet (url: string, ms = REQUEST_TIMEOUT_MS): Promise<{ status: number, body: Buffer }> {
  const response = await fetch(url, { signal: AbortSignal.timeout(ms), redirect: 'manual' })
  return { status: response.status, body: Buffer.from(await response.arrayBuffer()) }
}

/** A tenant's S3 client on a node: one attempt (a failure is an outcome to record, not to retry), no SDK checksums (DESIGN.md). */
export function tenantClient (endpoint: string, tenant: Pick<TenantInfo, 'accessKeyId' | 'secretAccessKey'>): S3Client {
  return new S3Client({
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey },
    maxAttempts: 1,
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED'
  })
}

export class Workload {
  private readonly context: WorkloadContext
  private readonly rng: Random
  private readonly clients = new Map<TenantInfo, S3Client>()
  private statusCount = 0
  /** The last private blobs written: probed more often, while their replication may be under way. */
  private readonly recentPrivate: string[] = []
  private writes = 0

  constructor (context: WorkloadContext, rng: Random) {
    this.context = context
    this.rng = rng
    for (const tenant of context.model.tenants) {
      this.clients.set(tenant, tenantClient(context.cluster.nodes[tenant.home]!.http, tenant))
    }
  }

  /** One client per tenant until `deadline` (each operation bounded in time, so this ends soon after). */
  async run (deadline: number): Promise<void> {
    await Promise.all(this.context.model.tenants.map(async (tenant) => {
      const rng = this.rng.fork(`tenant-${tenant.index}`)
      while (Date.now() < deadline) {
        const kind = this.choose(tenant, rng)
        const ok = await this.perform(kind, tenant, rng)
        this.context.report.operations[kind][ok ? 'ok' : 'failed']++
        await sleep(rng.int(100, 400))
      }
    }))
  }

  close (): void {
    for (const client of this.clients.values()) client.destroy()
  }

  private choose (tenant: TenantInfo, rng: Random): ClientOperation {
    const live = this.context.model.liveKeys(tenant).length
    if (live === 0) return 'put'
    const weights = { ...WEIGHTS }
    if (live > LIVE_KEYS) { weights.put = 4; weights.multipart = 0; weights.delete = 30 }
    return rng.weighted(weights)
  }

  private async perform (kind: ClientOperation, tenant: TenantInfo, rng: Random): Promise<boolean> {
    try {
      switch (kind) {
        case 'put': return await this.put(tenant, rng)
        case 'overwrite': return await this.overwrite(tenant, rng)
        case 'multipart': return await this.multipart(tenant, rng)
        case 'get': return await this.get(tenant, rng)
        case 'delete': return await this.remove(tenant, rng)
        case 'alias-get': return await this.aliasGet(tenant, rng)
        case 'gateway-get': return await this.gatewayGet(tenant, rng)
        case 'private-probe': return await this.privateProbe(rng)
        case 'retrieve': return await this.retrieve(tenant, rng)
        case 'ap-delete': return await this.apDelete(rng)
      }
    } catch {
      // a request that failed in transport (node down, paused, reset): counted, never a violation
      return false
    }
  }

  private body (rng: Random, size: number): { bytes: Buffer, contentType: string } {
    const label = `${this.rng.seed}/${this.writes++}`
    return rng.chance(0.7) ? { bytes: jpeg(size, label), contentType: 'image/jpeg' } : { bytes: png(size, label), contentType: 'image/png' }
  }

  private size (rng: Random): number {
    const roll = rng.next()
    if (roll < 0.7) return rng.int(2 * KiB, 64 * KiB)
    if (roll < 0.95) return rng.int(64 * KiB, 900 * KiB)
    return rng.int(MiB + 1, 2.5 * MiB)
  }

  /** PutObject of a new version of `record`; the model follows the answer. */
  private async write (tenant: TenantInfo, record: KeyRecord, rng: Random): Promise<boolean> {
    const { bytes, contentType } = this.body(rng, this.size(rng))
    const isPublic = rng.chance(0.65)
    const version = await versionOf(bytes, isPublic)
    try {
      await this.clients.get(tenant)!.send(new PutObjectCommand({
        Bucket: tenant.name, Key: record.key, Body: bytes, ContentType: contentType, ...(isPublic ? { ACL: 'public-read' } : {})
      }), timeout())
    } catch (err) {
      if (!failureOf(err).definitive) this.context.model.unknown(record, version)
      return false
    }
    this.acknowledged(record, version)
    return true
  }

  private acknowledged (record: KeyRecord, version: Version): void {
    this.context.model.acknowledge(record, version)
    if (!version.public) {
      this.recentPrivate.push(version.cid)
      if (this.recentPrivate.length > 10) this.recentPrivate.shift()
      this.context.privateWritten(version.cid)
    }
  }

  private async put (tenant: TenantInfo, rng: Random): Promise<boolean> {
    const record = this.context.model.record(tenant, `media/${this.writes}-${rng.int(0, 1e6)}.img`, 's3')
    return await this.write(tenant, record, rng)
  }

  private async overwrite (tenant: TenantInfo, rng: Random): Promise<boolean> {
    return await this.write(tenant, rng.pick(this.context.model.liveKeys(tenant)), rng)
  }

  /** Two parts: 5 MiB (S3's minimum for all but the last) and a small one. */
  private async multipart (tenant: TenantInfo, rng: Random): Promise<boolean> {
    const s3 = this.clients.get(tenant)!
    const record = this.context.model.record(tenant, `uploads/${this.writes}-${rng.int(0, 1e6)}.img`, 's3')
    const first = 5 * MiB
    const { bytes, contentType } = this.body(rng, first + rng.int(KiB, 512 * KiB))
    const isPublic = rng.chance(0.5)
    const version = await versionOf(bytes, isPublic)
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: tenant.name, Key: record.key, ContentType: contentType, ...(isPublic ? { ACL: 'public-read' } : {}) }), timeout())
    const uploadId = created.UploadId!
    const parts: Array<{ PartNumber: number, ETag: string }> = []
    try {
      for (const [index, part] of [bytes.subarray(0, first), bytes.subarray(first)].entries()) {
        const answer = await s3.send(new UploadPartCommand({ Bucket: tenant.name, Key: record.key, UploadId: uploadId, PartNumber: index + 1, Body: part }), timeout(MULTIPART_TIMEOUT_MS))
        parts.push({ PartNumber: index + 1, ETag: answer.ETag! })
      }
    } catch (err) {
      await s3.send(new AbortMultipartUploadCommand({ Bucket: tenant.name, Key: record.key, UploadId: uploadId }), timeout()).catch(() => {})
      throw err
    }
    try {
      await s3.send(new CompleteMultipartUploadCommand({ Bucket: tenant.name, Key: record.key, UploadId: uploadId, MultipartUpload: { Parts: parts } }), timeout(MULTIPART_TIMEOUT_MS))
    } catch (err) {
      if (!failureOf(err).definitive) this.context.model.unknown(record, version)
      return false
    }
    this.acknowledged(record, version)
    return true
  }

  private async get (tenant: TenantInfo, rng: Random): Promise<boolean> {
    const keys = this.context.model.s3Keys(tenant)
    const record = rng.pick(keys)
    let answer: Outcome
    try {
      const response = await this.clients.get(tenant)!.send(new GetObjectCommand({ Bucket: tenant.name, Key: record.key }), timeout())
      const bytes = Buffer.from(await response.Body!.transformToByteArray())
      const sha256 = sha256Hex(bytes)
      answer = record.history.find(version => version.sha256 === sha256) ?? { sha256, cid: '?', size: bytes.length, public: false }
    } catch (err) {
      if (failureOf(err).status !== 404) return false
      answer = ABSENT
    }
    this.judgeRead(record, answer, 'S3 GetObject on the home node')
    return true
  }

  /** A read's answer must be one of the outcomes the key may have. */
  judgeRead (record: KeyRecord, answer: Outcome, how: string): void {
    if (record.possible.some(possible => possible === ABSENT ? answer === ABSENT : answer !== ABSENT && possible.sha256 === answer.sha256)) return
    const expected = record.possible.map(possible => possible === ABSENT ? 'absent' : possible.cid).join(' or ')
    const kind = answer === ABSENT ? 'acknowledged-object-missing' : certainlyAbsent(record) ? 'deleted-object-readable' : 'object-wrong-bytes'
    this.context.violation({
      kind,
      detail: `${how} answered ${answer === ABSENT ? '404' : `bytes with SHA-256 ${answer.sha256}`}, expected ${expected}`,
      node: record.tenant.home,
      tenant: record.tenant.name,
      key: record.key,
      history: story(record)
    })
  }

  private async remove (tenant: TenantInfo, rng: Random): Promise<boolean> {
    const record = rng.pick(this.context.model.liveKeys(tenant))
    try {
      await this.clients.get(tenant)!.send(new DeleteObjectCommand({ Bucket: tenant.name, Key: record.key }), timeout())
    } catch (err) {
      if (!failureOf(err).definitive) this.context.model.unknown(record, ABSENT)
      return false
    }
    this.context.model.acknowledge(record, ABSENT)
    return true
  }

  /** Unauthenticated GET /{bucket}/{key}: public objects are served, private and deleted ones never. */
  private async aliasGet (tenant: TenantInfo, rng: Random): Promise<boolean> {
    const certain = this.context.model.s3Keys(tenant).filter(record => record.possible.length === 1)
    if (certain.length === 0) return true
    const record = rng.pick(certain)
    const version = certainVersion(record)
    const answer = await httpGet(`${this.context.cluster.nodes[tenant.home]!.http}/${tenant.name}/${record.key}`)
    if (answer.status === 200) {
      const sha256 = sha256Hex(answer.body)
      if (version == null) this.context.violation({ kind: 'deleted-object-readable', detail: `the public alias path of a deleted key answered 200 (SHA-256 ${sha256})`, node: tenant.home, tenant: tenant.name, key: record.key })
      else if (!version.public) this.context.violation({ kind: 'private-object-public', detail: 'the public alias path of a private object answered 200', node: tenant.home, tenant: tenant.name, key: record.key, cid: version.cid })
      else if (sha256 !== version.sha256) this.context.violation({ kind: 'object-wrong-bytes', detail: `the alias path answered SHA-256 ${sha256}, expected ${version.sha256}`, node: tenant.home, tenant: tenant.name, key: record.key })
      return true
    }
    if (version != null && version.public) return false
    return [403, 404, 410].includes(answer.status)
  }

  /** GET /ipfs/{cid} of a public blob on a node other than its home: fetched through the swarm, byte-identical or not at all. */
  private async gatewayGet (tenant: TenantInfo, rng: Random): Promise<boolean> {
    const live = this.context.model.liveKeys(tenant).map(record => certainVersion(record)!).filter(version => version.public)
    if (live.length === 0) return true
    const version = rng.pick(live)
    const others = this.context.cluster.nodes.filter(node => node.index !== tenant.home)
    const node = rng.pick(others)
    const answer = await httpGet(`${node.http}/ipfs/${version.cid}`, 20_000)
    if (answer.status !== 200) return false
    const sha256 = sha256Hex(answer.body)
    if (sha256 !== version.sha256) this.context.violation({ kind: 'gateway-wrong-bytes', detail: `GET /ipfs/${version.cid} answered 200 with SHA-256 ${sha256}, expected ${version.sha256}`, node: node.index, cid: version.cid })
    return true
  }

  /** GET /ipfs/{cid} of a private blob, on any node: never served. */
  private async privateProbe (rng: Random): Promise<boolean> {
    const cids = rng.chance(0.5) && this.recentPrivate.length > 0 ? this.recentPrivate : [...this.context.model.privateBlobs.keys()]
    if (cids.length === 0) return true
    const cid = rng.pick(cids)
    const node = rng.pick(this.context.cluster.nodes)
    const answer = await httpGet(`${node.http}/ipfs/${cid}`, 20_000)
    if (answer.status >= 200 && answer.status < 400) {
      this.context.violation({ kind: 'private-blob-served', detail: `the public gateway answered ${answer.status} for a private blob`, node: node.index, cid })
    }
    return answer.status === 404 || answer.status === 410
  }

  private async openStatus (rng: Random): Promise<StatusRecord> {
    const open = this.context.model.statuses.filter(status => status.state === 'open')
    if (open.length >= OPEN_STATUSES) return rng.pick(open)
    const n = this.statusCount++
    const actor = rng.pick(this.context.actors)
    const files = []
    for (let i = 0, count = rng.int(1, 3); i < count; i++) {
      const path = `/media/${this.rng.seed}/s${n}/${i}.${rng.chance(0.5) ? 'png' : 'jpg'}`
      const size = rng.int(3 * KiB, 300 * KiB)
      const body = path.endsWith('.png') ? png(size, path) : jpeg(size, path)
      this.context.origin.route(path, { body, contentType: path.endsWith('.png') ? 'image/png' : 'image/jpeg' })
      files.push(await originFile(path, this.context.origin.url, body))
    }
    const status: StatusRecord = { id: actor.statusUri(`chaos-${n}`), actor, files, state: 'open', inflight: 0, retrieved: [], unknown: false, events: [] }
    this.context.model.statuses.push(status)
    return status
  }

  /** POST /api/v1/retrieve of an attachment of an open status, with the actor and status, sometimes a key and the digest. */
  private async retrieve (tenant: TenantInfo, rng: Random): Promise<boolean> {
    const status = await this.openStatus(rng)
    const file = rng.pick(status.files)
    const key = rng.chance(0.4) ? `statuses/${status.id.split('/').pop()}/${status.files.indexOf(file)}` : undefined
    const record = key != null ? this.context.model.record(tenant, key, 'retrieve', status) : undefined
    const version: Version = { sha256: file.sha256, cid: file.cid, size: file.body.length, public: true }
    status.inflight++
    try {
      const answer = await retrieve(this.context.cluster.nodes[tenant.home]!.http, tenant, {
        url: file.url,
        actor: status.actor.id,
        status: status.id,
        ...(key != null ? { key } : {}),
        ...(rng.chance(0.5) ? { digestMultibase: file.digestMultibase } : {})
      }, AbortSignal.timeout(20_000)).catch((err: unknown) => {
        status.unknown = true
        if (record != null) this.context.model.unknown(record, version)
        throw err
      })
      if (answer.status !== 200) {
        if (answer.status >= 500 && answer.status !== 507) {
          status.unknown = true
          if (record != null) this.context.model.unknown(record, version)
        }
        return false
      }
      const media = answer.json as RetrieveResponse
      if (media.cid !== file.cid || media.sha256 !== file.sha256) {
        this.context.violation({ kind: 'retrieve-wrong-media', detail: `retrieve of ${file.url} answered ${media.cid} (SHA-256 ${media.sha256}), expected ${file.cid}`, node: tenant.home, tenant: tenant.name, cid: file.cid })
      }
      if (record != null) this.context.model.acknowledge(record, version)
      status.retrieved.push({ tenant, file, ...(key != null ? { key } : {}) })
      status.events.push(`${this.context.model.elapsed()} s: ${file.cid} retrieved by ${tenant.name} on node ${tenant.home}${key != null ? ` as ${key}` : ''} (${media.source})`)
      return true
    } finally {
      status.inflight--
    }
  }

  /** The status's actor signs a Delete of it and delivers it to a node's inbox (any node: it forwards it to the others). */
  private async apDelete (rng: Random): Promise<boolean> {
    const ready = this.context.model.statuses.filter(status => (status.state === 'open' || status.state === 'delete-failed') && status.inflight === 0 && status.retrieved.length > 0)
    if (ready.length === 0) return true
    const status = rng.pick(ready)
    // no retrieve names it from now on
    status.state = 'closing'
    const node = rng.pick(this.context.cluster.nodes)
    const answer = await status.actor.deliver(`${node.http}/inbox`, status.actor.delete(status.id, { tombstone: rng.chance(0.5) }))
      .catch(() => ({ status: 0, body: '' }))
    status.events.push(`${this.context.model.elapsed()} s: Delete delivered to node ${node.index}: ${answer.status === 0 ? 'no answer' : answer.status}`)
    if (answer.status !== 202) {
      status.state = 'delete-failed'
      return false
    }
    status.state = 'deleted'
    return true
  }
}
