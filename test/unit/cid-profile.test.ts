import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { importer } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { balanced } from 'ipfs-unixfs-importer/layout'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { createHash } from 'node:crypto'
import { importStream } from '../../node/ingest/import-stream.ts'
import type { Block } from '../../node/ingest/dag-builder.ts'
import { MiB, seededBytes, unevenChunks } from '../helpers/bytes.ts'

async function referenceCid (bytes: Uint8Array, options: { chunkSize?: number, maxChildren?: number } = {}): Promise<string> {
  const custom = options.chunkSize != null
  let root: string | undefined
  for await (const entry of importer([{ content: (async function * () { yield bytes })() }], new MemoryBlockstore(), {
    profile: 'unixfs-v1-2025',
    ...(custom ? { chunker: fixedSize({ chunkSize: options.chunkSize }), layout: balanced({ maxChildrenPerNode: options.maxChildren }) } : {})
  })) root = entry.cid.toString()
  if (root == null) throw new Error('importer yielded nothing')
  return root
}

async function ours (bytes: Uint8Array, options: { chunkSize?: number, maxChildren?: number } = {}): Promise<{ cid: string, blocks: Block[], result: Awaited<ReturnType<typeof importStream>> }> {
  const blocks: Block[] = []
  const result = await importStream(unevenChunks(bytes), { put: async (block) => { blocks.push(block) } }, { maxSize: Infinity, ...options })
  return { cid: result.cid.toString(), blocks, result }
}

describe('unixfs-v1-2025 CIDs equal the reference importer', () => {
  for (const size of [0, 1, MiB - 1, MiB, MiB + 1, 5 * MiB]) {
    it(`for ${size} bytes`, async () => {
      const bytes = seededBytes(size, `size-${size}`)
      const { cid, result } = await ours(bytes)
      assert.equal(cid, await referenceCid(bytes))
      assert.equal(result.size, size)
      assert.equal(result.sha256, createHash('sha256').update(bytes).digest('hex'))
      assert.equal(result.md5, createHash('md5').update(bytes).digest('hex'))
    })
  }

  it('makes a file of at most one chunk a single raw block whose multihash is its SHA-256', async () => {
    const bytes = seededBytes(MiB, 'one-chunk')
    const { cid, blocks, result } = await ours(bytes)
    assert.match(cid, /^bafkrei/)
    assert.equal(blocks.length, 1)
    assert.equal(Buffer.from(result.cid.multihash.digest).toString('hex'), result.sha256)
  })

  it('builds deep balanced DAGs as the importer does (small chunks and fan-out, many sizes)', async () => {
    const chunkSize = 1024
    const maxChildren = 4
    for (const chunks of [2, 3, 4, 5, 15, 16, 17, 20, 63, 64, 65, 100]) {
      for (const extra of [0, 1, 1023]) {
        const size = (chunks - 1) * chunkSize + (extra === 0 ? chunkSize : extra)
        const bytes = seededBytes(size, `deep-${size}`)
        const { cid } = await ours(bytes, { chunkSize, maxChildren })
        assert.equal(cid, await referenceCid(bytes, { chunkSize, maxChildren }), `size ${size}`)
      }
    }
  })

  it('stores each distinct block once, even when chunks repeat', async () => {
    const bytes = Buffer.alloc(3 * MiB) // three identical zero chunks
    const { cid, blocks, result } = await ours(bytes)
    assert.equal(cid, await referenceCid(bytes))
    assert.equal(blocks.length, 2) // one zero leaf, one root
    assert.deepEqual(result.blocks.map(String).sort(), blocks.map(b => b.cid.toString()).sort())
  })

  it('fails with too_large as soon as the stream passes maxSize', async () => {
    const written: Block[] = []
    await assert.rejects(
      importStream(unevenChunks(seededBytes(3 * MiB)), { put: async (b) => { written.push(b) } }, { maxSize: 2 * MiB }),
      { code: 'too_large' }
    )
    assert.ok(written.length <= 3)
  })
})
