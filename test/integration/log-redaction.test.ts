// A whole session against a real daemon logging at debug: S3 with the AWS SDK
// (header-signed calls, presigned GET and PUT, a presigned URL with a session
// token), a retrieve API call of a remote instance's presigned URL, admin
// calls and `fdn tenant list` with the bearer token (and a wrong one), and
// inbox POSTs signed by Fedify (draft-cavage and RFC 9421) and with a forged
// signature. Then the daemon's whole output is searched for every secret the
// session used: none may be there, while the requests themselves are logged.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import { signRequest as fedifySignRequest } from '@fedify/fedify/sig'
import { png } from '../helpers/bytes.ts'
import { adminFetch, runCli, startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { startActorServer } from '../helpers/fediverse.ts'
import type { ActorServer } from '../helpers/fediverse.ts'
import { startOrigin } from '../helpers/origin.ts'
import type { Origin } from '../helpers/origin.ts'
import { createTenant, s3Client, signRequest } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'

/** The secrets the session used, by what they are (named in a failure). */
const secrets = new Map<string, string>()

function secret (what: string, value: string | undefined): void {
  assert.ok(value != null && value.length >= 16, `${what}: expected a secret, got ${value}`)
  secrets.set(what, value)
}

/** Every secret of a presigned URL: its signature, its credential (as sent and decoded), its session token. */
function presignedSecrets (what: string, url: string): void {
  const query = new URL(url).searchParams
  secret(`${what} X-Amz-Signature`, query.get('X-Amz-Signature') ?? undefined)
  const credential = query.get('X-Amz-Credential') ?? undefined
  secret(`${what} X-Amz-Credential`, credential)
  secret(`${what} X-Amz-Credential as sent`, /X-Amz-Credential=([^&]+)/.exec(url)?.[1])
  const token = query.get('X-Amz-Security-Token')
  if (token != null) secret(`${what} X-Amz-Security-Token`, token)
}

/** Records the Authorization header of every request an SDK client sends, as signed. */
function recordSignatures (client: S3Client, what: string): void {
  let n = 0
  client.middlewareStack.add((next) => async (args) => {
    const headers = (args.request as { headers: Record<string, string> }).headers
    const signature = /Signature=([0-9a-f]{64})/.exec(headers.authorization ?? '')?.[1]
    secret(`${what} #${++n} Authorization signature`, signature)
    return await next(args)
  }, { step: 'deserialize' })
}

describe('secrets in the logs', () => {
  let daemon: RunningDaemon
  let origin: Origin
  let fedi: ActorServer
  let output = ''

  before(async () => {
    origin = await startOrigin()
    fedi = await startActorServer()
    daemon = await startDaemon({
      env: {
        FDN_LOG_LEVEL: 'debug',
        FDN_LOG_FORMAT: 'json',
        FDN_FETCH_ALLOW: '127.0.0.1/32',
        FDN_FETCH_PORTS: `${origin.port},${new URL(fedi.url).port}`
      }
    })
  })

  after(async () => {
    if (daemon?.process.exitCode == null) await daemon?.kill()
    await origin?.close()
    await fedi?.close()
  })

  it('a session of S3, retrieve, admin and inbox calls at log level debug writes none of the secrets it used', async () => {
    secret('admin token', daemon.token)
    const tenant: Tenant = await createTenant(daemon, 'redact')
    secret('secret access key', tenant.secretAccessKey)
    const image = png(2048, 'redaction')

    // S3, signed in headers by the AWS SDK
    const s3 = s3Client(daemon, tenant)
    recordSignatures(s3, 'S3')
    await s3.send(new PutObjectCommand({ Bucket: 'redact', Key: 'cat.png', Body: image, ContentType: 'image/png', ACL: 'private' }))
    await (await s3.send(new GetObjectCommand({ Bucket: 'redact', Key: 'cat.png' }))).Body?.transformToByteArray()
    await s3.send(new ListObjectsV2Command({ Bucket: 'redact' }))

    // presigned GET and PUT, valid for 7 days
    const get = await getSignedUrl(s3, new GetObjectCommand({ Bucket: 'redact', Key: 'cat.png' }), { expiresIn: 604800 })
    presignedSecrets('presigned GET', get)
    const got = await fetch(get)
    assert.equal(got.status, 200, await got.clone().text())
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), image)
    const put = await getSignedUrl(s3, new PutObjectCommand({ Bucket: 'redact', Key: 'dog.png' }), { expiresIn: 3600 })
    presignedSecrets('presigned PUT', put)
    assert.equal((await fetch(put, { method: 'PUT', body: image })).status, 200)

    // a presigned URL with a session token (temporary credentials fdn does not issue): refused, and logged
    const sessionToken = `FwoGZXIvYXdzE${randomBytes(48).toString('base64url')}`
    const temporary = new S3Client({ endpoint: daemon.http, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: tenant.accessKeyId, secretAccessKey: tenant.secretAccessKey, sessionToken } })
    const withToken = await getSignedUrl(temporary, new GetObjectCommand({ Bucket: 'redact', Key: 'cat.png' }), { expiresIn: 600 })
    presignedSecrets('presigned with a session token', withToken)
    secret('session token', sessionToken)
    const tokenAnswer = await fetch(withToken)
    assert.ok(tokenAnswer.status < 500, `presigned URL with a session token: ${tokenAnswer.status}`)
    await tokenAnswer.arrayBuffer()

    // the retrieve API, signed like S3, asked for a remote instance's presigned URL
    const originSignature = randomBytes(32).toString('hex')
    const originCredential = `AKIAORIGIN${randomBytes(6).toString('hex').toUpperCase()}/20250601/eu-west-1/s3/aws4_request`
    const mediaPath = `/media/cat.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${encodeURIComponent(originCredential)}&X-Amz-Date=20250601T120000Z&X-Amz-Expires=604800&X-Amz-SignedHeaders=host&X-Amz-Signature=${originSignature}`
    origin.route(mediaPath, { body: png(4096, 'remote'), contentType: 'image/png' })
    secret("the origin's X-Amz-Signature", originSignature)
    secret("the origin's X-Amz-Credential", originCredential)
    const body = Buffer.from(JSON.stringify({ url: `${origin.url}${mediaPath}` }))
    const signed = await signRequest(daemon, tenant, { method: 'POST', path: '/api/v1/retrieve', headers: { 'content-type': 'application/json' }, body })
    secret('retrieve Authorization signature', signed.signature)
    const { host: _host, ...headers } = signed.headers
    const retrieved = await fetch(signed.url, { method: 'POST', headers, body })
    assert.equal(retrieved.status, 200, await retrieved.clone().text())
    assert.equal(origin.hits(mediaPath), 1, 'the node fetched the presigned URL')

    // the admin API with the token, the CLI (which sends it too), and a wrong token
    assert.equal((await adminFetch(daemon, '/admin/v1/status')).status, 200)
    assert.equal((await adminFetch(daemon, '/admin/v1/tenants')).status, 200)
    const listed = await runCli(['tenant', 'list', '--json'], { FDN_DATA: daemon.dataDir })
    assert.equal(listed.code, 0, listed.stderr)
    const wrongToken = randomBytes(32).toString('hex')
    secret('a wrong admin token', wrongToken)
    assert.equal((await fetch(`${daemon.admin}/admin/v1/status`, { headers: { authorization: `Bearer ${wrongToken}` } })).status, 401)

    // inbox POSTs with HTTP signatures made by Fedify, draft-cavage and RFC 9421, by an actor whose key the node fetches
    const keys = generateKeyPairSync('rsa', { modulusLength: 2048 })
    const actorId = `${fedi.url}/users/zed`
    const keyId = `${actorId}#main-key`
    fedi.serve('/users/zed', {
      '@context': ['https://www.w3.org/ns/activitystreams', 'https://w3id.org/security/v1'],
      id: actorId,
      type: 'Person',
      preferredUsername: 'zed',
      inbox: `${actorId}/inbox`,
      publicKey: { id: keyId, owner: actorId, publicKeyPem: keys.publicKey.export({ type: 'spki', format: 'pem' }).toString() }
    })
    const privateKey = keys.privateKey.toCryptoKey({ name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['sign'])
    for (const spec of ['draft-cavage-http-signatures-12', 'rfc9421'] as const) {
      const activity = { '@context': 'https://www.w3.org/ns/activitystreams', id: `${actorId}#delete-${spec}`, type: 'Delete', actor: actorId, object: { id: `${actorId}/statuses/1`, type: 'Tombstone' } }
      const request = await fedifySignRequest(new Request(`${daemon.http}/inbox`, { method: 'POST', body: JSON.stringify(activity), headers: { 'content-type': 'application/activity+json' } }), privateKey, new URL(keyId), { spec })
      const header = request.headers.get('signature') ?? ''
      secret(`inbox ${spec} signature`, /signature="([^"]+)"/.exec(header)?.[1] ?? /=:([^:]+):/.exec(header)?.[1])
      const answer = await fetch(request)
      assert.equal(answer.status, 202, `${spec}: ${answer.status} ${await answer.clone().text()}`)
    }
    const forged = randomBytes(256).toString('base64')
    secret('a forged inbox signature', forged)
    const refused = await fetch(`${daemon.http}/inbox`, {
      method: 'POST',
      headers: {
        'content-type': 'application/activity+json',
        date: new Date().toUTCString(),
        signature: `keyId="${keyId}",algorithm="rsa-sha256",headers="(request-target) host date",signature="${forged}"`
      },
      body: JSON.stringify({ '@context': 'https://www.w3.org/ns/activitystreams', type: 'Delete', actor: actorId, object: `${actorId}/statuses/2` })
    })
    assert.equal(refused.status, 401)

    assert.equal(await daemon.stop(), 0)
    output = daemon.output()
    for (const [what, value] of secrets) {
      const at = output.indexOf(value)
      assert.ok(at < 0, `${what} is in the log:\n${output.slice(Math.max(0, output.lastIndexOf('\n', at) + 1), output.indexOf('\n', at))}`)
    }
  })

  it('while the requests are logged, with their secrets marked as taken out', () => {
    assert.ok(output !== '', 'the session ran')
    const events = output.split('\n').filter(line => line.startsWith('{')).map(line => JSON.parse(line) as { msg?: string, url?: string, status?: number })
    const requests = events.filter(e => e.msg === 'request')
    const presigned = requests.filter(e => e.url?.startsWith('/redact/cat.png?') === true && e.status === 200)
    assert.ok(presigned.some(e => e.url?.includes('X-Amz-Credential=[redacted]') === true && e.url.includes('X-Amz-Signature=[redacted]') && e.url.includes('X-Amz-Expires=604800')), `no access-log line of the presigned GET:\n${JSON.stringify(presigned)}`)
    assert.ok(requests.some(e => e.url?.includes('X-Amz-Security-Token=[redacted]') === true), 'the session-token URL is logged')
    assert.ok(requests.filter(e => e.url === '/inbox').length >= 3, 'the inbox POSTs are logged')
    assert.ok(events.some(e => e.msg === 'retrieve' && e.url?.includes('X-Amz-Signature=[redacted]') === true), 'the debug line of the retrieve call names its URL, redacted')
  })
})
