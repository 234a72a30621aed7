/**
 * What one tenant's retrieve may decide for others (issue 19, findings 2 and
 * 3): a caller's digest binds only that caller's request, never the URL cache
 * every tenant and the relay prefetch read; and an actor's Delete ends only
 * what that actor's statuses brought in, not a tenant's holding that has
 * another reason (added by hash, retrieved without an owner).
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { apiRequest, retrieve } from '../helpers/api.ts'
import { jpeg, png, sha256Hex } from '../helpers/bytes.ts'
import { startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { startActorServer } from '../helpers/fediverse.ts'
import type { ActorServer, TestActor } from '../helpers/fediverse.ts'
import { mediaRoutes, startOrigin } from '../helpers/origin.ts'
import type { Origin } from '../helpers/origin.ts'
import { createTenant, s3Client } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'
import { digestMultibaseOf, rawCidOfSha256 } from '../../protocol/retrieve-api.ts'
import type { RetrieveResponse } from '../../protocol/retrieve-api.ts'

const CAT = png(40 * 1024, 'the victim\'s cat')
const EVIL = png(30 * 1024, 'what the attacker wants shown')
const ADDED = jpeg(50 * 1024, 'added by hash, then seen in mallory\'s post')
const OWNED = jpeg(45 * 1024, 'only in mallory\'s post')

const FILES: Record<string, Buffer> = {
  '/victim/cat.png': CAT,
  '/mallory/9.jpg': ADDED,
  '/mallory/10.jpg': OWNED
}

function answerOf (answer: { status: number, text: string, json: unknown }): RetrieveResponse {
  assert.equal(answer.status, 200, answer.text)
  return answer.json as RetrieveResponse
}

describe('retrieve: what a tenant cannot decide for others', () => {
  let daemon: RunningDaemon
  let origin: Origin
  let fedi: ActorServer
  let mallory: TestActor
  let victim: Tenant
  let attacker: Tenant
  let third: Tenant

  before(async () => {
    origin = await startOrigin(mediaRoutes(FILES))
    fedi = await startActorServer()
    mallory = await fedi.addActor('mallory')
    daemon = await startDaemon({ env: { FDN_FETCH_ALLOW: '127.0.0.1/32', FDN_FETCH_PORTS: `${origin.port},${new URL(fedi.url).port}` } })
    victim = await createTenant(daemon, 'victim-instance')
    attacker = await createTenant(daemon, 'attacker-instance')
    third = await createTenant(daemon, 'third-instance')
  })
  after(async () => {
    await daemon?.stop()
    await origin?.close()
    await fedi?.close()
  })

  it('a digest names the bytes for its caller only: the URL cache learns a URL only from the URL itself', async () => {
    const url = `${origin.url}/victim/cat.png`
    await s3Client(daemon, attacker).send(new PutObjectCommand({ Bucket: attacker.bucket, Key: 'evil.png', Body: EVIL, ACL: 'public-read', ContentType: 'image/png' }))

    // the attacker's own request is answered by its digest, from the store: nothing is downloaded
    const claimed = answerOf(await retrieve(daemon.http, attacker, { url, digestMultibase: digestMultibaseOf(sha256Hex(EVIL)) }))
    assert.equal(claimed.source, 'local')
    assert.equal(claimed.sha256, sha256Hex(EVIL))
    assert.equal(origin.hits('/victim/cat.png'), 0)

    // another tenant asking for the URL gets what the URL serves, downloaded, not what the attacker claimed
    const fetched = answerOf(await retrieve(daemon.http, victim, { url, key: 'cache/cat.png' }))
    assert.equal(fetched.source, 'origin')
    assert.equal(fetched.sha256, sha256Hex(CAT))
    assert.equal(origin.hits('/victim/cat.png'), 1)
    const stored = await fetch(`${daemon.http}/${victim.bucket}/cache/cat.png`)
    assert.equal(sha256Hex(Buffer.from(await stored.arrayBuffer())), sha256Hex(CAT))

    // a real download does teach the cache: the next tenant is answered locally, with the cat
    const again = answerOf(await retrieve(daemon.http, third, { url }))
    assert.equal(again.source, 'local')
    assert.equal(again.sha256, sha256Hex(CAT))
    assert.equal(origin.hits('/victim/cat.png'), 1)

    // and a later claim by digest does not overwrite it
    answerOf(await retrieve(daemon.http, attacker, { url, digestMultibase: digestMultibaseOf(sha256Hex(EVIL)) }))
    const after = answerOf(await retrieve(daemon.http, third, { url }))
    assert.equal(after.sha256, sha256Hex(CAT))
    assert.equal(origin.hits('/victim/cat.png'), 1)
  })

  it('an actor\'s Delete leaves a tenant\'s media that is held for another reason', async () => {
    // added by hash first: the tenant holds it with no owner (and no one else holds it)
    const added = { cid: rawCidOfSha256(sha256Hex(ADDED)) }
    const put = await apiRequest(daemon.http, third, { method: 'PUT', path: `/api/v1/blobs/${added.cid}`, body: ADDED })
    assert.equal(put.status, 201, put.text)
    // then the same bytes arrive in mallory's post, retrieved naming her
    const seen = answerOf(await retrieve(daemon.http, third, { url: `${origin.url}/mallory/9.jpg`, actor: mallory.id, status: mallory.statusUri(9) }))
    assert.equal(seen.cid, added.cid)
    // the control: media the tenant holds only through mallory's status 10
    const owned = answerOf(await retrieve(daemon.http, third, { url: `${origin.url}/mallory/10.jpg`, actor: mallory.id, status: mallory.statusUri(10) }))
    assert.equal(owned.source, 'origin')

    for (const n of [9, 10]) {
      const delivered = await mallory.deliver(`${daemon.http}/inbox`, mallory.delete(mallory.statusUri(n)))
      assert.ok(delivered.status >= 200 && delivered.status < 300, `Delete of status ${n}: ${delivered.status} ${delivered.body}`)
    }

    const exists = async (cid: string): Promise<number> => (await apiRequest(daemon.http, third, { method: 'HEAD', path: `/api/v1/blobs/${cid}` })).status
    assert.equal(await exists(owned.cid), 404, 'the media only mallory\'s status brought in is gone')
    assert.equal(await exists(added.cid), 200, 'the media the tenant added by hash stays')
    const served = await fetch(`${daemon.http}/ipfs/${added.cid}`)
    assert.equal(served.status, 200)
    assert.equal(sha256Hex(Buffer.from(await served.arrayBuffer())), sha256Hex(ADDED))
  })
})
