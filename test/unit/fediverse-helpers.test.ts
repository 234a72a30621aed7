/**
 * The fediverse test doubles do what the ActivityPub tests rely on, checked
 * without fdn: actors' signatures verify with Fedify (and an Ed25519 RFC 9421
 * one with the http-message-signatures library), tampered or stale ones do
 * not, and a relay subscribes a follower and forwards activities in both styles.
 */
import assert from 'node:assert/strict'
import { createPublicKey } from 'node:crypto'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { createServer } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { after, before, describe, it } from 'node:test'
import { verifyRequest } from '@fedify/fedify/sig'
import { createVerifier, httpbis } from 'http-message-signatures'
import { base58btc } from 'multiformats/bases/base58'
import { AS_PUBLIC, loopbackDocumentLoader, startActorServer, startRelay, toFetchRequest } from '../helpers/fediverse.ts'
import type { ActorServer, JsonObject, TestActor } from '../helpers/fediverse.ts'

interface Seen {
  headers: Record<string, string>
  body: string
  /** keyId Fedify verified, or null. */
  keyId: string | null
  owner: string | null
}

/** A tiny inbox that answers 202 when Fedify's verifyRequest accepts the signature, 401 otherwise. */
async function startVerifyingInbox (): Promise<{ url: string, seen: Seen[], close: () => Promise<void> }> {
  const seen: Seen[] = []
  const sockets = new Set<Socket>()
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const chunks: Buffer[] = []
    for await (const chunk of req as AsyncIterable<Buffer>) chunks.push(chunk)
    const body = Buffer.concat(chunks)
    const request = toFetchRequest(req, body)
    const spec = request.headers.has('signature-input') ? 'rfc9421' : 'draft-cavage-http-signatures-12'
    const key = await verifyRequest(request, { spec, documentLoader: loopbackDocumentLoader })
    seen.push({ headers: Object.fromEntries(request.headers), body: body.toString(), keyId: key?.id?.href ?? null, owner: key?.ownerId?.href ?? null })
    res.writeHead(key == null ? 401 : 202).end()
  }
  const server = createServer((req, res) => { void handle(req, res) })
  server.on('connection', (socket: Socket) => { sockets.add(socket); socket.on('close', () => sockets.delete(socket)) })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/inbox`,
    seen,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}

describe('actor server', () => {
  let actors: ActorServer
  let inbox: Awaited<ReturnType<typeof startVerifyingInbox>>
  let alice: TestActor
  let bob: TestActor
  let note: JsonObject

  before(async () => {
    actors = await startActorServer()
    inbox = await startVerifyingInbox()
    alice = await actors.addActor('alice')
    bob = await actors.addActor('bob', { keyDocument: 'standalone' })
    note = alice.create({ id: alice.statusUri(1), attachments: [{ url: `${actors.url}/media/a.png`, mediaType: 'image/png', digestMultibase: 'zQm' }] })
  })
  after(async () => {
    await inbox.close()
    await actors.close()
  })

  it('serves a Mastodon-shaped actor with an RSA key and an Ed25519 Multikey', async () => {
    const document = await (await fetch(alice.id, { headers: { accept: 'application/activity+json' } })).json() as JsonObject
    assert.equal(document.type, 'Person')
    assert.deepEqual(document.publicKey, { id: `${alice.id}#main-key`, owner: alice.id, publicKeyPem: (alice.document().publicKey as JsonObject).publicKeyPem })
    assert.deepEqual(document.endpoints, { sharedInbox: `${actors.url}/inbox` })
    const [multikey] = document.assertionMethod as JsonObject[]
    assert.equal(multikey.id, alice.ed25519KeyId)
    assert.match(String(multikey.publicKeyMultibase), /^z6Mk/)
    const key = await (await fetch(bob.keyId)).json() as JsonObject
    assert.equal(bob.keyId, `${actors.url}/keys/bob`)
    assert.deepEqual([key.type, key.owner], ['CryptographicKey', bob.id])
  })

  it('builds Create and Delete activities as Mastodon sends them', () => {
    const object = note.object as JsonObject
    assert.deepEqual([note.type, note.actor, note.to, object.type], ['Create', alice.id, [AS_PUBLIC], 'Note'])
    assert.deepEqual(object.attachment, [{ type: 'Document', mediaType: 'image/png', url: `${actors.url}/media/a.png`, name: null, digestMultibase: 'zQm' }])
    assert.deepEqual(alice.delete(alice.statusUri(1)).object, { id: alice.statusUri(1), type: 'Tombstone', atomUri: alice.statusUri(1) })
    assert.equal(alice.delete(alice.statusUri(1), { tombstone: false }).object, alice.statusUri(1))
    assert.deepEqual([alice.delete(alice.id).object, alice.delete(alice.id).id], [alice.id, `${alice.id}#delete`])
  })

  it('signs draft-cavage with Fedify: (request-target), host, date, digest; hs2019 too', async () => {
    assert.equal((await alice.deliver(inbox.url, note)).status, 202)
    const seen = inbox.seen.at(-1)
    assert.equal(seen?.keyId, alice.keyId)
    assert.equal(seen?.owner, alice.id)
    assert.equal(seen?.body, JSON.stringify(note))
    assert.match(seen?.headers.signature ?? '', /algorithm="rsa-sha256",headers="\(request-target\) content-type date digest host"/)
    assert.equal((await alice.deliver(inbox.url, note, { cavageAlgorithm: 'hs2019' })).status, 202)
    assert.match(inbox.seen.at(-1)?.headers.signature ?? '', /algorithm="hs2019"/)
  })

  it('signs RFC 9421 with Fedify (RSA), and a standalone key document verifies', async () => {
    assert.equal((await alice.deliver(inbox.url, note, { spec: 'rfc9421' })).status, 202)
    const headers = inbox.seen.at(-1)?.headers ?? {}
    assert.match(headers['signature-input'] ?? '', /^sig1=\("@method" "@target-uri" "@authority" "host" "date" "content-digest"\);alg="rsa-v1_5-sha256"/)
    assert.match(headers['content-digest'] ?? '', /^sha-256=:/)
    assert.equal((await bob.deliver(inbox.url, bob.delete(bob.id))).status, 202)
    assert.deepEqual([inbox.seen.at(-1)?.keyId, inbox.seen.at(-1)?.owner], [bob.keyId, bob.id])
  })

  it('signs RFC 9421 with the Ed25519 key (checked by http-message-signatures)', async () => {
    await alice.deliver(inbox.url, note, { spec: 'rfc9421', key: 'ed25519' })
    const seen = inbox.seen.at(-1)
    assert.ok(seen != null)
    assert.match(seen.headers['signature-input'] ?? '', /keyid="[^"]+#ed25519-key";alg="ed25519"/)
    const multibase = String((alice.document().assertionMethod as JsonObject[])[0].publicKeyMultibase)
    const raw = base58btc.decode(multibase).subarray(2)
    const publicKey = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' })
    const verified = await httpbis.verifyMessage({
      keyLookup: async (params) => params.keyid === alice.ed25519KeyId ? { id: alice.ed25519KeyId, algs: ['ed25519'], verify: createVerifier(publicKey, 'ed25519') } : null
    }, { method: 'POST', url: inbox.url, headers: seen.headers })
    assert.equal(verified, true)
    await alice.deliver(inbox.url, note, { spec: 'rfc9421', key: 'ed25519', tamper: 'signature' })
    const tampered = await httpbis.verifyMessage({
      keyLookup: async () => ({ id: alice.ed25519KeyId, algs: ['ed25519'], verify: createVerifier(publicKey, 'ed25519') })
    }, { method: 'POST', url: inbox.url, headers: inbox.seen.at(-1)?.headers ?? {} })
    assert.equal(tampered, false)
    await assert.rejects(alice.deliver(inbox.url, note, { key: 'ed25519' }), TypeError)
  })

  it('keyOwner, keyIdOverride and rawBody do what they say', async () => {
    const carol = await actors.addActor('carol', { keyOwner: bob.id })
    assert.equal((await carol.deliver(inbox.url, carol.delete(carol.id))).status, 202)
    assert.deepEqual([inbox.seen.at(-1)?.keyId, inbox.seen.at(-1)?.owner], [carol.keyId, bob.id])
    const dave = await actors.addActor('dave', { keyIdOverride: `${actors.url}/elsewhere/dave-key` })
    assert.equal(dave.keyId, `${actors.url}/elsewhere/dave-key`)
    assert.equal((await dave.deliver(inbox.url, note)).status, 401, 'nothing served at the keyId yet')
    actors.serve('/elsewhere/dave-key', { ...dave.document(), id: `${actors.url}/elsewhere/dave-key` })
    assert.equal((await dave.deliver(inbox.url, note)).status, 202)
    assert.equal((await alice.deliver(inbox.url, note, { rawBody: '{"type":"Create"}' })).status, 202)
    assert.equal(inbox.seen.at(-1)?.body, '{"type":"Create"}')
  })

  it('tampered, stale, unsigned and forged deliveries fail verification', async () => {
    for (const spec of ['draft-cavage', 'rfc9421'] as const) {
      for (const tamper of ['body', 'digest', 'signature'] as const) {
        assert.equal((await alice.deliver(inbox.url, note, { spec, tamper })).status, 401, `${spec} ${tamper}`)
      }
      assert.equal((await alice.deliver(inbox.url, note, { spec, date: new Date(Date.now() - 2 * 3600_000) })).status, 401, `${spec} stale`)
    }
    assert.equal((await alice.deliver(inbox.url, note, { unsigned: true })).status, 401)
    // a forgery verifies as the signer's key, whose owner is not the activity's actor
    assert.equal((await alice.deliver(inbox.url, note, { signAs: bob })).status, 202)
    assert.deepEqual([inbox.seen.at(-1)?.owner, note.actor], [bob.id, alice.id])
  })

  it('serves extra documents and logs requests; rotateKey changes the served key', async () => {
    actors.serve(`/users/alice/statuses/9`, { id: alice.statusUri(9), type: 'Tombstone' }, 410)
    assert.equal((await fetch(alice.statusUri(9))).status, 410)
    assert.ok(actors.requests.some(request => request.path === '/users/alice/statuses/9'))
    const before = (alice.document().publicKey as JsonObject).publicKeyPem
    await alice.rotateKey()
    assert.notEqual((alice.document().publicKey as JsonObject).publicKeyPem, before)
    assert.equal((await alice.deliver(inbox.url, note)).status, 202)
  })
})

