import { Level } from 'level'
import type { AbstractBatchOperation, AbstractSublevel } from 'abstract-level'
import type { CID } from 'multiformats/cid'
import { cidString } from '../../protocol/cid.ts'
import type { CidString } from '../../protocol/cid.ts'
import { Mutex } from './mutex.ts'
import { EMPTY_STATS } from './records.ts'
import type { BlobRecord, RefRecord, Stats } from './records.ts'

type Db = Level<string, unknown>
type Sub<V> = AbstractSublevel<Db, string | Buffer | Uint8Array, string, V>
type Op = AbstractBatchOperation<Db, string, unknown>

export interface NewBlob {
  record: Omit<BlobRecord, 'refcount' | 'firstSeen'>
  blocks: CID[]
  /** Bytes of each block by CID string, so a block another blob already holds is not counted twice on disk. */
  blockSizes?: ReadonlyMap<string, number>
}

export interface CommitResult {
  blob: BlobRecord
  /** false when the blob was already held (deduplicated). */
  created: boolean
}

/**
 * The node's level index. Every change is one atomic batch, written after the
 * blocks it points at, under one lock so reference counts and totals never race.
 */
export class IndexDb {
  private readonly db: Level<string, unknown>
  private readonly blobs: Sub<BlobRecord>
  private readonly refs: Sub<RefRecord>
  private readonly blockRefs: Sub<number>
  private readonly meta: Sub<Stats>
  private readonly lock = new Mutex()

  constructor (location: string) {
    this.db = new Level<string, unknown>(location, { valueEncoding: 'json' })
    this.blobs = this.db.sublevel<string, BlobRecord>('blob', { valueEncoding: 'json' })
    this.refs = this.db.sublevel<string, RefRecord>('ref', { valueEncoding: 'json' })
    this.blockRefs = this.db.sublevel<string, number>('block', { valueEncoding: 'json' })
    this.meta = this.db.sublevel<string, Stats>('meta', { valueEncoding: 'json' })
  }

  async open (): Promise<void> {
    await this.db.open()
  }

  async close (): Promise<void> {
    await this.db.close()
  }

  async getBlob (cid: CID | CidString): Promise<BlobRecord | undefined> {
    return await this.blobs.get(typeof cid === 'string' ? cid : cidString(cid))
  }

  async stats (): Promise<Stats> {
    return await this.meta.get('stats') ?? { ...EMPTY_STATS }
  }

  /** Number of blobs whose DAG contains this block. */
  async blockRefCount (cid: CID): Promise<number> {
    return await this.blockRefs.get(cidString(cid)) ?? 0
  }

  async * allBlobs (): AsyncGenerator<BlobRecord> {
    for await (const value of this.blobs.values()) yield value
  }

  /**
   * Records a blob (if new) and a reference to it, in one batch. Called only
   * once every block of the blob is on disk.
   */
  async addRef (blob: NewBlob, ref: Omit<RefRecord, 'created'>): Promise<CommitResult> {
    return await this.lock.run(async () => {
      const cid = blob.record.cid
      const ops: Op[] = []
      const stats = await this.stats()
      let record = await this.blobs.get(cid)
      const created = record == null
      if (record == null) {
        record = { ...blob.record, refcount: 0, firstSeen: new Date().toISOString() }
        let newBytes = 0
        for (const block of blob.blocks) {
          const key = cidString(block)
          const count = await this.blockRefs.get(key) ?? 0
          if (count === 0) newBytes += blob.blockSizes?.get(key) ?? 0
          ops.push({ type: 'put', sublevel: this.blockRefs, key, value: count + 1 })
        }
        stats.blobs++
        // the disk holds each block once, however many blobs share it
        stats.physicalBytes += blob.blockSizes != null ? newBytes : record.storedBytes
      }
      const refKey = `${cid}/${ref.kind}:${ref.holder}`
      if (await this.refs.get(refKey) == null) {
        record = { ...record, refcount: record.refcount + 1 }
        stats.logicalBytes += record.size
        ops.push({ type: 'put', sublevel: this.refs, key: refKey, value: { ...ref, created: new Date().toISOString() } })
      }
      ops.push({ type: 'put', sublevel: this.blobs, key: cid, value: record })
      ops.push({ type: 'put', sublevel: this.meta, key: 'stats', value: stats })
      await this.db.batch(ops)
      return { blob: record, created }
    })
  }
}
