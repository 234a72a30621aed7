/**
 * A hash must not reveal, or hand over, another tenant's private file: the
 * retrieve API treats a blob held only privately by others as absent.
 */
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes } from 'node:crypto'
import { request as httpRequest } from 'node:http'
import { PutObjectCommand } from '@aws-sdk/client-s3'
import { digestMultibaseOf, rawCidOfSha256 } from '../../protocol/retrieve-api.ts'
import { apiRequest, errorCode, retrieve } from '../helpers/api.ts'
import { startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { createTenant, s3Client, signer } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'

const JPEG = Buffer.concat([Buffer.from('ffd8ffe000104a46494600', 'hex'), randomBytes(20_000)])
const SHA256 = createHash('sha256').update(JPEG).digest('hex')
const CID = rawCidOfSha256(SHA256)

interface ContinueAnswer { continued: boolean, status: number, body: string }

/** A signed PUT /api/v1/blobs/{cid} with `Expect: 100-continue`: the body goes only after 100 Continue. */
async function putExpectingContinue (daemon: RunningDaemon, tenant: Tenant, body: Buffer): Promise<ContinueAnswer> {
  const url = new URL(`/api/v1/blobs/${CID}`, daemon.http)
  const signed = await signer(tenant).sign({
    method: 'PUT',
    protocol: 'http:',
    hostname: url.hostname,
    port: Number(url.port),
    path: url.pathname,
    query: {},
    headers: { host: url.host, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD', 'content-length': String(body.length), expect: '100-continue' }
  })
  return await new Promise((resolve, reject) => {
    let continued = false
    const req = httpRequest(url, { method: 'PUT', headers: signed.headers })
    req.on('continue', () => { continued = true; req.end(body) })
    req.on('response', (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => { resolve({ continued, status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }) })
    })
    req.on('error', reject)
    req.flushHeaders()
  })
}

describe('retrieve API: another tenant\'s private blob', () => {
  let daemon: RunningDaemon
  let owner: Tenant
  let other: Tenant

  before(async () => {
    daemon = await startDaemon()
    owner = await createTenant(daemon, 'private-owner')
    other = await createTenant(daemon, 'curious-other')
    await s3Client(daemon, owner).send(new PutObjectCommand({ Bucket: owner.bucket, Key: 'secret.jpg', Body: JPEG, ACL: 'private' }))
  })
  after(async () => { await daemon.stop() })

  it('exists by hash for its owner only', async () => {
    const mine = await apiRequest(daemon.http, owner, { method: 'HEAD', path: `/api/v1/blobs/${CID}` })
    assert.equal(mine.status, 200)
    assert.equal(mine.headers.get('x-fdn-sha256'), SHA256)
    const theirs = await apiRequest(daemon.http, other, { method: 'HEAD', path: `/api/v1/blobs/${CID}` })
    assert.equal(theirs.status, 404)
  })

  it('is not found by a URL naming its CID, or by its digest', async () => {
    for (const request of [{ url: `http://127.0.0.1:9/ipfs/${CID}` }, { url: 'http://127.0.0.1:9/secret.jpg', digestMultibase: digestMultibaseOf(SHA256) }]) {
      const answer = await retrieve(daemon.http, other, request)
      // not local: the node went on to the origin, which this node may not reach
      assert.equal(answer.status, 400, answer.text)
      assert.equal(errorCode(answer), 'port_not_allowed')
    }
    const owned = await retrieve(daemon.http, owner, { url: `http://127.0.0.1:9/ipfs/${CID}` })
    assert.equal(owned.status, 200, owned.text)
    assert.equal((owned.json as { source: string }).source, 'local')
  })

  it('added by hash by another tenant only with its bytes', async () => {
    const wrong = await putExpectingContinue(daemon, other, Buffer.concat([JPEG.subarray(0, 100), randomBytes(JPEG.length - 100)]))
    assert.equal(wrong.continued, true)
    assert.equal(wrong.status, 422, wrong.body)
    assert.equal((JSON.parse(wrong.body) as { error: { code: string } }).error.code, 'digest_mismatch')
    const right = await putExpectingContinue(daemon, other, JPEG)
    assert.equal(right.continued, true, 'the node must ask for the body')
    assert.equal(right.status, 201, right.body)
    assert.equal((JSON.parse(right.body) as { cid: string }).cid, CID)
    const now = await apiRequest(daemon.http, other, { method: 'HEAD', path: `/api/v1/blobs/${CID}` })
    assert.equal(now.status, 200)
  })

  it('added by hash without sending the body once the node holds it publicly', async () => {
    const answer = await putExpectingContinue(daemon, owner, JPEG)
    assert.equal(answer.continued, false)
    assert.equal(answer.status, 200, answer.body)
    assert.equal((JSON.parse(answer.body) as { created: boolean }).created, false)
  })
})