describe('relay', () => {
  let actors: ActorServer
  let follower: TestActor
  let author: TestActor

  before(async () => {
    actors = await startActorServer()
    follower = await actors.addActor('follower')
    author = await actors.addActor('author')
  })
  after(async () => { await actors.close() })

  it('mastodon style: verifies the Follow, sends a signed Accept, relays the Create unchanged, honours Undo', async () => {
    const relay = await startRelay()
    try {
      const follow = { '@context': 'https://www.w3.org/ns/activitystreams', id: `${follower.id}#follow-1`, type: 'Follow', actor: follower.id, object: AS_PUBLIC }
      assert.equal((await follower.deliver(relay.inboxUrl, follow)).status, 202)
      await relay.idle()
      assert.equal(relay.subscribers.get(follower.id), `${actors.url}/inbox`)
      const accept = actors.received.find(entry => entry.activity.type === 'Accept')
      assert.ok(accept != null)
      assert.deepEqual([accept.path, accept.activity.actor, accept.activity.object], ['/inbox', relay.actorUrl, follow])
      assert.deepEqual(accept.verification, { keyId: relay.keyId, owner: relay.actorUrl })

      const create = author.create({ id: author.statusUri(1), attachments: [{ url: `${actors.url}/media/b.png`, mediaType: 'image/png' }] })
      assert.deepEqual(await relay.relay(create), [202])
      const relayed = actors.received.at(-1)
      assert.deepEqual(relayed?.activity, create)
      assert.deepEqual(relayed?.verification, { keyId: relay.keyId, owner: relay.actorUrl })

      const undo = { '@context': 'https://www.w3.org/ns/activitystreams', id: `${follower.id}#undo-1`, type: 'Undo', actor: follower.id, object: follow }
      assert.equal((await follower.deliver(relay.inboxUrl, undo)).status, 202)
      assert.equal(relay.subscribers.size, 0)
      assert.deepEqual(relay.undos, [undo])
      assert.deepEqual(await relay.relay(create), [])
    } finally {
      await relay.close()
    }
  })

  it('refuses bad signatures, forgeries and a Follow of the wrong object', async () => {
    const relay = await startRelay()
    try {
      const follow = { '@context': 'https://www.w3.org/ns/activitystreams', id: `${follower.id}#follow-2`, type: 'Follow', actor: follower.id, object: AS_PUBLIC }
      assert.equal((await follower.deliver(relay.inboxUrl, follow, { tamper: 'digest' })).status, 401)
      assert.equal((await follower.deliver(relay.inboxUrl, follow, { signAs: author })).status, 401)
      assert.equal((await follower.deliver(relay.inboxUrl, { ...follow, object: relay.actorUrl })).status, 400)
      assert.deepEqual(relay.rejected.map(entry => entry.status), [401, 401, 400])
      assert.equal(relay.follows.length, 0)
      assert.equal(relay.subscribers.size, 0)
    } finally {
      await relay.close()
    }
  })

  it('litepub style: Follow of the relay actor, manual Accept, Create relayed as an Announce', async () => {
    const relay = await startRelay({ style: 'litepub', autoAccept: false })
    try {
      const follow = { '@context': 'https://www.w3.org/ns/activitystreams', id: `${follower.id}#follow-3`, type: 'Follow', actor: follower.id, object: relay.actorUrl }
      assert.equal((await follower.deliver(relay.inboxUrl, follow, { spec: 'rfc9421' })).status, 202)
      assert.equal(relay.subscribers.size, 0)
      assert.equal(await relay.accept(follower.id), 202)
      assert.equal(relay.subscribers.get(follower.id), `${actors.url}/inbox`)
      const create = author.create({ id: author.statusUri(2), attachments: [] })
      assert.deepEqual(await relay.relay(create), [202])
      const announce = actors.received.at(-1)?.activity
      assert.deepEqual([announce?.type, announce?.actor, announce?.object], ['Announce', relay.actorUrl, create.object])
      await relay.relay(create, { embed: false })
      assert.equal(actors.received.at(-1)?.activity.object, author.statusUri(2))
      const deletion = author.delete(author.statusUri(2))
      await relay.relay(deletion)
      assert.deepEqual(actors.received.at(-1)?.activity, deletion)
    } finally {
      await relay.close()
    }
  })
})
