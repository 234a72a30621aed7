import { statfs } from 'node:fs/promises'
import { Level } from 'level'
import type { AbstractBatchOperation, AbstractSublevel } from 'abstract-level'
import { LRUCache } from 'lru-cache'
import type { Attestation, Signed } from '../../protocol/swarm-records.ts'
import { Mutex } from './mutex.ts'
import { EMPTY_STATS } from './records.ts'
import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { BlobRecord, GoneRecord, HeldRecord, ManifestPointer, MediaRecord, OwnerRecord, RelayRecord, PlacementRecord, RefKind, RefRecord, Stats, UrlRecord } from './records.ts'
import type { ObjectRecord, PartRecord, TenantRecord, UploadRecord } from '../objects/types.ts'

/** The tables of DESIGN.md's data model, each a sublevel with JSON values. */
export interface Tables {
  /** CID → blob */
  blob: BlobRecord
  /** `{cid}/{kind}:{holder}` → who holds the blob */
  ref: RefRecord
  /** block multihash → how many blobs contain it, and its bytes on disk */
  block: { count: number, size: number }
  /** CID → multihashes of the blob's distinct blocks (to free them with the blob) */
  dag: string[]
  /** `{block multihash}/{cid}` → the block is part of that blob's DAG (who may read a block is decided by its blobs) */
  root: true
  /** `stats` → node totals */
  meta: Stats
  /** tenant name → tenant */
  tenant: TenantRecord
  /** access key id → tenant name */
  akey: string
  /** `{tenant}/{key}` → object */
  object: ObjectRecord
  /** upload id → multipart upload */
  upload: UploadRecord
  /** `{uploadId}/{partNumber, 5 digits}` → part */
  part: PartRecord
  /** CID → the peers holding copies of a blob this node originated */
  placement: PlacementRecord
  /** peer ID → what that peer made this node hold */
  held: HeldRecord
  /** `{origin}/{tenant}` → the newest manifest of that tenant */
  manifest: ManifestPointer
  /** `{origin}/{cid}` → the signed attestation of a copy held for a peer */
  attestation: Signed<Attestation>
  /** CID → when this node last announced it in the DHT (ms since the epoch) */
  provided: number
  /** whole-file SHA-256 (hex) → CID of the blob with those bytes (retrieve by `digestMultibase`) */
  digest: CidString
  /** normalised source URL → the blob last retrieved from it (the retrieve API's URL cache) */
  url: UrlRecord
  /** `{tenant}/{cid}` → media a tenant holds through the retrieve API without a key */
  media: MediaRecord
  /** `{actor}\n{status}\n{cid}\n{tenant}` → media an ActivityPub actor's status carries (empty status: the actor's own; empty tenant: the node's prefetch) */
  owner: OwnerRecord
  /** `{tenant}\n{cid}` → how many `owner` rows name that tenant's copy of the blob (the last one's Delete releases it) */
  owned: number
  /** relay inbox URL → a relay this node follows */
  relay: RelayRecord
  /** `cid:{cid}` or `key:{tenant}/{key}` → removed by its ActivityPub owner's Delete (public reads answer 410) */
  gone: GoneRecord
}

export type TableName = keyof Tables

type Db = Level<string, unknown>
type Sub<V> = AbstractSublevel<Db, string | Buffer | Uint8Array, string, V>
type Op = AbstractBatchOperation<Db, string, unknown>

const TABLES: TableName[] = ['blob', 'ref', 'block', 'dag', 'root', 'meta', 'tenant', 'akey', 'object', 'upload', 'part', 'placement', 'held', 'manifest', 'attestation', 'provided', 'digest', 'url', 'media', 'owner', 'owned', 'relay', 'gone']

export interface Range {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  limit?: number
  reverse?: boolean
}

/** Tables whose records are kept in memory, and how many of each (the least recently used go first). */
const CACHED: Partial<Record<TableName, number>> = {
  blob: 50_000,
  object: 20_000,
  tenant: 10_000,
  akey: 10_000,
  meta: 16
}

/**
 * Free space a torn index needs to be reopened: LevelDB writes what it
 * recovers from its log (at most a 4 MB memtable) to a new table, then
 * starts a new log.
 */
const REOPEN_SPACE = 16 * 1024 * 1024

/** A cached "no such record": answers later reads without asking level again. */
const ABSENT = Symbol('absent')
type Cached = object | string | number | boolean | typeof ABSENT

