import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { createHash } from 'node:crypto'
import { DAG_PB_CODEC, MAX_CHILDREN, RAW_CODEC, SHA2_256 } from '../../protocol/cid-profile.ts'
import { encodeFileNode } from '../../protocol/unixfs-file.ts'
import type { FileLink } from '../../protocol/unixfs-file.ts'

export interface Block {
  cid: CID
  bytes: Uint8Array
}

/**
 * Builds the balanced `unixfs-v1-2025` DAG of a file while its chunks stream
 * in: every full level of 1024 children becomes a parent node at once, so
 * memory holds at most 1024 links per level, never the file.
 */
export class BalancedDagBuilder {
  private readonly maxChildren: number
  private readonly levels: FileLink[][] = [[]]
  /** Whether a level has already handed a parent to the level above. */
  private readonly spilled: boolean[] = [false]
  private leaves = 0

  /** `maxChildren` is the profile's 1024; tests use small values to build deep trees from small files. */
  constructor (maxChildren: number = MAX_CHILDREN) {
    this.maxChildren = maxChildren
  }

  /** Adds the next chunk; returns the blocks to store (the leaf, and any parents it completed). */
  addChunk (chunk: Uint8Array): Block[] {
    const cid = blockCid(RAW_CODEC, chunk)
    this.leaves++
    const blocks: Block[] = [{ cid, bytes: chunk }]
    this.push(0, { cid, fileSize: chunk.length, dagSize: chunk.length }, blocks)
    return blocks
  }

  /** Closes the DAG; returns its root and the remaining parent blocks to store. */
  finish (): { root: FileLink, blocks: Block[] } {
    const blocks: Block[] = []
    if (this.leaves === 0) this.addChunk(new Uint8Array(0)).forEach(b => blocks.push(b))
    if (this.leaves === 1) {
      const only = this.levels[0]?.[0]
      if (only == null) throw new Error('single leaf lost')
      return { root: only, blocks }
    }
    for (let level = 0; ; level++) {
      const items = this.levels[level] ?? []
      const top = this.spilled[level] !== true && (this.levels.length === level + 1)
      if (top && items.length === 1) {
        const root = items[0]
        if (root == null) throw new Error('root lost')
        return { root, blocks }
      }
      if (items.length > 0) this.reduce(level, blocks)
    }
  }

  private push (level: number, link: FileLink, blocks: Block[]): void {
    const items = this.levels[level] ?? (this.levels[level] = [])
    items.push(link)
    if (items.length === this.maxChildren) this.reduce(level, blocks)
  }

  private reduce (level: number, blocks: Block[]): void {
    const children = this.levels[level] ?? []
    this.levels[level] = []
    this.spilled[level] = true
    const bytes = encodeFileNode(children)
    const cid = blockCid(DAG_PB_CODEC, bytes)
    blocks.push({ cid, bytes })
    let fileSize = 0
    let dagSize = bytes.length
    for (const child of children) {
      fileSize += child.fileSize
      dagSize += child.dagSize
    }
    this.push(level + 1, { cid, fileSize, dagSize }, blocks)
  }
}

export function blockCid (codec: number, bytes: Uint8Array): CID {
  const digest = createHash('sha256').update(bytes).digest()
  return CID.createV1(codec, Digest.create(SHA2_256, digest))
}
