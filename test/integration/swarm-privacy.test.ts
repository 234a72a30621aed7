/**
 * Who may read a private blob (issue 19, findings 1 and 4). Two trusted
 * nodes replicate a tenant's private object; an untrusted fdn node joins the
 * open swarm through the origin, and a bare DHT client asks who provides
 * what. The private blob is announced to nobody, served over bitswap only to
 * the holder its placement names (not to the untrusted node, not even while
 * the hold is in flight), and every gateway answers it, and each of its
 * blocks, exactly as a CID it never held. Recovery still reads it back.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readdir, rm } from 'node:fs/promises'
import path from 'node:path'
import { GetObjectCommand, PutObjectAclCommand, PutObjectCommand } from '@aws-sdk/client-s3'
import { importer } from 'ipfs-unixfs-importer'
import { MemoryBlockstore } from 'blockstore-core'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@libp2p/noise'
import { yamux } from '@libp2p/yamux'
import { identify } from '@libp2p/identify'
import { ping } from '@libp2p/ping'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { multiaddr } from '@multiformats/multiaddr'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { RAW_CODEC } from '../../protocol/cid-profile.ts'
import { KAD_PROTOCOL } from '../../node/swarm/swarm-node.ts'
import { MiB, seededBytes, sha256Hex } from '../helpers/bytes.ts'
import { runCli, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { createTenant, s3Client } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { blobView, initNode, startSwarm, status, waitFor } from '../helpers/swarm.ts'
import type { SwarmMember } from '../helpers/swarm.ts'

const SECRET = seededBytes(3 * MiB + 12_345, 'a private multi-block object')
const OPEN = seededBytes(2 * MiB + 777, 'a public multi-block object')

/** The raw leaf CIDs of a file under fdn's profile (1 MiB raw leaves). */
async function leaves (bytes: Uint8Array): Promise<string[]> {
  const cids: string[] = []
  for (let at = 0; at < bytes.length; at += MiB) cids.push(CID.createV1(RAW_CODEC, await sha256.digest(bytes.subarray(at, at + MiB))).toString())
  return cids
}

/** The CID under fdn's profile, from the reference IPFS importer. */
async function referenceCid (bytes: Uint8Array): Promise<string> {
  let root: string | undefined
  for await (const entry of importer([{ content: (async function * () { yield bytes })() }], new MemoryBlockstore(), { profile: 'unixfs-v1-2025' })) root = entry.cid.toString()
  if (root == null) throw new Error('importer yielded nothing')
  return root
}

async function get (base: string, route: string, method = 'GET'): Promise<{ status: number, body: Buffer, text: string }> {
  const response = await fetch(`${base}${route}`, { method })
  const body = Buffer.from(await response.arrayBuffer())
  return { status: response.status, body, text: body.toString('utf8') }
}

/** The peers the DHT names as providers of `cid`, asked from a bare client (empty once the lookup ends). */
async function providers (client: Libp2p, cid: string): Promise<string[]> {
  const found: string[] = []
  try {
    for await (const provider of client.contentRouting.findProviders(CID.parse(cid), { signal: AbortSignal.timeout(5_000) })) found.push(provider.id.toString())
  } catch {
    // the lookup ran out of time: what was found so far is the answer
  }
  return found
}

