import { randomBytes } from 'node:crypto'
import { FdnError } from '../../protocol/errors.ts'
import { parseTenantName } from '../../protocol/names.ts'
import type { TenantName } from '../../protocol/names.ts'
import type { MediaStore } from '../store/media-store.ts'
import type { TenantInfo, TenantRecord } from '../objects/types.ts'
import { SecretBox } from './secret-box.ts'

/** Names a tenant may not take: the public listener's own first path segments. */
const RESERVED = new Set(['ipfs', 'ipns', 'api', 'admin', 'healthz', 'readyz', 'metrics', 'actor', 'inbox', 'outbox', 'nodeinfo', 'webfinger', 'static', 'assets'])

export interface NewTenant {
  name: string
  quota?: number | null
  replicas?: number
}

export interface CreatedTenant {
  tenant: TenantInfo
  /** Shown once, at creation; stored only sealed. */
  secretAccessKey: string
}

const ACCESS_KEY_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'

/** Tenants: the instances that use this node, each with one bucket and one S3 key pair. */
export class TenantRegistry {
  private readonly store: MediaStore
  private readonly box: SecretBox
  private readonly defaultReplicas: number
  private readonly secrets = new Map<string, string>()

  constructor (store: MediaStore, identityKey: Uint8Array, defaultReplicas: number) {
    this.store = store
    this.box = new SecretBox(identityKey)
    this.defaultReplicas = defaultReplicas
  }

  async create (input: NewTenant): Promise<CreatedTenant> {
    const name = parseTenantName(input.name)
    if (RESERVED.has(name)) throw new FdnError('invalid_request', `'${name}' is reserved for the node's own routes; pick another tenant name`)
    const replicas = input.replicas ?? this.defaultReplicas
    checkReplicas(replicas)
    checkQuota(input.quota ?? null)
    const accessKeyId = `FDN${randomString(17)}`
    const secretAccessKey = randomBytes(30).toString('base64').replace(/[+/]/g, c => (c === '+' ? 'A' : 'B'))
    const record: TenantRecord = {
      name,
      accessKeyId,
      secret: this.box.seal(secretAccessKey),
      quota: input.quota ?? null,
      replicas,
      created: new Date().toISOString(),
      objects: 0,
      logicalBytes: 0
    }
    await this.store.transact(async tx => {
      if (await tx.get('tenant', name) != null) throw new FdnError('conflict', `tenant '${name}' exists already`)
      tx.put('tenant', name, record)
      tx.put('akey', accessKeyId, name)
    })
    return { tenant: info(record), secretAccessKey }
  }

  /**
   * Puts back a tenant from a recovered manifest, with its access key and
   * sealed secret (sealed under this node's identity, which a recovery
   * keeps); its counts start at zero and grow as its objects come back. A
   * tenant that exists already is kept.
   */
  async restore (record: TenantRecord): Promise<void> {
    const name = parseTenantName(record.name)
    await this.store.transact(async tx => {
      if (await tx.get('tenant', name) != null) return
      if (await tx.get('akey', record.accessKeyId) != null) throw new FdnError('conflict', `access key ${record.accessKeyId} belongs to another tenant`)
      this.box.open(record.secret)
      tx.put('tenant', name, { ...record, name, objects: 0, logicalBytes: 0 })
      tx.put('akey', record.accessKeyId, name)
    })
  }

  async get (name: TenantName): Promise<TenantInfo | undefined> {
    const record = await this.store.db.get('tenant', name)
    return record == null ? undefined : info(record)
  }

  async require (name: string): Promise<TenantInfo> {
    const tenant = await this.get(name as TenantName)
    if (tenant == null) throw new FdnError('not_found', `no tenant named '${name}'`)
    return tenant
  }

  async list (): Promise<TenantInfo[]> {
    const tenants: TenantInfo[] = []
    for await (const [, record] of this.store.db.entries('tenant')) tenants.push(info(record))
    return tenants
  }

  /**
   * The tenant owning an access key, with its plain secret: what SigV4
   * verification needs on every S3 request. Opened secrets are kept in memory
   * (keyed by access key), the tenant record is read fresh for quota and counts.
   */
  async credentials (accessKeyId: string): Promise<{ tenant: TenantRecord, secret: string } | undefined> {
    const name = await this.store.db.get('akey', accessKeyId)
    const tenant = name == null ? undefined : await this.store.db.get('tenant', name)
    if (tenant == null) return undefined
    let secret = this.secrets.get(accessKeyId)
    if (secret == null) {
      secret = this.box.open(tenant.secret)
      this.secrets.set(accessKeyId, secret)
    }
    return { tenant, secret }
  }

  async update (name: string, change: { quota?: number | null, replicas?: number }): Promise<TenantInfo> {
    if (change.replicas != null) checkReplicas(change.replicas)
    if (change.quota !== undefined) checkQuota(change.quota)
    return await this.store.transact(async tx => {
      const record = await tx.get('tenant', name)
      if (record == null) throw new FdnError('not_found', `no tenant named '${name}'`)
      const next = { ...record, ...(change.quota !== undefined ? { quota: change.quota } : {}), ...(change.replicas != null ? { replicas: change.replicas } : {}) }
      tx.put('tenant', name, next)
      return info(next)
    })
  }

  /** Removes a tenant; with objects left it refuses unless `purge`, which deletes them first. */
  async remove (name: string, options: { purge: boolean, deleteObjects: (tenant: TenantName) => Promise<number> }): Promise<{ objectsDeleted: number }> {
    const tenant = await this.require(name)
    let objectsDeleted = 0
    // media retrieved without a key counts in logicalBytes, not in objects
    if (tenant.objects > 0 || tenant.logicalBytes > 0) {
      if (!options.purge) throw new FdnError('conflict', `tenant '${name}' still holds ${tenant.objects} objects (${tenant.logicalBytes} bytes with its retrieved media): remove them first, or pass --purge to delete them`)
      objectsDeleted = await options.deleteObjects(tenant.name)
    }
    await this.store.transact(async tx => {
      const record = await tx.get('tenant', name)
      if (record == null) return
      if (record.objects > 0 || record.logicalBytes > 0) throw new FdnError('conflict', `tenant '${name}' received new objects or media while being removed; try again`)
      tx.del('tenant', name)
      tx.del('akey', record.accessKeyId)
    })
    this.secrets.delete(tenant.accessKeyId)
    return { objectsDeleted }
  }
}

function info (record: TenantRecord): TenantInfo {
  const { secret: _secret, ...rest } = record
  return rest
}

function checkReplicas (replicas: number): void {
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > 16) throw new FdnError('invalid_request', `replicas must be a whole number from 1 to 16, got ${replicas}`)
}

function checkQuota (quota: number | null): void {
  if (quota != null && (!Number.isSafeInteger(quota) || quota < 0)) throw new FdnError('invalid_request', `quota must be a byte count, got ${quota}`)
}

function randomString (length: number): string {
  const bytes = randomBytes(length)
  let out = ''
  for (const byte of bytes) out += ACCESS_KEY_ALPHABET[byte % 32]
  return out
}
