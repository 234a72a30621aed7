import { Level } from 'level'
import type { AbstractBatchOperation, AbstractSublevel } from 'abstract-level'
import { LRUCache } from 'lru-cache'
import { Mutex } from './mutex.ts'
import { EMPTY_STATS } from './records.ts'
import type { BlobRecord, RefRecord, Stats } from './records.ts'
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
}

export type TableName = keyof Tables

type Db = Level<string, unknown>
type Sub<V> = AbstractSublevel<Db, string | Buffer | Uint8Array, string, V>
type Op = AbstractBatchOperation<Db, string, unknown>

const TABLES: TableName[] = ['blob', 'ref', 'block', 'dag', 'meta', 'tenant', 'akey', 'object', 'upload', 'part']

export interface Range {
  gt?: string
  gte?: string
  lt?: string
  lte?: string
  limit?: number
  reverse?: boolean
}

/**
 * The node's level index. Every change is a transaction: reads see the
 * transaction's own writes, and the writes go out as one atomic batch, under
 * one lock so reference counts and totals never race. Batches are written
 * only after the blocks they point at are on disk.
 */
export class IndexDb {
  private readonly db: Db
  private readonly tables: { [K in TableName]: Sub<Tables[K]> }
  private readonly lock = new Mutex()
  /** Blob records read on every gateway request; kept coherent by `transact`. */
  private readonly blobCache = new LRUCache<string, BlobRecord>({ max: 50_000 })

  constructor (location: string) {
    this.db = new Level<string, unknown>(location, { valueEncoding: 'json' })
    const tables: Partial<Record<TableName, unknown>> = {}
    for (const name of TABLES) tables[name] = this.db.sublevel(name, { valueEncoding: 'json' })
    this.tables = tables as { [K in TableName]: Sub<Tables[K]> }
  }

  async open (): Promise<void> {
    await this.db.open()
  }

  async close (): Promise<void> {
    await this.db.close()
  }

  async get<K extends TableName> (table: K, key: string): Promise<Tables[K] | undefined> {
    if (table === 'blob') {
      const cached = this.blobCache.get(key)
      if (cached != null) return cached as Tables[K]
    }
    const value = await this.tables[table].get(key)
    if (table === 'blob' && value != null) this.blobCache.set(key, value as BlobRecord)
    return value
  }

  async stats (): Promise<Stats> {
    return await this.get('meta', 'stats') ?? { ...EMPTY_STATS }
  }

  async * entries<K extends TableName> (table: K, range: Range = {}): AsyncGenerator<[string, Tables[K]]> {
    for await (const entry of this.tables[table].iterator(range)) yield entry
  }

  /** Runs `work` with exclusive write access; its writes commit atomically when it returns. */
  async transact<T> (work: (tx: Tx) => Promise<T>): Promise<{ result: T, freedBlocks: string[] }> {
    return await this.lock.run(async () => {
      const tx = new Tx(this)
      const result = await work(tx)
      const ops: Op[] = []
      for (const [id, value] of tx.writes) {
        const [table, key] = splitId(id)
        const sublevel = this.tables[table] as Sub<unknown>
        ops.push(value === undefined ? { type: 'del', sublevel, key } : { type: 'put', sublevel, key, value })
      }
      if (ops.length > 0) await this.db.batch(ops)
      for (const [id, value] of tx.writes) {
        const [table, key] = splitId(id)
        if (table !== 'blob') continue
        if (value === undefined) this.blobCache.delete(key)
        else this.blobCache.set(key, value as BlobRecord)
      }
      return { result, freedBlocks: tx.freedBlocks }
    })
  }
}

/** A transaction's view: its own pending writes over the committed index. */
export class Tx {
  readonly writes = new Map<string, unknown>()
  /** Blocks whose last blob went in this transaction: the store deletes them after commit. */
  readonly freedBlocks: string[] = []
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

  /** Reads, changes and writes back the node totals. */
  async updateStats (change: (stats: Stats) => void): Promise<void> {
    const stats = { ...await this.stats() }
    change(stats)
    this.put('meta', 'stats', stats)
  }
}

function splitId (id: string): [TableName, string] {
  const at = id.indexOf('\0')
  return [id.slice(0, at) as TableName, id.slice(at + 1)]
}