/**
 * The node's level index. Every change is a transaction: reads see the
 * transaction's own writes, and the writes go out as one atomic batch, under
 * one lock so reference counts and totals never race. Batches are written
 * only after the blocks they point at are on disk. With `sync` (FDN_FSYNC)
 * a batch is flushed to the disk (LevelDB's synchronous write) before the
 * transaction resolves, so what it acknowledged survives a power loss.
 *
 * The records every request reads (access key → tenant, the tenant, the
 * object, the blob, the node totals) are kept in bounded LRU caches, so a
 * request rarely costs a round trip to level's threads. Once a batch has
 * committed, `transact` writes every key it touched into the caches (a
 * deleted key as absent): a read from level that overlapped the batch, and
 * may have seen the index before it, finds the key cached and leaves it, and
 * should the key have been evicted meanwhile, such a read fills nothing. So
 * the caches never hold a record older than the last commit. Cached records
 * are shared and frozen: callers copy them to change them, as they do.
 *
 * A batch that LevelDB failed to write (the disk full, an I/O error) may
 * have left half a record at the end of its log, and LevelDB would append
 * the next batches after it, where recovery cannot read them: acknowledged,
 * then lost at the next restart. So after such a failure the index takes no
 * write until it has been reopened (recovering the log up to the torn record
 * and starting a new one), which waits for free space; reads go on meanwhile.
 */
export class IndexDb {
  private readonly db: Db
  private readonly tables: { [K in TableName]: Sub<Tables[K]> }
  private readonly lock = new Mutex()
  private readonly caches: Partial<Record<TableName, LRUCache<string, Cached>>> = {}
  /** Batches committed (or failed), and cache entries evicted: what a read from level checks before it fills a cache. */
  private commits = 0
  private evictions = 0
  private readonly sync: boolean
  private readonly location: string
  /** A batch failed in LevelDB: no write until the index is reopened. */
  private torn = false

  constructor (location: string, options: { sync: boolean }) {
    this.location = location
    this.sync = options.sync
    this.db = new Level<string, unknown>(location, { valueEncoding: 'json' })
    const tables: Partial<Record<TableName, unknown>> = {}
    for (const name of TABLES) tables[name] = this.db.sublevel(name, { valueEncoding: 'json' })
    this.tables = tables as { [K in TableName]: Sub<Tables[K]> }
    const dispose = (_value: Cached, _key: string, reason: string): void => { if (reason === 'evict') this.evictions++ }
    for (const [table, max] of Object.entries(CACHED) as Array<[TableName, number]>) this.caches[table] = new LRUCache({ max, dispose })
  }

  async open (): Promise<void> {
    await this.db.open()
  }

  async close (): Promise<void> {
    await this.db.close()
  }

  async get<K extends TableName> (table: K, key: string): Promise<Tables[K] | undefined> {
    const cache = this.caches[table]
    if (cache === undefined) return await this.tables[table].get(key)
    const cached = cache.get(key)
    if (cached !== undefined) return cached === ABSENT ? undefined : cached as Tables[K]
    const commits = this.commits
    const evictions = this.evictions
    const value = await this.tables[table].get(key)
    // a batch that committed meanwhile left its keys in the cache, unless they were evicted since
    if (!cache.has(key) && (commits === this.commits || evictions === this.evictions)) cache.set(key, value === undefined ? ABSENT : freeze(value as Cached))
    return value
  }

  async stats (): Promise<Stats> {
    return await this.get('meta', 'stats') ?? { ...EMPTY_STATS }
  }

  /** Every committed reference to a blob. */
  async refsOf (cid: string): Promise<BlobRef[]> {
    const refs: BlobRef[] = []
    for await (const [key, ref] of this.tables.ref.iterator(refRange(cid))) refs.push(blobRef(key, ref))
    return refs
  }

  async * entries<K extends TableName> (table: K, range: Range = {}): AsyncGenerator<[string, Tables[K]]> {
    for await (const entry of this.tables[table].iterator(range)) yield entry
  }

  /** Runs `work` with exclusive write access; its writes commit atomically when it returns. */
  async transact<T> (work: (tx: Tx) => Promise<T>): Promise<{ result: T, freedBlocks: string[], touchedBlobs: Set<string>, removedBlobs: string[], touchedTenants: string[] }> {
    return await this.lock.run(async () => {
      if (this.torn) await this.reopen()
      const tx = new Tx(this)
      const result = await work(tx)
      const ops: Op[] = []
      for (const [id, value] of tx.writes) {
        const [table, key] = splitId(id)
        const sublevel = this.tables[table] as Sub<unknown>
        ops.push(value === undefined ? { type: 'del', sublevel, key } : { type: 'put', sublevel, key, value })
      }
      const changes = { freedBlocks: tx.freedBlocks, touchedBlobs: tx.touchedBlobs, removedBlobs: tx.removedBlobs, touchedTenants: touchedTenants(tx) }
      if (ops.length === 0) return { result, ...changes }
      try {
        await this.db.batch(ops, { sync: this.sync })
      } catch (err) {
        // whether the batch reached the index is unknown: forget what it touched, and let no read in flight fill it back
        this.commits++
        this.evictions++
        for (const id of tx.writes.keys()) {
          const [table, key] = splitId(id)
          this.caches[table]?.delete(key)
        }
        this.torn = true
        if (/No space left on device|ENOSPC/.test((err as Error).message)) throw new FdnError('insufficient_storage', 'the node is out of disk space', { cause: err })
        throw err
      }
      this.commits++
      for (const [id, value] of tx.writes) {
        const [table, key] = splitId(id)
        this.caches[table]?.set(key, value === undefined ? ABSENT : freeze(value as Cached))
      }
      return { result, ...changes }
    })
  }

