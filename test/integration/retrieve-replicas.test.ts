/**
 * Media a tenant retrieves without a key is the tenant's like an object: it
 * counts towards its bytes, is copied to the tenant's `replicas`, serves the
 * other media servers of the swarm, and goes with the tenant when it is
 * removed with --purge.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { adminFetch } from '../helpers/daemon.ts'
import { jpeg, sha256Hex } from '../helpers/bytes.ts'
import { blobView, startSwarm, status, waitFor } from '../helpers/swarm.ts'
import type { SwarmMember } from '../helpers/swarm.ts'
import { createTenant } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { retrieve } from '../helpers/api.ts'
import { startOrigin } from '../helpers/origin.ts'
import type { Origin } from '../helpers/origin.ts'
import { digestMultibaseOf } from '../../protocol/retrieve-api.ts'
import type { RetrieveResponse } from '../../protocol/retrieve-api.ts'
import type { TenantView } from '../../protocol/admin-api.ts'

const MEDIA = jpeg(300 * 1024, 'replicated media')

async function tenantBytes (member: SwarmMember, name: string): Promise<number> {
  const response = await adminFetch(member.daemon, `/admin/v1/tenants/${name}`)
  assert.equal(response.status, 200)
  return (await response.json() as TenantView).logicalBytes
}

describe('retrieve API: media held without a key', () => {
  let origin: Origin
  let nodes: SwarmMember[]
  let first: Tenant
  let second: Tenant
  let cid: string

  before(async () => {
    origin = await startOrigin({ '/media/photo.jpg': { body: MEDIA, contentType: 'image/jpeg' } })
    nodes = await startSwarm(2, { FDN_FETCH_ALLOW: '127.0.0.1/32', FDN_FETCH_PORTS: String(origin.port), FDN_REPLICAS: '2', FDN_REPAIR_INTERVAL: '1s' })
    first = await createTenant(nodes[0]!.daemon, 'first-instance')
    second = await createTenant(nodes[1]!.daemon, 'second-instance')
  })
  after(async () => {
    await Promise.all(nodes.map(async node => await node.daemon.stop()))
    await origin.close()
  })

  it('is the tenant\'s: a media reference, its bytes, copied to its replicas', async () => {
    const answer = await retrieve(nodes[0]!.daemon.http, first, { url: `${origin.url}/media/photo.jpg` })
    assert.equal(answer.status, 200, answer.text)
    const result = answer.json as RetrieveResponse
    assert.equal(result.source, 'origin')
    cid = result.cid
    assert.equal(await tenantBytes(nodes[0]!, 'first-instance'), MEDIA.length)
    const peer = nodes[1]!.peerId
    await waitFor(async () => (await blobView(nodes[0]!, cid))?.holders.includes(peer) === true, 20_000, 'the second node to hold a copy')
    const view = await blobView(nodes[0]!, cid)
    assert.deepEqual(view?.refs.map(ref => `${ref.kind}:${ref.holder}:${String(ref.public)}`), ['media:first-instance:true'])
    const copy = await blobView(nodes[1]!, cid)
    assert.deepEqual(copy?.refs.map(ref => ref.kind), ['replica'])
    assert.equal((await status(nodes[1]!.daemon)).swarm.heldForPeers, 1)
  })

  it('serves another media server by its digest, with no second download, costing that tenant nothing', async () => {
    const answer = await retrieve(nodes[1]!.daemon.http, second, { url: `${origin.url}/media/photo.jpg?size=small`, digestMultibase: digestMultibaseOf(sha256Hex(MEDIA)) })
    assert.equal(answer.status, 200, answer.text)
    assert.equal((answer.json as RetrieveResponse).source, 'local', 'the second node holds the replica')
    assert.equal((answer.json as RetrieveResponse).cid, cid)
    assert.equal(origin.hits('/media/photo.jpg'), 1)
    assert.equal(origin.hits('/media/photo.jpg?size=small'), 0)
    assert.equal(await tenantBytes(nodes[1]!, 'second-instance'), 0)
    const served = Buffer.from(await (await fetch((answer.json as RetrieveResponse).url)).arrayBuffer())
    assert.deepEqual(served, MEDIA)
  })

  it('goes with its tenant: removal needs --purge, which releases every copy', async () => {
    const refused = await adminFetch(nodes[0]!.daemon, '/admin/v1/tenants/first-instance', { method: 'DELETE' })
    assert.equal(refused.status, 409)
    assert.match(await refused.text(), /--purge/)
    const purged = await adminFetch(nodes[0]!.daemon, '/admin/v1/tenants/first-instance?purge=true', { method: 'DELETE' })
    assert.equal(purged.status, 200, await purged.text())
    assert.equal(await blobView(nodes[0]!, cid), undefined)
    await waitFor(async () => await blobView(nodes[1]!, cid) === undefined, 20_000, 'the copy on the second node to be released')
    assert.equal((await status(nodes[1]!.daemon)).swarm.heldForPeers, 0)
  })
})
