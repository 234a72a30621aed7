/**
 * What the swarm must hold, as far as the clients know: every key with the
 * outcomes a read may give, every private blob, every status with the media
 * retrieved for it. A write that was acknowledged makes its key certain; a
 * write or delete whose answer was lost (a killed or paused node, a timeout)
 * leaves either outcome possible, and the key is not written again (a paused
 * node may still apply the lost request later).
 */
import { importer } from 'ipfs-unixfs-importer'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { CHUNK_SIZE } from '../../protocol/cid-profile.ts'
import { digestMultibaseOf, rawCidOfSha256 } from '../../protocol/retrieve-api.ts'
import { sha256Hex } from '../helpers/bytes.ts'
import type { TestActor } from '../helpers/fediverse.ts'

export const ABSENT = 'absent'

/** One content a key may have. Bodies are unique per write, so a CID names one version of one key. */
export interface Version {
  sha256: string
  cid: string
  size: number
  public: boolean
}

export type Outcome = Version | typeof ABSENT

export interface TenantInfo {
  index: number
  name: string
  /** The node it was created on, which it writes to and reads from. */
  home: number
  replicas: number
  accessKeyId: string
  secretAccessKey: string
}

export interface KeyRecord {
  tenant: TenantInfo
  key: string
  /** `s3`: written with PutObject/multipart; `retrieve`: stored by a retrieve naming a key. */
  source: 's3' | 'retrieve'
  /** What a read may answer now: exactly one outcome while the key is certain. */
  possible: Outcome[]
  /** Every version written to it, acknowledged or not, oldest first. */
  history: Version[]
  /** What was done to it and how it ended, for the report's details. */
  events: string[]
  /** The owning status, for retrieve keys. */
  status?: StatusRecord
}

export interface OriginFile {
  path: string
  url: string
  body: Buffer
  sha256: string
  cid: string
  digestMultibase: string
}

export type StatusState = 'open' | 'closing' | 'deleted' | 'delete-failed'

export interface StatusRecord {
  id: string
  actor: TestActor
  files: OriginFile[]
  state: StatusState
  /** Retrieves naming it that are still running. */
  inflight: number
  /** Retrieves acknowledged (200), by tenant and key. */
  retrieved: Array<{ tenant: TenantInfo, key?: string, file: OriginFile }>
  /** A retrieve naming it whose outcome is unknown: what it left cannot be predicted. */
  unknown: boolean
  /** What was done with it and when, for the report's details. */
  events: string[]
}

/** A key's story, for a violation's details. */
export const story = (record: KeyRecord): string => `${record.tenant.name}/${record.key}: ${record.events.join('; ')}`
export const certainVersion = (record: KeyRecord): Version | undefined => {
  const only = record.possible.length === 1 ? record.possible[0] : undefined
  return only != null && only !== ABSENT ? only : undefined
}
export const certainlyAbsent = (record: KeyRecord): boolean => record.possible.length === 1 && record.possible[0] === ABSENT

/** fdn's CID of some bytes (unixfs-v1-2025: one raw block up to 1 MiB, else a balanced DAG of raw leaves). */
export async function cidOf (bytes: Uint8Array, sha256: string): Promise<string> {
  if (bytes.length <= CHUNK_SIZE) return rawCidOfSha256(sha256)
  let root: string | undefined
  for await (const entry of importer([{ content: (async function * () { yield bytes })() }], new MemoryBlockstore(), { profile: 'unixfs-v1-2025' })) root = entry.cid.toString()
  if (root == null) throw new Error('the importer yielded no root')
  return root
}

export async function versionOf (bytes: Buffer, isPublic: boolean): Promise<Version> {
  const sha256 = sha256Hex(bytes)
  return { sha256, cid: await cidOf(bytes, sha256), size: bytes.length, public: isPublic }
}

export async function originFile (path: string, baseUrl: string, body: Buffer): Promise<OriginFile> {
  const sha256 = sha256Hex(body)
  return { path, url: `${baseUrl}${path}`, body, sha256, cid: await cidOf(body, sha256), digestMultibase: digestMultibaseOf(sha256) }
}

export class Model {
  readonly tenants: TenantInfo[]
  readonly keys = new Map<string, KeyRecord>()
  readonly statuses: StatusRecord[] = []
  /** Every blob ever written privately, with the key that held it. */
  readonly privateBlobs = new Map<string, KeyRecord>()
  private readonly started = Date.now()

  constructor (tenants: TenantInfo[]) {
    this.tenants = tenants
  }

  record (tenant: TenantInfo, key: string, source: KeyRecord['source'], status?: StatusRecord): KeyRecord {
    const id = `${tenant.name}/${key}`
    let record = this.keys.get(id)
    if (record == null) {
      record = { tenant, key, source, possible: [ABSENT], history: [], events: [], ...(status != null ? { status } : {}) }
      this.keys.set(id, record)
    }
    return record
  }

  /** An acknowledged write. */
  acknowledge (record: KeyRecord, outcome: Outcome): void {
    record.possible = [outcome]
    this.remember(record, outcome, 'acknowledged')
  }

  /** A write or delete whose answer was lost: the old and the new outcome stay possible. */
  unknown (record: KeyRecord, outcome: Outcome): void {
    if (!record.possible.some(possible => same(possible, outcome))) record.possible = [...record.possible, outcome]
    this.remember(record, outcome, 'answer lost')
  }

  /** Seconds since the model was made: when things happened, to set beside the fault log. */
  elapsed (): number {
    return Math.round((Date.now() - this.started) / 1000)
  }

  s3Keys (tenant: TenantInfo): KeyRecord[] {
    return [...this.keys.values()].filter(record => record.tenant === tenant && record.source === 's3')
  }

  /** Keys a client may write again: certain, and holding a version. */
  liveKeys (tenant: TenantInfo): KeyRecord[] {
    return this.s3Keys(tenant).filter(record => certainVersion(record) != null)
  }

  /** Every version a key may hold or have held, with its key: the blobs the checks look at. */
  versions (): Array<{ record: KeyRecord, version: Version }> {
    const out: Array<{ record: KeyRecord, version: Version }> = []
    for (const record of this.keys.values()) {
      for (const version of record.history) out.push({ record, version })
    }
    return out
  }

  private remember (record: KeyRecord, outcome: Outcome, how: string): void {
    record.events.push(`${this.elapsed()} s: ${outcome === ABSENT ? 'delete' : `${outcome.public ? 'public' : 'private'} ${outcome.cid}`} ${how}`)
    if (outcome === ABSENT || record.history.some(version => version.cid === outcome.cid)) return
    record.history.push(outcome)
    if (!outcome.public) this.privateBlobs.set(outcome.cid, record)
  }
}

function same (a: Outcome, b: Outcome): boolean {
  return a === ABSENT || b === ABSENT ? a === b : a.cid === b.cid
}
