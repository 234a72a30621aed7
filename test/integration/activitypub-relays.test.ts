/**
 * Relays: `fdn relay add` follows a Mastodon-style and a LitePub relay (test
 * relays that verify the node's signatures with Fedify), the posts they
 * deliver are prefetched, and an instance retrieving those attachments
 * afterwards causes no origin traffic.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { runCli, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { jpeg, png, sha256Hex } from '../helpers/bytes.ts'
import { status, waitFor } from '../helpers/swarm.ts'
import { createTenant } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { retrieve } from '../helpers/api.ts'
import { mediaRoutes, startOrigin } from '../helpers/origin.ts'
import type { Origin } from '../helpers/origin.ts'
import { startActorServer, startRelay } from '../helpers/fediverse.ts'
import type { ActorServer, TestActor, TestRelay } from '../helpers/fediverse.ts'
import { digestMultibaseOf } from '../../protocol/retrieve-api.ts'
import type { RetrieveResponse } from '../../protocol/retrieve-api.ts'
import type { RelayView } from '../../protocol/relay-api.ts'

const FILES: Record<string, Buffer> = {
  '/carol/1.jpg': jpeg(150 * 1024, 'carol relayed 1'),
  '/carol/2.png': png(90 * 1024, 'carol relayed 2'),
  '/carol/3.jpg': jpeg(40 * 1024, 'carol relayed 3'),
  '/carol/4.jpg': jpeg(45 * 1024, 'carol announced by id'),
  '/carol/5.jpg': jpeg(35 * 1024, 'carol spoofed note'),
  '/carol/7.jpg': jpeg(33 * 1024, 'carol ld-signed delete'),
  '/dave/1.jpg': jpeg(30 * 1024, 'dave direct')
}

const attachment = (origin: Origin, path: string): { url: string, mediaType: string, digestMultibase: string } =>
  ({ url: `${origin.url}${path}`, mediaType: path.endsWith('.png') ? 'image/png' : 'image/jpeg', digestMultibase: digestMultibaseOf(sha256Hex(FILES[path]!)) })

describe('ActivityPub relays: subscribe, prefetch, serve with no origin traffic', () => {
  let origin: Origin
  let fedi: ActorServer
  let carol: TestActor
  let dave: TestActor
  let mastodonRelay: TestRelay
  let litepubRelay: TestRelay
  let daemon: RunningDaemon
  let tenant: Tenant
  const cli = async (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> => await runCli(args, { FDN_DATA: daemon.dataDir })

  before(async () => {
    origin = await startOrigin(mediaRoutes(FILES))
    fedi = await startActorServer()
    carol = await fedi.addActor('carol')
    dave = await fedi.addActor('dave')
    mastodonRelay = await startRelay({ style: 'mastodon' })
    litepubRelay = await startRelay({ style: 'litepub', reciprocalFollow: true })
    const ports = [origin.port, ...[fedi.url, mastodonRelay.url, litepubRelay.url].map(url => new URL(url).port)]
    daemon = await startDaemon({ env: { FDN_FETCH_ALLOW: '127.0.0.1/32', FDN_FETCH_PORTS: ports.join(','), FDN_BOOTSTRAP: '' } })
    tenant = await createTenant(daemon, 'relay-reader')
  })
  after(async () => {
    await daemon.stop()
    await Promise.all([origin.close(), fedi.close(), mastodonRelay.close(), litepubRelay.close()])
  })

  it('fdn relay add follows a Mastodon-style relay (Follow of Public, signed) and waits for its Accept', async () => {
    const added = await cli('relay', 'add', mastodonRelay.inboxUrl, '--json')
    assert.equal(added.code, 0, added.stderr + added.stdout)
    const view = JSON.parse(added.stdout) as RelayView
    assert.equal(view.state, 'accepted')
    assert.equal(view.style, 'mastodon')
    assert.equal(mastodonRelay.follows.length, 1)
    const follow = mastodonRelay.follows[0]!
    assert.equal(follow.type, 'Follow')
    assert.equal(follow.object, 'https://www.w3.org/ns/activitystreams#Public')
    assert.equal(follow.actor, `${daemon.http}/actor`)
    assert.equal(mastodonRelay.rejected.length, 0, 'Fedify verified the node\'s signature')
    assert.equal(mastodonRelay.subscribers.get(`${daemon.http}/actor`), `${daemon.http}/inbox`, 'the relay delivers to the shared inbox')
  })

  it('prefetches a relayed post\'s two attachments once; a retrieve of both afterwards is local with no origin request', async () => {
    const note = { id: carol.statusUri(1), attachments: [attachment(origin, '/carol/1.jpg'), attachment(origin, '/carol/2.png')] }
    const statuses = await mastodonRelay.relay(carol.create(note))
    assert.deepEqual(statuses, [202])
    await waitFor(async () => (await status(daemon)).activitypub.prefetch.fetched === 2, 15_000, 'two prefetched attachments')
    assert.equal(origin.hits('/carol/1.jpg'), 1)
    assert.equal(origin.hits('/carol/2.png'), 1)
    for (const path of ['/carol/1.jpg', '/carol/2.png']) {
      const answer = await retrieve(daemon.http, tenant, { url: `${origin.url}${path}`, digestMultibase: attachment(origin, path).digestMultibase, actor: carol.id, status: carol.statusUri(1) })
      assert.equal(answer.status, 200, answer.text)
      const result = answer.json as RetrieveResponse
      assert.equal(result.source, 'local', path)
      const served = Buffer.from(await (await fetch(result.url)).arrayBuffer())
      assert.deepEqual(served, FILES[path])
    }
    assert.equal(origin.hits('/carol/1.jpg'), 1, 'exactly one download of each attachment')
    assert.equal(origin.hits('/carol/2.png'), 1)
    const counts = (await status(daemon)).activitypub.prefetch
    assert.equal(counts.bytes, FILES['/carol/1.jpg']!.length + FILES['/carol/2.png']!.length)
  })

  it('the owner\'s Delete removes prefetched media too', async () => {
    const cid = (JSON.parse((await retrieve(daemon.http, tenant, { url: `${origin.url}/carol/2.png` })).text) as RetrieveResponse).cid
    assert.equal((await carol.deliver(`${daemon.http}/inbox`, carol.delete(carol.statusUri(1)))).status, 202)
    assert.equal((await fetch(`${daemon.http}/ipfs/${cid}`)).status, 410)
  })

  it('does not prefetch what anyone but a followed relay delivers', async () => {
    const before = (await status(daemon)).activitypub.prefetch.offered
    const answer = await dave.deliver(`${daemon.http}/inbox`, dave.create({ id: dave.statusUri(1), attachments: [attachment(origin, '/dave/1.jpg')] }))
    assert.equal(answer.status, 202)
    assert.match(answer.body, /only posts from followed relays/)
    assert.equal((await status(daemon)).activitypub.prefetch.offered, before)
    assert.equal(origin.hits('/dave/1.jpg'), 0)
  })

  it('follows a LitePub relay by its actor, accepts its Follow back, and prefetches what it Announces', async () => {
    const added = await cli('relay', 'add', litepubRelay.actorUrl, '--json')
    assert.equal(added.code, 0, added.stderr + added.stdout)
    assert.equal((JSON.parse(added.stdout) as RelayView).style, 'litepub')
    assert.equal(litepubRelay.follows[0]?.object, litepubRelay.actorUrl)
    // LitePub relays follow their subscribers back: the node accepts a followed relay's Follow
    await waitFor(async () => litepubRelay.received.some(activity => activity.type === 'Accept' && (activity.object as { type?: string } | undefined)?.type === 'Follow'), 10_000, 'the node to accept the relay\'s Follow')
    const stranger = await dave.deliver(`${daemon.http}/inbox`, { '@context': 'https://www.w3.org/ns/activitystreams', id: `${dave.id}#follow-1`, type: 'Follow', actor: dave.id, object: `${daemon.http}/actor` })
    assert.equal(stranger.status, 202)
    assert.match(stranger.body, /shares no posts/)
    const statuses = await litepubRelay.relay(carol.create({ id: carol.statusUri(2), attachments: [attachment(origin, '/carol/3.jpg')] }))
    assert.deepEqual(statuses, [202])
    await waitFor(async () => origin.hits('/carol/3.jpg') === 1 && (await status(daemon)).activitypub.prefetch.fetched === 3, 15_000, 'the announced attachment prefetched')
    const answer = await retrieve(daemon.http, tenant, { url: `${origin.url}/carol/3.jpg` })
    assert.equal((answer.json as RetrieveResponse).source, 'local')
  })

  it('fetches a note a LitePub relay announces by its ID alone, and prefetches its attachments', async () => {
    const create = carol.create({ id: carol.statusUri(4), attachments: [attachment(origin, '/carol/4.jpg')] })
    fedi.serve(new URL(carol.statusUri(4)).pathname, create.object, 200)
    const before = (await status(daemon)).activitypub.inbox
    assert.deepEqual(await litepubRelay.relay(create, { embed: false }), [202])
    await waitFor(async () => origin.hits('/carol/4.jpg') === 1, 15_000, 'the announced note\'s attachment prefetched')
    // a note served under another ID is not taken for the announced one
    const spoofed = carol.create({ id: carol.statusUri(5), attachments: [attachment(origin, '/carol/5.jpg')] })
    fedi.serve(new URL(carol.statusUri(5)).pathname, { ...(spoofed.object as Record<string, unknown>), id: carol.statusUri(6) }, 200)
    assert.deepEqual(await litepubRelay.relay(spoofed, { embed: false }), [202])
    await waitFor(async () => (await status(daemon)).activitypub.inbox.notesSkipped === before.notesSkipped + 1, 10_000, 'the spoofed note refused')
    assert.equal(origin.hits('/carol/5.jpg'), 0)
    assert.equal((await status(daemon)).activitypub.inbox.notesFetched, before.notesFetched + 1)
  })

  it('a Delete a relay forwards is applied only once the status is gone at its server', async () => {
    const cid = (JSON.parse((await retrieve(daemon.http, tenant, { url: `${origin.url}/carol/3.jpg` })).text) as RetrieveResponse).cid
    const statusPath = new URL(carol.statusUri(2)).pathname
    const before = (await status(daemon)).activitypub.deletions
    fedi.serve(statusPath, { id: carol.statusUri(2), type: 'Note', attributedTo: carol.id }, 200)
    assert.deepEqual(await litepubRelay.relay(carol.delete(carol.statusUri(2))), [202])
    assert.equal((await fetch(`${daemon.http}/ipfs/${cid}`)).status, 200, 'the status still exists: the relay\'s word is not enough')
    fedi.serve(statusPath, { error: 'gone' }, 410)
    assert.deepEqual(await litepubRelay.relay(carol.delete(carol.statusUri(2))), [202])
    assert.equal((await fetch(`${daemon.http}/ipfs/${cid}`)).status, 410)
    const after = (await status(daemon)).activitypub.deletions
    assert.deepEqual([after.received - before.received, after.applied - before.applied, after.refused - before.refused], [2, 1, 1])
  })

  it('a relayed Delete that carries its author\'s Linked Data signature is applied at once; a forged one is refused', async () => {
    const create = carol.create({ id: carol.statusUri(7), attachments: [attachment(origin, '/carol/7.jpg')] })
    assert.deepEqual(await litepubRelay.relay(create), [202])
    await waitFor(async () => origin.hits('/carol/7.jpg') === 1, 15_000, 'the attachment of status 7 prefetched')
    const cid = (JSON.parse((await retrieve(daemon.http, tenant, { url: `${origin.url}/carol/7.jpg` })).text) as RetrieveResponse).cid
    fedi.serve(new URL(carol.statusUri(7)).pathname, create.object, 200)

    const forged = await dave.ldSign(carol.delete(carol.statusUri(7)) as Record<string, unknown>)
    assert.deepEqual(await litepubRelay.relay({ ...forged, signature: { ...(forged.signature as Record<string, unknown>), creator: `${carol.id}#main-key` } }), [401])
    assert.deepEqual(await litepubRelay.relay(await dave.ldSign({ ...carol.delete(carol.statusUri(7)), actor: dave.id })), [202], 'dave\'s own Delete of carol\'s status')
    assert.equal((await fetch(`${daemon.http}/ipfs/${cid}`)).status, 200, 'the status still exists and nothing the author signed deleted it')

    assert.deepEqual(await litepubRelay.relay(await carol.ldSign(carol.delete(carol.statusUri(7)))), [202])
    assert.equal((await fetch(`${daemon.http}/ipfs/${cid}`)).status, 410)
  })

  it('fdn relay list shows both; remove sends Undo; a relay that cannot be reached is reported', async () => {
    const list = await cli('relay', 'list', '--json')
    assert.equal(list.code, 0, list.stderr)
    const relays = JSON.parse(list.stdout) as RelayView[]
    assert.deepEqual(relays.map(relay => relay.state).sort(), ['accepted', 'accepted'])
    const table = await cli('relay', 'list')
    assert.match(table.stdout, /accepted/)

    const removed = await cli('relay', 'remove', mastodonRelay.inboxUrl, '--json')
    assert.equal(removed.code, 0, removed.stderr)
    assert.equal(mastodonRelay.undos.length, 1)
    assert.equal(mastodonRelay.subscribers.size, 0)
    assert.equal((JSON.parse((await cli('relay', 'list', '--json')).stdout) as RelayView[]).length, 1)

    const unreachable = await cli('relay', 'add', `${fedi.url}/no-such-relay/inbox`)
    assert.notEqual(unreachable.code, 0)
    assert.match(unreachable.stderr, /404/)
    const status = (await cli('status')).stdout
    assert.match(status, /relays: +1 accepted/)
  })
})
