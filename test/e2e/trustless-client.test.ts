import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { CarBlockIterator } from '@ipld/car'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { exporter } from 'ipfs-unixfs-exporter'
import { CID } from 'multiformats/cid'
import * as dagPb from '@ipld/dag-pb'
import { addBytes, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { MiB, pngBytes, seededBytes } from '../helpers/bytes.ts'

/** What every trustless-gateway client does with a block: hash it and compare with the CID it asked for. */
function assertBlockMatches (cid: CID, bytes: Uint8Array): void {
  assert.equal(cid.multihash.code, 0x12, 'sha2-256')
  assert.deepEqual(new Uint8Array(createHash('sha256').update(bytes).digest()), cid.multihash.digest, `block ${cid.toString()} verifies`)
}

async function exportFile (root: CID, blockstore: MemoryBlockstore): Promise<Buffer> {
  const entry = await exporter(root, blockstore)
  if (entry.type !== 'file' && entry.type !== 'raw') throw new Error(`exported a ${entry.type}, not a file`)
  const parts: Uint8Array[] = []
  for await (const part of entry.content()) parts.push(part as Uint8Array)
  return Buffer.concat(parts)
}

describe('a trustless-gateway client verifies what the gateway serves', () => {
  let daemon: RunningDaemon
  const big = seededBytes(3 * MiB + 12345, 'trustless-big')
  const small = pngBytes(100 * 1024)
  let bigCid: CID
  let smallCid: CID

  before(async () => {
    daemon = await startDaemon()
    bigCid = CID.parse((await addBytes(daemon, big)).cid)
    smallCid = CID.parse((await addBytes(daemon, small)).cid)
  })
  after(async () => { await daemon.stop() })

  it('?format=car: a CARv1 rooted at the CID, every block verifies, the exporter rebuilds the file', async () => {
    const response = await fetch(`${daemon.http}/ipfs/${bigCid.toString()}?format=car`)
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /^application\/vnd\.ipld\.car; version=1; order=dfs; dups=n$/)
    assert.match(response.headers.get('content-disposition') ?? '', /^attachment;/)
    assert.equal(response.headers.get('x-ipfs-roots'), bigCid.toString())
    const iterator = await CarBlockIterator.fromIterable((async function * () {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) yield chunk
    })())
    assert.deepEqual((await iterator.getRoots()).map(String), [bigCid.toString()])
    const blockstore = new MemoryBlockstore()
    const order: string[] = []
    for await (const { cid, bytes } of iterator) {
      assertBlockMatches(cid, bytes)
      order.push(cid.toString())
      await blockstore.put(cid, bytes)
    }
    assert.equal(order[0], bigCid.toString(), 'depth-first: the root comes first')
    assert.equal(new Set(order).size, order.length, 'dups=n: no block twice')
    assert.ok((await exportFile(bigCid, blockstore)).equals(big))
  })

  it('Accept: application/vnd.ipld.raw, block by block, as the trustless block brokers fetch', async () => {
    const blockstore = new MemoryBlockstore()
    const queue: CID[] = [bigCid]
    let fetched = 0
    while (queue.length > 0) {
      const cid = queue.shift() as CID
      const response = await fetch(`${daemon.http}/ipfs/${cid.toString()}`, { headers: { accept: 'application/vnd.ipld.raw' } })
      assert.equal(response.status, 200)
      assert.equal(response.headers.get('content-type'), 'application/vnd.ipld.raw')
      assert.equal(response.headers.get('etag'), `"${cid.toString()}.raw"`)
      const bytes = new Uint8Array(await response.arrayBuffer())
      assertBlockMatches(cid, bytes)
      await blockstore.put(cid, bytes)
      fetched++
      if (cid.code === dagPb.code) queue.push(...dagPb.decode(bytes).Links.map(link => link.Hash))
    }
    assert.equal(fetched, 5, 'one root and four 1 MiB leaves')
    assert.ok((await exportFile(bigCid, blockstore)).equals(big))
  })

  it('a small image is one raw block: ?format=raw is the file itself, and its CID digest is its SHA-256', async () => {
    const response = await fetch(`${daemon.http}/ipfs/${smallCid.toString()}?format=raw`)
    const bytes = new Uint8Array(await response.arrayBuffer())
    assertBlockMatches(smallCid, bytes)
    assert.ok(Buffer.from(bytes).equals(small))
  })

  it('dag-scope=block returns only the root block', async () => {
    const response = await fetch(`${daemon.http}/ipfs/${bigCid.toString()}?format=car&dag-scope=block`)
    const iterator = await CarBlockIterator.fromIterable((async function * () {
      for await (const chunk of response.body as AsyncIterable<Uint8Array>) yield chunk
    })())
    const cids: string[] = []
    for await (const { cid, bytes } of iterator) {
      assertBlockMatches(cid, bytes)
      cids.push(cid.toString())
    }
    assert.deepEqual(cids, [bigCid.toString()])
  })
})