  /** Reopens the index after a failed batch, once the disk has room for it (else insufficient_storage). */
  private async reopen (): Promise<void> {
    const disk = await statfs(this.location)
    if (disk.bavail * disk.bsize < REOPEN_SPACE) throw new FdnError('insufficient_storage', 'the node is out of disk space: the index takes writes again once space is freed')
    await this.db.close()
    await this.db.open()
    // sublevels closed with their parent and do not open with it
    await Promise.all(Object.values(this.tables).map(async (table) => { await table.open() }))
    this.torn = false
  }
}

function freeze<V> (value: V): V {
  return typeof value === 'object' && value !== null ? Object.freeze(value) : value
}

/** A transaction's view: its own pending writes over the committed index. */
export class Tx {
  readonly writes = new Map<string, unknown>()
  /** Blocks whose last blob went in this transaction: the store deletes them after commit. */
  readonly freedBlocks: string[] = []
  /** Blobs whose references changed: the swarm reconciles their copies after commit. */
  readonly touchedBlobs = new Set<string>()
  /** Blobs whose last reference went. */
  readonly removedBlobs: string[] = []
  private readonly index: IndexDb

  constructor (index: IndexDb) {
    this.index = index
  }

  async get<K extends TableName> (table: K, key: string): Promise<Tables[K] | undefined> {
    const id = `${table}\0${key}`
    if (this.writes.has(id)) return this.writes.get(id) as Tables[K] | undefined
    return await this.index.get(table, key)
  }

  put<K extends TableName> (table: K, key: string, value: Tables[K]): void {
    this.writes.set(`${table}\0${key}`, value)
  }

  del (table: TableName, key: string): void {
    this.writes.set(`${table}\0${key}`, undefined)
  }

  async stats (): Promise<Stats> {
    return await this.get('meta', 'stats') ?? { ...EMPTY_STATS }
  }

  /** Every reference to a blob, committed or written by this transaction. */
  async refsOf (cid: string): Promise<BlobRef[]> {
    const found = new Map<string, RefRecord | undefined>()
    for await (const [key, ref] of this.index.entries('ref', refRange(cid))) found.set(key, ref)
    const prefix = `ref\0${cid}/`
    for (const [id, value] of this.writes) if (id.startsWith(prefix)) found.set(id.slice(4), value as RefRecord | undefined)
    return [...found].flatMap(([key, ref]) => ref == null ? [] : [blobRef(key, ref)])
  }

  /** Reads, changes and writes back the node totals. */
  async updateStats (change: (stats: Stats) => void): Promise<void> {
    const stats = { ...await this.stats() }
    change(stats)
    this.put('meta', 'stats', stats)
  }
}

/** Tenants whose record or objects a transaction wrote. */
function touchedTenants (tx: Tx): string[] {
  const tenants = new Set<string>()
  for (const id of tx.writes.keys()) {
    const [table, key] = splitId(id)
    if (table === 'tenant') tenants.add(key)
    else if (table === 'object') tenants.add(key.slice(0, key.indexOf('/')))
  }
  return [...tenants]
}

/** A reference with its kind and holder, from its key `{cid}/{kind}:{holder}`. */
export type BlobRef = RefRecord & { kind: RefKind, holder: string }

function refRange (cid: string): Range {
  return { gt: `${cid}/`, lt: `${cid}/\xff` }
}

function blobRef (key: string, ref: RefRecord): BlobRef {
  const rest = key.slice(key.indexOf('/') + 1)
  const colon = rest.indexOf(':')
  return { ...ref, kind: rest.slice(0, colon) as RefKind, holder: rest.slice(colon + 1) }
}

function splitId (id: string): [TableName, string] {
  const at = id.indexOf('\0')
  return [id.slice(0, at) as TableName, id.slice(at + 1)]
}