describe('private blobs in an open swarm', { timeout: 240_000 }, () => {
  let nodes: SwarmMember[]
  let origin: SwarmMember
  let holder: SwarmMember
  let stranger: RunningDaemon
  let dht: Libp2p
  let tenant: Tenant
  let secretCid: string
  let openCid: string

  before(async () => {
    secretCid = await referenceCid(SECRET)
    openCid = await referenceCid(OPEN)
    nodes = await startSwarm(2, { FDN_REPAIR_INTERVAL: '1s' })
    origin = nodes[0]!
    holder = nodes[1]!
    const originAddress = (await status(origin.daemon)).addresses.swarm[0]!
    // a node that trusts no one and no one trusts: anyone may join an open swarm like this
    const strangerNode = await initNode()
    stranger = await startDaemon({ dataDir: strangerNode.dataDir, env: { FDN_BOOTSTRAP: originAddress, FDN_FETCH_TIMEOUT: '4s' } })
    dht = await createLibp2p({
      addresses: { listen: [] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      services: { identify: identify(), ping: ping(), dht: kadDHT({ protocol: KAD_PROTOCOL, clientMode: true, peerInfoMapper: passthroughMapper }) }
    })
    await dht.dial(multiaddr(originAddress))
    tenant = await createTenant(origin.daemon, 'private-media', { replicas: 2 })
  })
  after(async () => {
    await dht?.stop()
    await stranger?.stop()
    await Promise.all((nodes ?? []).map(async node => await node.daemon.stop()))
  })

  it('is served to no peer but its holder, even while the hold is in flight, and announced to nobody', async () => {
    const s3 = s3Client(origin.daemon, tenant)
    await s3.send(new PutObjectCommand({ Bucket: tenant.bucket, Key: 'secret.bin', Body: SECRET, ACL: 'private' }))
    await s3.send(new PutObjectCommand({ Bucket: tenant.bucket, Key: 'open.bin', Body: OPEN, ACL: 'public-read' }))
    // right away, while the holder is still being granted its copy
    const early = await get(stranger.http, `/ipfs/${secretCid}`)
    assert.notEqual(early.status, 200, 'the untrusted node got the private object while it was being replicated')
    assert.ok(!early.body.includes(SECRET.subarray(0, 64)), 'no byte of the private object reached the untrusted node')
    const [leaf] = await leaves(SECRET)
    assert.notEqual((await get(stranger.http, `/ipfs/${leaf}?format=raw`)).status, 200, 'a leaf of the private object reached the untrusted node')

    await waitFor(async () => (await blobView(holder, secretCid))?.refs.some(ref => ref.kind === 'replica' && !ref.public) === true, 60_000, 'the trusted holder to take its private copy')
    assert.notEqual((await get(stranger.http, `/ipfs/${secretCid}`)).status, 200, 'the untrusted node got the private object after replication')

    // the control: the same path works for a public object, so the refusals above are the policy's
    await waitFor(async () => (await providers(dht, openCid)).includes(origin.peerId), 30_000, 'the public object to be announced')
    const open = await get(stranger.http, `/ipfs/${openCid}`)
    assert.equal(open.status, 200)
    assert.equal(sha256Hex(open.body), sha256Hex(OPEN))
    assert.deepEqual(await providers(dht, secretCid), [], 'a private blob has no provider record')
  })

  it('every gateway answers a private blob, and each of its blocks, as a CID no peer has', async () => {
    const [leaf] = await leaves(SECRET)
    for (const member of [origin, holder]) {
      const base = member.daemon.http
      for (const [cid, route] of [[secretCid, ''], [secretCid, '?format=raw'], [secretCid, '?format=car'], [leaf!, '?format=raw'], [leaf!, '?format=car&dag-scope=block'], [leaf!, '']]) {
        const answer = await get(base, `/ipfs/${cid}${route}`)
        assert.equal(answer.status, 404, `${cid}${route} on ${member.peerId}: ${answer.text}`)
        // the words a read of a blob no peer serves gets (node/swarm/swarm-fetch.ts), not "forbidden"
        assert.deepEqual(JSON.parse(answer.text), { error: { code: 'not_found', message: `${cid} is not held by this node, and no swarm peer has it` } })
      }
      assert.equal((await get(base, `/ipfs/${secretCid}`, 'HEAD')).status, 404)
    }
    // the leaves of a public object are served: the refusals above are about privacy, not leaves
    const [openLeaf] = await leaves(OPEN)
    const served = await get(origin.daemon.http, `/ipfs/${openLeaf!}?format=raw`)
    assert.equal(served.status, 200)
    assert.ok(served.body.equals(OPEN.subarray(0, MiB)))
  })

  it('made public, it is announced and served; recovery still reads private copies back from the holder', async () => {
    const s3 = s3Client(origin.daemon, tenant)
    const later = seededBytes(50_000, 'private, then public')
    const laterCid = await referenceCid(later)
    await s3.send(new PutObjectCommand({ Bucket: tenant.bucket, Key: 'later.bin', Body: later, ACL: 'private' }))
    await waitFor(async () => (await blobView(holder, laterCid)) != null, 60_000, 'the holder to take the second private copy')
    assert.deepEqual(await providers(dht, laterCid), [])
    await s3.send(new PutObjectAclCommand({ Bucket: tenant.bucket, Key: 'later.bin', ACL: 'public-read' }))
    await waitFor(async () => (await providers(dht, laterCid)).includes(origin.peerId), 30_000, 'the object made public to be announced')
    const opened = await get(stranger.http, `/ipfs/${laterCid}`)
    assert.equal(opened.status, 200)
    assert.ok(opened.body.equals(later))
    await waitFor(async () => (await status(origin.daemon)).replication.pending === 0, 30_000, 'the manifest to be replicated')

    // the origin loses its disk and comes back with its identity alone
    await origin.daemon.stop()
    for (const name of await readdir(origin.dataDir)) {
      if (name !== 'identity.key') await rm(path.join(origin.dataDir, name), { recursive: true, force: true })
    }
    const holderAddress = (await status(holder.daemon)).addresses.swarm[0]!
    origin.daemon = await startDaemon({ dataDir: origin.dataDir, env: { ...origin.env, FDN_BOOTSTRAP: holderAddress } })
    await waitFor(async () => (await status(origin.daemon)).swarm.trustedHealthy === 1, 30_000, 'the origin to see its holder again')
    const recover = await runCli(['recover', '--json'], { FDN_DATA: origin.dataDir }, undefined, { timeoutMs: 120_000 })
    assert.equal(recover.code, 0, `${recover.stderr} ${recover.stdout}`)
    const back = await s3Client(origin.daemon, tenant).send(new GetObjectCommand({ Bucket: tenant.bucket, Key: 'secret.bin' }))
    assert.equal(sha256Hex(Buffer.from(await back.Body!.transformToByteArray())), sha256Hex(SECRET), 'the private object came back from the holder')
    assert.notEqual((await get(stranger.http, `/ipfs/${secretCid}`)).status, 200)
  })
})
