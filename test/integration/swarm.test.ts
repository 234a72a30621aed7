import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes, createHash } from 'node:crypto'
import { open, readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { base32upper } from 'multiformats/bases/base32'
import { importer } from 'ipfs-unixfs-importer'
import { MemoryBlockstore } from 'blockstore-core/memory'
import { adminFetch, runCli, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { createTenant, s3Client } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { startSwarm, status, waitFor } from '../helpers/swarm.ts'
import type { SwarmMember } from '../helpers/swarm.ts'
import type { BlobView, PeersResponse, RecoverReport } from '../../protocol/admin-api.ts'

const ENV = {
  FDN_REPLICAS: '2',
  FDN_REPAIR_INTERVAL: '1s',
  // long enough that a node slowed by the test's own load (2 cores, 5 daemons) is not taken for dead
  FDN_REPAIR_GRACE: '15s',
  FDN_FETCH_TIMEOUT: '20s',
  // reads through a gateway must find the copies, not a cache filled by earlier reads
  FDN_CACHE_SIZE: '1MB',
  FDN_BLOCK_CACHE: '0',
  // what the nodes say about a blob is part of a failure's message
  FDN_LOG_LEVEL: 'info'
}

interface Uploaded {
  key: string
  bytes: Buffer
  cid: string
}

/** 200 objects: mostly small images, some medium, a few multi-block videos. */
function sizes (): number[] {
  const out: number[] = []
  for (let i = 0; i < 200; i++) {
    if (i % 20 === 0) out.push(1024 * 1024 + Math.floor(Math.random() * 3 * 1024 * 1024))
    else if (i % 5 === 0) out.push(200 * 1024 + Math.floor(Math.random() * 800 * 1024))
    else out.push(1 + Math.floor(Math.random() * 200 * 1024))
  }
  return out
}

async function blobView (daemon: RunningDaemon, cid: string): Promise<BlobView | undefined> {
  const response = await adminFetch(daemon, `/admin/v1/blobs/${cid}`)
  if (response.status === 404) return undefined
  assert.equal(response.status, 200)
  return await response.json() as BlobView
}

/** Nodes keeping a copy of the blob for themselves or for a peer (not a gateway cache). */
async function copies (members: SwarmMember[], cid: string): Promise<string[]> {
  const holding: string[] = []
  for (const member of members) {
    const view = await blobView(member.daemon, cid)
    if (view?.refs.some(ref => ref.kind !== 'cache') === true) holding.push(member.peerId)
  }
  return holding
}

/** What a daemon logged at error level, for a failure message. */
function errorLines (daemon: RunningDaemon): string {
  return daemon.output().split('\n').filter(line => line.includes('"level":50')).slice(-5).join('\n') || 'no errors'
}

async function gatewayGet (daemon: RunningDaemon, cid: string): Promise<{ status: number, bytes: Buffer }> {
  const response = await fetch(`${daemon.http}/ipfs/${cid}`)
  return { status: response.status, bytes: Buffer.from(await response.arrayBuffer()) }
}

async function inParallel<T> (items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items]
  await Promise.all(Array.from({ length: limit }, async () => {
    for (let item = queue.shift(); item != null; item = queue.shift()) await work(item)
  }))
}

describe('a swarm of five trusted nodes', { timeout: 400_000 }, () => {
  let members: SwarmMember[]
  let origin: SwarmMember
  let tenant: Tenant
  const uploaded: Uploaded[] = []

  before(async () => {
    members = await startSwarm(5, ENV)
    origin = members[0]
    tenant = await createTenant(origin.daemon, 'social')
    const s3 = s3Client(origin.daemon, tenant)
    await inParallel(sizes().map((size, i) => ({ size, i })), 8, async ({ size, i }) => {
      const bytes = randomBytes(size)
      const key = `media_attachments/files/${String(i).padStart(3, '0')}/original/${i}.bin`
      await s3.send(new PutObjectCommand({ Bucket: tenant.bucket, Key: key, Body: bytes, ACL: 'public-read', ContentType: 'application/octet-stream' }))
      uploaded.push({ key, bytes, cid: '' })
    })
    assert.equal(uploaded.length, 200)
  })

  after(async () => {
    await Promise.all(members.map(async member => await member.daemon.stop()))
    await Promise.all(members.map(async member => await rm(member.dataDir, { recursive: true, force: true })))
  })

  it('lists every trusted peer, connected and healthy, in `fdn peers --json`', async () => {
    const peers = await runCli(['peers', '--json'], { FDN_DATA: members[2].dataDir })
    assert.equal(peers.code, 0, peers.stderr)
    const answer = JSON.parse(peers.stdout) as PeersResponse
    assert.equal(answer.self.peerId, members[2].peerId)
    const trusted = answer.peers.filter(peer => peer.trusted)
    assert.deepEqual(trusted.map(peer => peer.peerId).sort(), members.filter(member => member !== members[2]).map(member => member.peerId).sort())
    for (const peer of trusted) {
      assert.equal(peer.connected, true, peer.peerId)
      assert.equal(peer.health, 'healthy', peer.peerId)
      assert.ok(peer.addresses.some(address => address.startsWith('/ip4/127.0.0.1/tcp/')), peer.addresses.join(', '))
    }
  })

  it('keeps every blob on exactly `replicas` nodes, and every gateway serves every object', async () => {
    await waitFor(async () => {
      const { replication } = await status(origin.daemon)
      return replication.pending === 0 && replication['under-replicated'] === 0 && replication.replicated >= 200
    }, 120_000, 'the origin to replicate all 200 objects')
    for (const item of uploaded) {
      item.cid = await referenceCid(item.bytes)
      assert.ok(await blobView(origin.daemon, item.cid) != null, `${item.key}: the origin holds ${item.cid}`)
    }
    const perNode = new Map<string, number>()
    for (const item of uploaded) {
      const holding = await copies(members, item.cid)
      if (holding.length !== 2) {
        const refs = await Promise.all(members.map(async member => JSON.stringify((await blobView(member.daemon, item.cid))?.refs ?? null)))
        const placed = (await blobView(origin.daemon, item.cid))?.holders.join(', ')
        const said = members.flatMap(member => member.daemon.output().split('\n').filter(line => line.includes(item.cid) && !line.includes('"request"')).map(line => `${member.peerId.slice(-4)}: ${line}`)).join('\n')
        assert.fail(`${item.key} (${item.cid}) is on ${holding.length} nodes: ${refs.join(' | ')}; the origin placed it on ${placed}; what the nodes logged about it:\n${said}`)
      }
      assert.ok(holding.includes(origin.peerId))
      for (const peer of holding) perNode.set(peer, (perNode.get(peer) ?? 0) + 1)
    }
    // rendezvous placement spreads the copies over the four other nodes
    for (const member of members.slice(1)) assert.ok((perNode.get(member.peerId) ?? 0) >= 20, `${member.peerId} holds only ${perNode.get(member.peerId) ?? 0} copies`)
    // a node that lacks a blob answers while the blocks arrive: no length known up front, the type sniffed from the first piece
    const large = uploaded.find(item => item.bytes.length > 2 * 1024 * 1024) as Uploaded
    const lacking = (await Promise.all(members.map(async member => ({ member, view: await blobView(member.daemon, large.cid) })))).find(entry => entry.view == null)?.member
    assert.ok(lacking != null, 'three of five nodes lack each blob')
    const streamed = await fetch(`${lacking.daemon.http}/ipfs/${large.cid}`)
    assert.equal(streamed.status, 200)
    assert.equal(streamed.headers.get('content-length'), null)
    assert.equal(streamed.headers.get('transfer-encoding'), 'chunked')
    assert.ok(Buffer.from(await streamed.arrayBuffer()).equals(large.bytes))
    await inParallel(members.slice(1).flatMap(member => uploaded.map(item => ({ member, item }))), 8, async ({ member, item }) => {
      const got = await gatewayGet(member.daemon, item.cid)
      assert.equal(got.status, 200, `${item.cid} through ${member.peerId}`)
      assert.ok(got.bytes.equals(item.bytes), `${item.cid} through ${member.peerId} differs`)
    })
  })

  it('serves every object after the origin is SIGKILLed, and brings the copies back to `replicas`', async () => {
    await origin.daemon.kill()
    const survivors = members.slice(1)
    await inParallel(uploaded, 8, async item => {
      const reader = survivors[uploaded.indexOf(item) % survivors.length]
      const got = await gatewayGet(reader.daemon, item.cid)
      assert.equal(got.status, 200, `${item.cid} after the origin died: ${got.bytes.toString().slice(0, 300)}; the reader logged: ${errorLines(reader.daemon)}`)
      assert.ok(got.bytes.equals(item.bytes))
    })
    await waitFor(async () => {
      for (const item of uploaded) if ((await copies(survivors, item.cid)).length < 2) return false
      return true
    }, 90_000, 'the survivors to hold two copies of every blob again')
    for (const item of uploaded) assert.equal((await copies(survivors, item.cid)).length, 2, item.cid)
  })

  it('recovers the origin from its peers with only its identity.key', async () => {
    for (const name of await readdir(origin.dataDir)) {
      if (name !== 'identity.key') await rm(path.join(origin.dataDir, name), { recursive: true, force: true })
    }
    // as an operator's bootstrap.json would: the group's nodes
    const bootstrap = (await Promise.all(members.slice(1).map(async member => (await status(member.daemon)).addresses.swarm[0]))).join(',')
    origin.daemon = await startDaemon({ dataDir: origin.dataDir, env: { ...origin.env, FDN_BOOTSTRAP: bootstrap } })
    assert.equal((await status(origin.daemon)).peerId, origin.peerId)
    assert.equal((await status(origin.daemon)).objects, 0)
    await waitFor(async () => (await status(origin.daemon)).swarm.trustedHealthy === 4, 60_000, 'the restarted origin to see its peers')
      .catch(async (err: unknown) => {
        throw new Error(`${(err as Error).message}: ${await (await adminFetch(origin.daemon, '/admin/v1/peers')).text()}`)
      })
    const recover = await runCli(['recover', '--json'], { FDN_DATA: origin.dataDir }, undefined, { timeoutMs: 300_000 })
    assert.equal(recover.code, 0, `${recover.stderr} ${recover.stdout}`)
    const report = JSON.parse(recover.stdout) as RecoverReport
    assert.equal(report.tenantsRestored, 1)
    assert.equal(report.objectsRestored, 200)
    assert.deepEqual(report.missing, [])
    assert.equal(report.bytesRestored, uploaded.reduce((sum, item) => sum + item.bytes.length, 0))
    // the tenant's own credentials work again, and every key holds its bytes
    const s3 = s3Client(origin.daemon, tenant)
    await inParallel(uploaded, 8, async item => {
      const answer = await s3.send(new GetObjectCommand({ Bucket: tenant.bucket, Key: item.key }))
      const bytes = Buffer.from(await answer.Body?.transformToByteArray() ?? [])
      assert.ok(bytes.equals(item.bytes), `${item.key} after recovery`)
    })
  })

  it('detects a corrupt block when reading, never serves it, and repairs it from a peer', async () => {
    // a multi-block object that one of the nodes keeps a copy of for a peer
    let target: Uploaded | undefined
    let holder: SwarmMember | undefined
    for (const item of uploaded) {
      if (item.bytes.length <= 1024 * 1024 || target != null) continue
      for (const member of members.slice(1)) {
        const view = await blobView(member.daemon, item.cid)
        if (view?.refs.some(ref => ref.kind === 'replica') === true) {
          target = item
          holder = member
          break
        }
      }
    }
    assert.ok(target != null && holder != null, 'no node holds a multi-block copy for a peer')
    // the first leaf: its bytes are the object's first MiB
    const leafDigest = createHash('sha256').update(target.bytes.subarray(0, 1024 * 1024)).digest()
    const file = blockFile(holder.dataDir, leafDigest)
    const handle = await open(file, 'r+')
    await handle.write(Buffer.from('not the bytes you are looking for'), 0, undefined, 4096)
    await handle.close()
    const got = await gatewayGet(holder.daemon, target.cid)
    assert.equal(got.status, 200)
    assert.ok(got.bytes.equals(target.bytes), 'the answer is the original, not the corrupt block')
    const verify = await adminFetch(holder.daemon, '/admin/v1/verify', { method: 'POST' })
    const report = await verify.json() as { corrupt: unknown[], missing: unknown[] }
    assert.deepEqual(report.corrupt, [], 'the block on disk was replaced by a verified copy')
    assert.deepEqual(report.missing, [])
  })
})

/** The CID the reference importer gives the bytes in the unixfs-v1-2025 profile (independent of fdn's own importer). */
async function referenceCid (bytes: Buffer): Promise<string> {
  let root: string | undefined
  for await (const entry of importer([{ content: (async function * () { yield bytes })() }], new MemoryBlockstore(), { profile: 'unixfs-v1-2025' })) root = entry.cid.toString()
  if (root == null) throw new Error('importer yielded nothing')
  return root
}

/** Where blockstore-fs (NextToLast sharding) keeps a block: `blocks/{last 2 chars}/{base32upper multihash}.data`. */
function blockFile (dataDir: string, digest: Buffer): string {
  const name = base32upper.encode(Uint8Array.from([0x12, 0x20, ...digest]))
  return path.join(dataDir, 'blocks', name.slice(-2), `${name}.data`)
}
