/**
 * The node as an ActivityPub actor, against independent implementations:
 * actors whose keys and signatures come from Fedify (test/helpers/fediverse.ts),
 * two real fdn nodes in a swarm, a real origin. An owner's signed Delete
 * removes its media from the S3 keys, the public paths and the peers; any
 * other Delete changes nothing.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { GetObjectCommand } from '@aws-sdk/client-s3'
import { jpeg, png, sha256Hex } from '../helpers/bytes.ts'
import { blobView, startSwarm, status, waitFor } from '../helpers/swarm.ts'
import { startDaemon } from '../helpers/daemon.ts'
import type { SwarmMember } from '../helpers/swarm.ts'
import { createTenant, errorOf, s3Client } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { retrieve } from '../helpers/api.ts'
import { mediaRoutes, startOrigin } from '../helpers/origin.ts'
import type { Origin } from '../helpers/origin.ts'
import { startActorServer } from '../helpers/fediverse.ts'
import type { ActorServer, TestActor } from '../helpers/fediverse.ts'
import { digestMultibaseOf } from '../../protocol/retrieve-api.ts'
import type { RetrieveResponse } from '../../protocol/retrieve-api.ts'

const FILES: Record<string, Buffer> = {
  '/alice/1a.jpg': jpeg(120 * 1024, 'alice 1a'),
  '/alice/1b.png': png(80 * 1024, 'alice 1b'),
  '/alice/2.jpg': jpeg(90 * 1024, 'alice 2'),
  '/alice/3.jpg': jpeg(75 * 1024, 'alice 3'),
  '/bob/1.jpg': jpeg(70 * 1024, 'bob 1'),
  '/bob/2.jpg': jpeg(60 * 1024, 'bob 2'),
  '/bob/avatar.png': png(20 * 1024, 'bob avatar'),
  '/carol/1.jpg': jpeg(50 * 1024, 'carol 1')
}

async function gatewayStatus (member: SwarmMember, path: string): Promise<number> {
  const response = await fetch(`${member.daemon.http}${path}`)
  await response.arrayBuffer()
  return response.status
}

describe('ActivityPub: the actor, and Deletes signed by the media\'s owner', () => {
  let origin: Origin
  let fedi: ActorServer
  let alice: TestActor
  let bob: TestActor
  let carol: TestActor
  let mallory: TestActor
  let stranger: TestActor
  let nodes: SwarmMember[]
  let tenant: Tenant
  let other: Tenant
  const cids: Record<string, string> = {}

  const keep = async (path: string, owner: TestActor, status: string, options: { key?: string, on?: Tenant } = {}): Promise<RetrieveResponse> => {
    const answer = await retrieve(nodes[0]!.daemon.http, options.on ?? tenant, {
      url: `${origin.url}${path}`,
      actor: owner.id,
      ...(status !== '' ? { status } : {}),
      ...(options.key != null ? { key: options.key } : {}),
      digestMultibase: digestMultibaseOf(sha256Hex(FILES[path]!))
    })
    assert.equal(answer.status, 200, answer.text)
    const result = answer.json as RetrieveResponse
    cids[path] = result.cid
    return result
  }
  const inbox = (): string => `${nodes[0]!.daemon.http}/inbox`
  const deletions = async (member = nodes[0]!): Promise<{ received: number, applied: number, refused: number, fromPeers: number }> => (await status(member.daemon)).activitypub.deletions

  before(async () => {
    origin = await startOrigin(mediaRoutes(FILES))
    fedi = await startActorServer()
    alice = await fedi.addActor('alice')
    bob = await fedi.addActor('bob')
    carol = await fedi.addActor('carol', { keyDocument: 'standalone' })
    mallory = await fedi.addActor('mallory')
    stranger = await fedi.addActor('stranger', { keyOwner: `${fedi.url}/users/alice` })
    const fediPort = new URL(fedi.url).port
    nodes = await startSwarm(2, { FDN_FETCH_ALLOW: '127.0.0.1/32', FDN_FETCH_PORTS: `${origin.port},${fediPort}`, FDN_REPLICAS: '2', FDN_REPAIR_INTERVAL: '1s' })
    tenant = await createTenant(nodes[0]!.daemon, 'mastodon-one')
    other = await createTenant(nodes[0]!.daemon, 'misskey-two')
  })
  after(async () => {
    await Promise.all(nodes.map(async node => await node.daemon.stop()))
    await origin.close()
    await fedi.close()
  })

  it('is an Application actor with an RSA key, inboxes, WebFinger and NodeInfo 2.1', async () => {
    const base = nodes[0]!.daemon.http
    const response = await fetch(`${base}/actor`, { headers: { accept: 'application/activity+json' } })
    assert.equal(response.status, 200)
    assert.match(response.headers.get('content-type') ?? '', /^application\/activity\+json/)
    const actor = await response.json() as Record<string, any>
    assert.equal(actor.id, `${base}/actor`)
    assert.equal(actor.type, 'Application')
    assert.equal(actor.inbox, `${base}/actor/inbox`)
    assert.equal(actor.outbox, `${base}/actor/outbox`)
    assert.equal(actor.endpoints.sharedInbox, `${base}/inbox`)
    assert.equal(actor.publicKey.id, `${base}/actor#main-key`)
    assert.equal(actor.publicKey.owner, actor.id)
    assert.match(actor.publicKey.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/)
    const again = await (await fetch(`${nodes[0]!.daemon.http}/actor`)).json() as Record<string, any>
    assert.equal(again.publicKey.publicKeyPem, actor.publicKey.publicKeyPem, 'the key is kept, not made per request')

    const outbox = await (await fetch(`${base}/actor/outbox`)).json() as Record<string, unknown>
    assert.deepEqual([outbox.type, outbox.totalItems], ['OrderedCollection', 0])

    const host = new URL(base).host
    const finger = await fetch(`${base}/.well-known/webfinger?resource=acct:fdn@${host}`)
    assert.equal(finger.status, 200)
    assert.match(finger.headers.get('content-type') ?? '', /^application\/jrd\+json/)
    const jrd = await finger.json() as { subject: string, links: Array<{ rel: string, type?: string, href: string }> }
    assert.equal(jrd.subject, `acct:fdn@${host}`)
    assert.ok(jrd.links.some(link => link.rel === 'self' && link.type === 'application/activity+json' && link.href === actor.id))
    assert.equal((await fetch(`${base}/.well-known/webfinger?resource=acct:someone@${host}`)).status, 404)
    assert.equal((await fetch(`${base}/.well-known/webfinger`)).status, 400)

    const index = await (await fetch(`${base}/.well-known/nodeinfo`)).json() as { links: Array<{ rel: string, href: string }> }
    const link = index.links.find(entry => entry.rel === 'http://nodeinfo.diaspora.software/ns/schema/2.1')
    assert.ok(link != null)
    const nodeinfo = await (await fetch(link.href)).json() as Record<string, any>
    assert.equal(nodeinfo.version, '2.1')
    assert.equal(nodeinfo.software.name, 'fdn')
    assert.deepEqual(nodeinfo.protocols, ['activitypub'])
    for (const capability of ['s3', 'ipfs-gateway', 'retrieve-api', 'activitypub-delete', 'relay-prefetch']) assert.ok(nodeinfo.metadata.capabilities.includes(capability), capability)
  })

  it('a Delete of a status signed by its actor removes its media: the S3 key 404s, the public paths 410, the peer drops its copy', async () => {
    const status1 = alice.statusUri(1)
    const keyed = await keep('/alice/1a.jpg', alice, status1, { key: 'media_attachments/1a.jpg' })
    assert.equal(keyed.source, 'origin')
    await keep('/alice/1b.png', alice, status1)
    await keep('/alice/2.jpg', alice, alice.statusUri(2))
    const s3 = s3Client(nodes[0]!.daemon, tenant)
    assert.equal((await s3.send(new GetObjectCommand({ Bucket: 'mastodon-one', Key: 'media_attachments/1a.jpg' }))).ContentLength, FILES['/alice/1a.jpg']!.length)
    // key-less media is the tenant's and replicated: the second node holds a copy
    await waitFor(async () => (await blobView(nodes[1]!, cids['/alice/1b.png']!)) != null, 20_000, 'the peer to hold a copy of 1b')
    const before = await deletions()

    const answer = await alice.deliver(inbox(), alice.delete(status1, { tombstone: true }))
    assert.equal(answer.status, 202, answer.body)

    assert.equal((await errorOf(s3.send(new GetObjectCommand({ Bucket: 'mastodon-one', Key: 'media_attachments/1a.jpg' })))).status, 404)
    assert.equal(await gatewayStatus(nodes[0]!, '/mastodon-one/media_attachments/1a.jpg'), 410, 'the alias path of the key')
    assert.equal(await gatewayStatus(nodes[0]!, `/ipfs/${cids['/alice/1a.jpg']!}`), 410)
    assert.equal(await gatewayStatus(nodes[0]!, `/ipfs/${cids['/alice/1b.png']!}`), 410)
    assert.equal(await blobView(nodes[0]!, cids['/alice/1b.png']!), undefined)
    await waitFor(async () => (await blobView(nodes[1]!, cids['/alice/1b.png']!)) == null, 20_000, 'the peer to drop its copy of 1b')
    await waitFor(async () => await gatewayStatus(nodes[1]!, `/ipfs/${cids['/alice/1b.png']!}`) === 410, 30_000, 'the peer to answer 410 for 1b')
    // the actor's other status is untouched
    assert.equal(await gatewayStatus(nodes[0]!, `/ipfs/${cids['/alice/2.jpg']!}`), 200)
    const after = await deletions()
    assert.equal(after.received, before.received + 1)
    assert.equal(after.applied, before.applied + 1)
    await waitFor(async () => (await deletions(nodes[1]!)).fromPeers >= 1, 10_000, 'the peer to count the forwarded Delete')

    // a retrieve of the URL again downloads it anew (the URL cache forgot it)
    const hits = origin.hits('/alice/1b.png')
    assert.equal((await keep('/alice/1b.png', alice, status1)).source, 'origin')
    assert.equal(origin.hits('/alice/1b.png'), hits + 1)
  })

  it('a Delete of the actor, signed with RFC 9421, removes the media of all its statuses, for every tenant', async () => {
    await keep('/bob/1.jpg', bob, bob.statusUri(1), { key: 'bob/1.jpg' })
    await keep('/bob/2.jpg', bob, bob.statusUri(2))
    await keep('/bob/2.jpg', bob, bob.statusUri(2), { on: other, key: 'cache/bob-2.jpg' })
    await keep('/bob/avatar.png', bob, '')
    const answer = await bob.deliver(`${nodes[0]!.daemon.http}/actor/inbox`, bob.delete(bob.id), { spec: 'rfc9421' })
    assert.equal(answer.status, 202, answer.body)
    for (const path of ['/bob/1.jpg', '/bob/2.jpg', '/bob/avatar.png']) {
      assert.equal(await gatewayStatus(nodes[0]!, `/ipfs/${cids[path]!}`), 410, path)
      assert.equal(await blobView(nodes[0]!, cids[path]!), undefined, path)
    }
    assert.equal(await gatewayStatus(nodes[0]!, '/misskey-two/cache/bob-2.jpg'), 410)
    assert.equal(await gatewayStatus(nodes[0]!, '/mastodon-one/bob/1.jpg'), 410)
  })

  it('a trusted peer that was down when the Delete came gets it once it is back', async () => {
    await keep('/alice/3.jpg', alice, alice.statusUri(3))
    const cid = cids['/alice/3.jpg']!
    await waitFor(async () => (await blobView(nodes[1]!, cid)) != null, 20_000, 'the peer to hold a copy of 3')
    const peer = nodes[1]!
    await peer.daemon.stop()
    assert.equal((await alice.deliver(inbox(), alice.delete(alice.statusUri(3)))).status, 202)
    assert.equal(await gatewayStatus(nodes[0]!, `/ipfs/${cid}`), 410)
    nodes[1] = { ...peer, daemon: await startDaemon({ dataDir: peer.dataDir, env: peer.env }) }
    await waitFor(async () => (await deletions(nodes[1]!)).fromPeers === 1, 30_000, 'the restarted peer to get the Delete it missed')
    await waitFor(async () => (await blobView(nodes[1]!, cid)) == null, 30_000, 'the restarted peer to drop its copy')
    assert.equal(await gatewayStatus(nodes[1]!, `/ipfs/${cid}`), 410)
  })

  it('refuses Deletes that are not the owner\'s, and removes nothing', async () => {
    const status2 = alice.statusUri(2)
    const cid = cids['/alice/2.jpg']!
    const before = await deletions()
    const refusals: Array<[string, Promise<{ status: number, body: string }>, number]> = [
      ['signed by another actor', alice.deliver(inbox(), alice.delete(status2), { signAs: mallory }), 403],
      ['unsigned', alice.deliver(inbox(), alice.delete(status2), { unsigned: true }), 401],
      ['body changed after signing (wrong digest)', alice.deliver(inbox(), alice.delete(status2), { tamper: 'body' }), 401],
      ['signature changed', alice.deliver(inbox(), alice.delete(status2), { tamper: 'signature' }), 401],
      ['replayed two hours later', alice.deliver(inbox(), alice.delete(status2), { date: new Date(Date.now() - 2 * 3600_000) }), 401],
      ['a key whose owner is another actor', stranger.deliver(inbox(), { ...alice.delete(status2), actor: `${fedi.url}/users/alice` }), 401],
      ['an RFC 9421 signature over a changed body', alice.deliver(inbox(), alice.delete(status2), { spec: 'rfc9421', tamper: 'body' }), 401]
    ]
    for (const [what, pending, expected] of refusals) {
      const answer = await pending
      assert.equal(answer.status, expected, `${what}: ${answer.body}`)
      assert.match(answer.body, /"error"/, what)
    }
    // well signed, but changing nothing: another actor's Delete of alice's status, an Undo, an Update
    assert.equal((await mallory.deliver(inbox(), mallory.delete(status2))).status, 202)
    assert.equal((await alice.deliver(inbox(), { '@context': 'https://www.w3.org/ns/activitystreams', id: `${alice.id}#undo-1`, type: 'Undo', actor: alice.id, object: alice.delete(status2) })).status, 202)
    assert.equal((await alice.deliver(inbox(), { '@context': 'https://www.w3.org/ns/activitystreams', id: `${alice.id}#update-1`, type: 'Update', actor: alice.id, object: { id: status2, type: 'Note', attributedTo: alice.id, content: 'edited' } })).status, 202)
    assert.equal((await carol.deliver(inbox(), carol.delete(carol.statusUri(99)))).status, 202, 'a Delete of an unknown status (standalone key document) is accepted and changes nothing')

    assert.equal(await gatewayStatus(nodes[0]!, `/ipfs/${cid}`), 200, 'alice\'s other status keeps its media')
    assert.notEqual(await blobView(nodes[0]!, cid), undefined)
    const after = await deletions()
    assert.equal(after.refused - before.refused, refusals.length)
    assert.equal(after.applied - before.applied, 2, 'mallory\'s and carol\'s own Deletes were applied (to nothing)')
  })

  it('bad input: oversize, deep, odd shapes and a flood are refused with a clear status and change nothing', async () => {
    const cid = cids['/alice/2.jpg']!
    const post = async (body: string, contentType = 'application/activity+json'): Promise<{ status: number, text: string }> => {
      const response = await fetch(inbox(), { method: 'POST', headers: { 'content-type': contentType }, body })
      return { status: response.status, text: await response.text() }
    }
    assert.equal((await post(JSON.stringify({ type: 'Delete', actor: alice.id, object: alice.id, junk: 'x'.repeat(300 * 1024) }))).status, 413)
    const deep = await alice.deliver(inbox(), {}, { rawBody: `${'['.repeat(5000)}${']'.repeat(5000)}` })
    assert.equal(deep.status, 400, deep.body)
    const notJson = await post('{"type":', 'application/activity+json')
    assert.equal(notJson.status, 400)
    assert.equal((await post('hello', 'text/html')).status, 415)
    const empty = await fetch(inbox(), { method: 'POST' })
    assert.equal(empty.status, 400)
    assert.match(await empty.text(), /not JSON/)
    const listing = await fetch(inbox())
    assert.equal(listing.status, 405)
    assert.equal(listing.headers.get('allow'), 'POST')
    for (const shape of [[], 'Delete', { type: ['Delete'], actor: [alice.id], object: alice.id }, { type: 'Delete', actor: { id: 5 } }, { type: 'Delete', actor: 'file:///etc/passwd', object: 'x' }]) {
      const answer = await post(JSON.stringify(shape))
      assert.equal(answer.status, 400, `${JSON.stringify(shape)}: ${answer.text}`)
    }
    // signed, but its object is on another server, or missing
    assert.equal((await alice.deliver(inbox(), { ...alice.delete(status(0)), object: 'https://elsewhere.example/notes/1' })).status, 403)
    assert.equal((await alice.deliver(inbox(), { ...alice.delete(status(0)), object: [alice.statusUri(2)] })).status, 403)
    // a flood of unsigned deliveries: every one answered, none applied, the node still serves
    const flood = await Promise.all(Array.from({ length: 300 }, async (_, i) => (await post(JSON.stringify(alice.delete(alice.statusUri(2 + (i % 3)))))).status))
    assert.ok(flood.every(code => code === 401 || code === 503), `statuses: ${[...new Set(flood)].join(', ')}`)
    assert.equal(await gatewayStatus(nodes[0]!, `/ipfs/${cid}`), 200)
    assert.equal((await fetch(`${nodes[0]!.daemon.http}/healthz`)).status, 200)

    function status (n: number): string { return alice.statusUri(n) }
  })
})
