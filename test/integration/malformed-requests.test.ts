// A corpus of malformed requests against every surface of one real daemon, over raw sockets: the
// public gateway, the S3 API (anonymous, header-signed and presigned), the retrieve API, the
// ActivityPub routes and the admin listener. Whatever arrives, the answer is a client error (or a
// success) with a status and a message in the surface's shape, never a 5xx; the node logs no error
// and no stack, and still serves.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { addBytes, rawExchange, startDaemon, writeAll } from '../helpers/daemon.ts'
import type { RawResponse, RunningDaemon } from '../helpers/daemon.ts'
import { pngBytes } from '../helpers/bytes.ts'
import { createTenant, signRequest } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'

const Bucket = 'corpus'
const png = pngBytes(3000)

interface Probe {
  name: string
  listener: 'http' | 'admin'
  method: string
  /** the request target as it goes on the wire (Latin-1: a byte per character) */
  target: string
  headers?: Record<string, string>
  body?: string | Buffer
  /** SigV4-sign as the tenant (before `tamper` changes headers), the payload hash given or the body's */
  signed?: { contentSha256?: string, date?: Date }
  tamper?: (headers: Record<string, string>) => void
  /** bytes sent as they are instead of a request built from the fields above */
  raw?: Buffer
  /** announce a body of this many bytes, send `body`, then hang up (the answer, if any, is never read by a real client) */
  truncatedAt?: number
}

const md5 = (body: string | Buffer): string => createHash('md5').update(body).digest('base64')
const repeat = (text: string, times: number): string => text.repeat(times)

/** The public gateway: /ipfs paths, formats, ranges and methods it does not take. */
function gatewayProbes (cid: string): Probe[] {
  const probes: Probe[] = []
  const targets = [
    '/ipfs/', '/ipfs/notacid', '/ipfs/bafk%ZZ', '/ipfs/%ff%fe%fd', '/ipfs/%00', `/ipfs/${cid}/../../etc/passwd`, `/ipfs/${cid}/%2e%2e/x`,
    `/ipfs/${cid}?format=tar`, `/ipfs/${cid}?format=car&dag-scope=everything`, `/ipfs/${cid}?format=%ff`, `/ipfs/${cid}?filename=%00%0d%0aset-cookie:a=b`,
    `/ipfs/${cid}?download=%zz`, `/ipfs/${cid}?format=raw&format=car`, `/ipfs/${repeat('b', 3000)}`, `/ipfs/Qm${repeat('1', 44)}`,
    `/ipfs/${cid}?${repeat('a=b&', 500)}`, '/healthz?%zz', '/readyz/%ff', '/%', '/%%', '/..', '//'
  ]
  for (const target of targets) probes.push({ name: `gateway GET ${target.slice(0, 60)}`, listener: 'http', method: 'GET', target })
  const headerCases: Array<Record<string, string>> = [
    { range: 'bytes=abc' }, { range: 'bytes=5-1' }, { range: 'bytes=-' }, { range: 'items=0-1' }, { range: `bytes=${repeat('0-0,', 2000)}0-0` },
    { range: 'bytes=99999999999999999999999-' }, { accept: 'application/vnd.ipld.car; version=9' }, { accept: repeat('a/b;q=0.1, ', 500) },
    { 'if-none-match': '"' }, { 'if-none-match': repeat('W/', 1000) }, { 'content-type': 'a/b, c/d' }, { 'accept-encoding': 'gzip;q=x' }
  ]
  for (const headers of headerCases) probes.push({ name: `gateway GET /ipfs with ${JSON.stringify(headers).slice(0, 60)}`, listener: 'http', method: 'GET', target: `/ipfs/${cid}`, headers })
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH', 'TRACE', 'PROPFIND']) {
    probes.push({ name: `gateway ${method} /ipfs/{cid}`, listener: 'http', method, target: `/ipfs/${cid}`, body: '{"x":1}', headers: { 'content-type': 'application/json' } })
  }
  return probes
}

/** HTTP that node's parser refuses: answered on the socket before any route runs. */
function garbageProbes (): Probe[] {
  const raws = [
    'GARBAGE\r\n\r\n',
    'GET /ipfs/x HTTP/1.1\r\nHost: a\r\nno colon here\r\n\r\n',
    'GET /ipfs/x HTTP/9.9\r\nHost: a\r\n\r\n',
    'PUT /corpus/x HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n',
    'PUT /corpus/x HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab',
    'PUT /corpus/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n',
    'PUT /corpus/x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n',
    'GET /ipfs/\u0000 HTTP/1.1\r\nHost: a\r\n\r\n',
    `GET /ipfs/x HTTP/1.1\r\nHost: a\r\nX-Big: ${repeat('x', 20_000)}\r\n\r\n`
  ]
  return raws.map((raw, index) => ({ name: `unparseable HTTP #${index}`, listener: 'http', method: '', target: '', raw: Buffer.from(raw, 'latin1') }))
}

/** S3 without credentials, or with credentials that are not SigV4 done right. */
function anonymousS3Probes (): Probe[] {
  const probes: Probe[] = []
  const targets = [
    `/${Bucket}/photo.png?response-content-type=text/html`, `/${Bucket}/%ff%fe`, `/${Bucket}/a%zz`, `/${Bucket}/%`, `/${Bucket}/${repeat('k', 1100)}`,
    `/${Bucket}/%00`, `/${Bucket}/..%2f..%2fadmin.token`, `/${Bucket}?list-type=2&max-keys=abc`, `/${Bucket}?acl`, `/${Bucket}/photo.png?partNumber=abc`,
    `/${Bucket}/photo.png?versionId=%ff`, `/${Bucket}/photo.png?X-Amz-Algorithm=nope`, `/${Bucket}/photo.png?X-Amz-Algorithm=AWS4-HMAC-SHA256`,
    `/${Bucket}/photo.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2Fb&X-Amz-Date=yesterday&X-Amz-Expires=-5&X-Amz-SignedHeaders=host&X-Amz-Signature=zz`,
    `/${Bucket}/photo.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=FDNX%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=99999999999&X-Amz-SignedHeaders=host&X-Amz-Signature=${repeat('0', 64)}`,
    `/${Bucket}/photo.png?AWSAccessKeyId=x&Signature=y&Expires=z`, '/no-such-bucket-here/x', '/UPPER/x', '/a/x', `/${Bucket}/photo.png?${repeat('%', 100)}`
  ]
  for (const target of targets) probes.push({ name: `S3 anonymous GET ${target.slice(0, 70)}`, listener: 'http', method: 'GET', target })
  const puts: Array<Record<string, string>> = [
    { 'content-type': 'a/b, c/d' }, { 'content-type': 'text/html' }, { 'content-type': 'image/png;;;' }, { 'content-type': '/' }, { 'content-type': '' },
    { 'content-type': 'application/json' }, { 'content-type': 'application/json', 'content-encoding': 'gzip' }, { 'x-amz-acl': 'public-read' }
  ]
  for (const headers of puts) probes.push({ name: `S3 anonymous PUT ${JSON.stringify(headers)}`, listener: 'http', method: 'PUT', target: `/${Bucket}/anon`, headers, body: '{"a":' })
  for (const method of ['POST', 'DELETE', 'PATCH', 'OPTIONS']) probes.push({ name: `S3 anonymous ${method}`, listener: 'http', method, target: `/${Bucket}/photo.png`, body: '<x/>' })
  const authorizations = [
    'AWS4-HMAC-SHA256', 'AWS4-HMAC-SHA256 Credential=', 'AWS abc:def', 'Bearer x', 'Basic Zm9vOmJhcg==', 'AWS4-HMAC-SHA256 Credential=a/b/c/d/e, SignedHeaders=, Signature=',
    `AWS4-HMAC-SHA256 Credential=FDNX/20250101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=${repeat('0', 64)}`,
    `AWS4-HMAC-SHA256 Credential=${repeat('A', 5000)}/x, SignedHeaders=host, Signature=zz`, 'AWS4-HMAC-SHA256 Credential=\u00ff\u00fe/x, SignedHeaders=host;;, Signature=1'
  ]
  for (const authorization of authorizations) {
    for (const date of ['garbage', '20250101T000000Z']) {
      probes.push({ name: `S3 GET with Authorization ${authorization.slice(0, 50)} and date ${date}`, listener: 'http', method: 'GET', target: `/${Bucket}/photo.png`, headers: { authorization, 'x-amz-date': date, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } })
    }
  }
  return probes
}

/** S3 requests signed with the tenant's real key, carrying malformed parts. */
function signedS3Probes (): Probe[] {
  const probes: Probe[] = []
  const signed = (name: string, probe: Omit<Probe, 'name' | 'listener' | 'signed'>, options: Probe['signed'] = {}): void => {
    probes.push({ name: `S3 signed ${name}`, listener: 'http', signed: options, ...probe })
  }
  for (const sha of ['abc', 'STREAMING-UNKNOWN-PAYLOAD', repeat('A', 64), repeat('0', 64), 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER']) {
    signed(`PUT with x-amz-content-sha256 ${sha.slice(0, 30)}`, { method: 'PUT', target: `/${Bucket}/sha`, body: 'hello' }, { contentSha256: sha })
  }
  for (const [name, tamper] of [
    ['a garbage x-amz-date', (h: Record<string, string>) => { h['x-amz-date'] = 'garbage' }],
    ['no x-amz-date', (h: Record<string, string>) => { delete h['x-amz-date'] }],
    ['an x-amz-date in year 99999', (h: Record<string, string>) => { h['x-amz-date'] = '99999101T000000Z' }],
    ['a Date header instead of x-amz-date', (h: Record<string, string>) => { delete h['x-amz-date']; h.date = 'Tue, 99 Foo 2025 99:99:99 GMT' }],
    ['a signature cut short', (h: Record<string, string>) => { h.authorization = h.authorization!.slice(0, -10) }],
    ['a credential scope of another region', (h: Record<string, string>) => { h.authorization = h.authorization!.replace('us-east-1', 'eu-west-9') }]
  ] as const) {
    signed(`GET with ${name}`, { method: 'GET', target: `/${Bucket}/photo.png`, tamper })
  }
  for (const contentType of ['a/b, c/d', 'image/png, text/html', 'image/png;;;', 'text/html; charset', '\u00ff/\u00fe', 'multipart/form-data; boundary=']) {
    signed(`PUT with Content-Type ${contentType}`, { method: 'PUT', target: `/${Bucket}/typed`, headers: { 'content-type': contentType }, body: 'bytes' })
  }
  for (const range of ['bytes=abc', 'bytes=5-1', 'bytes=999999-', 'bytes=-0', 'bytes=0-1,2-3', 'lines=1-2', `bytes=${repeat('1', 400)}-`]) {
    signed(`GET with Range ${range.slice(0, 30)}`, { method: 'GET', target: `/${Bucket}/photo.png`, headers: { range } })
  }
  for (const query of [
    'list-type=3', 'list-type=2&max-keys=-1', 'list-type=2&max-keys=abc', 'list-type=2&max-keys=99999999999999999999', 'list-type=2&continuation-token=%ff%fe',
    'list-type=2&continuation-token=garbage', 'list-type=2&encoding-type=rot13', 'list-type=2&prefix=%ff', 'list-type=2&delimiter=%00', 'list-type=2&start-after=%C0%80',
    'marker=%ff&max-keys=0', 'uploads&max-uploads=abc', 'uploads&key-marker=%ff&upload-id-marker=x', 'versions', 'torrent', 'x=%zz'
  ]) {
    signed(`GET /${Bucket}?${query}`, { method: 'GET', target: `/${Bucket}?${query}` })
  }
  for (const query of ['partNumber=abc', 'partNumber=0', 'partNumber=99999', 'uploadId=nonexistent', 'uploadId=nonexistent&partNumber=1', 'response-content-type=a%0d%0ab', 'response-expires=%ff']) {
    signed(`GET /${Bucket}/photo.png?${query}`, { method: 'GET', target: `/${Bucket}/photo.png?${query}` })
  }
  const xmlBodies = [
    '', '<', '<Delete>', '<Delete><Object></Object></Delete>', '<Delete><Object><Key></Key></Object></Delete>', `${repeat('<a>', 10_000)}${repeat('</a>', 10_000)}`,
    '<?xml version="1.0"?><!DOCTYPE d [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><Delete><Object><Key>&b;</Key></Object></Delete>',
    '<Delete><Object><Key>\u00ff\u00fe</Key></Object></Delete>', `<Delete>${repeat('<Object><Key>k</Key></Object>', 1001)}</Delete>`, '{"not":"xml"}'
  ]
  for (const [index, xml] of xmlBodies.entries()) {
    const body = Buffer.from(xml, 'latin1')
    signed(`POST ?delete with XML #${index}`, { method: 'POST', target: `/${Bucket}?delete`, headers: { 'content-md5': md5(body), 'content-type': 'application/xml' }, body })
    signed(`POST ?uploadId=x (Complete) with XML #${index}`, { method: 'POST', target: `/${Bucket}/upload?uploadId=x`, body })
    signed(`PUT ?acl with XML #${index}`, { method: 'PUT', target: `/${Bucket}/photo.png?acl`, body })
  }
  for (const path of [`/${Bucket}/%ff%fe`, `/${Bucket}/a%zz`, `/${Bucket}/${repeat('k', 1100)}`, `/${Bucket}/%00`, `/${Bucket}/${repeat('%e2%82%ac', 400)}`, '/UPPER-bucket/x', '/other-tenant/x']) {
    signed(`PUT ${path.slice(0, 40)}`, { method: 'PUT', target: path, body: 'x' })
    signed(`GET ${path.slice(0, 40)}`, { method: 'GET', target: path })
  }
  for (const method of ['PATCH', 'OPTIONS', 'DELETE']) signed(`${method} of the bucket root`, { method, target: '/' })
  signed('PUT of a copy from a malformed source', { method: 'PUT', target: `/${Bucket}/copy`, headers: { 'x-amz-copy-source': '%ff%zz' } })
  signed('PUT of a copy from another bucket', { method: 'PUT', target: `/${Bucket}/copy`, headers: { 'x-amz-copy-source': '/other/x' } })
  signed('PUT with a bad Content-MD5', { method: 'PUT', target: `/${Bucket}/md5`, headers: { 'content-md5': 'not base64!' }, body: 'x' })
  signed('PUT with a bad x-amz-acl', { method: 'PUT', target: `/${Bucket}/acl`, headers: { 'x-amz-acl': 'everyone-please' }, body: 'x' })
  signed('PUT with a huge metadata header', { method: 'PUT', target: `/${Bucket}/meta`, headers: { 'x-amz-meta-a': repeat('m', 3000) }, body: 'x' })
  signed('PUT with aws-chunked framing that lies', { method: 'PUT', target: `/${Bucket}/chunked`, headers: { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': 'abc' }, body: 'zz;chunk-signature=x\r\n' }, { contentSha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD' })
  return probes
}

/** Bodies that end before their Content-Length: the client hangs up mid-upload, on every route that reads one. */
function truncatedProbes (cid: string, token: string): Probe[] {
  const targets: Array<Pick<Probe, 'listener' | 'method' | 'target' | 'signed' | 'headers'>> = [
    { listener: 'http', method: 'PUT', target: `/${Bucket}/truncated`, signed: { contentSha256: 'UNSIGNED-PAYLOAD' } },
    { listener: 'http', method: 'PUT', target: `/${Bucket}/truncated`, headers: { 'content-type': 'image/png' } },
    { listener: 'http', method: 'PUT', target: `/api/v1/blobs/${cid.replace(/.$/, 'a')}`, signed: { contentSha256: 'UNSIGNED-PAYLOAD' } },
    { listener: 'http', method: 'POST', target: '/api/v1/retrieve', signed: { contentSha256: 'UNSIGNED-PAYLOAD' }, headers: { 'content-type': 'application/json' } },
    { listener: 'http', method: 'POST', target: '/inbox', headers: { 'content-type': 'application/activity+json' } },
    { listener: 'admin', method: 'POST', target: '/admin/v1/blobs', headers: { authorization: `Bearer ${token}` } },
    { listener: 'admin', method: 'POST', target: '/admin/v1/tenants', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } }
  ]
  return targets.flatMap((probe) => [1000, 100_000].map((truncatedAt) => ({ name: `${probe.method} ${probe.target} cut off at 16 of ${truncatedAt} bytes`, ...probe, body: '{"x":"0123456789', truncatedAt })))
}

/** The retrieve API: unsigned, signed with bad bodies, bad CIDs. */
function apiProbes (): Probe[] {
  const probes: Probe[] = []
  const bodies = ['', '{', '[]', 'null', '"x"', '{"url":5}', '{"url":"javascript:alert(1)"}', '{"url":"http://127.0.0.1:1/x.png"}', '{"url":"http://[::1]/x"}',
    '{"url":"http://user:pw@localhost/"}', '{"url":"ftp://x/"}', `{"url":"http://${repeat('a', 5000)}/"}`, '{"digest":"zz"}', `{"a":${repeat('[', 5000)}}`, '\u00ff\u00fe']
  for (const [index, body] of bodies.entries()) {
    probes.push({ name: `retrieve signed, body #${index}`, listener: 'http', method: 'POST', target: '/api/v1/retrieve', headers: { 'content-type': 'application/json' }, body: Buffer.from(body, 'latin1'), signed: {} })
    probes.push({ name: `retrieve unsigned, body #${index}`, listener: 'http', method: 'POST', target: '/api/v1/retrieve', headers: { 'content-type': 'application/json' }, body: Buffer.from(body, 'latin1') })
  }
  for (const contentType of ['a/b, c/d', 'text/html', '']) {
    probes.push({ name: `retrieve signed with Content-Type ${contentType}`, listener: 'http', method: 'POST', target: '/api/v1/retrieve', headers: { 'content-type': contentType }, body: '{"url":"http://127.0.0.1:1/"}', signed: {} })
  }
  for (const target of ['/api/v1/blobs/notacid', '/api/v1/blobs/%ff', '/api/v1/blobs/', `/api/v1/blobs/${repeat('b', 2000)}`, '/api/v1/nothing', '/api/v2/retrieve']) {
    for (const method of ['HEAD', 'PUT', 'GET']) probes.push({ name: `API ${method} ${target.slice(0, 40)}`, listener: 'http', method, target, body: method === 'PUT' ? 'x' : undefined, signed: {} })
  }
  probes.push({ name: 'API GET of the retrieve route', listener: 'http', method: 'GET', target: '/api/v1/retrieve' })
  return probes
}

/** ActivityPub: inboxes with odd bodies and signatures, WebFinger with odd resources. */
function activityPubProbes (): Probe[] {
  const probes: Probe[] = []
  const date = new Date().toUTCString()
  const signatures = [
    undefined, 'garbage', 'keyId="x"', 'keyId="http://localhost/actor#k",headers="(request-target) host date digest",signature="AAAA"',
    'keyId="http://127.0.0.1:1/actor#k",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"',
    'keyId="not a url",signature="x"', `keyId="${repeat('k', 5000)}",signature="x"`, 'keyId="http://[::1]/k",headers="",signature="=="'
  ]
  const bodies = ['', '{', '[]', '{"type":"Delete"}', `${repeat('[', 100)}${repeat(']', 100)}`, '{"type":"Delete","actor":5,"object":{"id":null}}', '\u00ff\u00fe',
    '{"type":"Delete","actor":"http://localhost/actor","object":"http://localhost/note/1"}', '{"type":"Follow","actor":"http://127.0.0.1:1/actor","object":"x"}']
  for (const inbox of ['/inbox', '/actor/inbox']) {
    for (const signature of signatures) {
      for (const body of bodies) {
        const headers: Record<string, string> = { 'content-type': 'application/activity+json', date, digest: `SHA-256=${createHash('sha256').update(body, 'latin1').digest('base64')}` }
        if (signature !== undefined) headers.signature = signature
        probes.push({ name: `${inbox} POST signature ${String(signature).slice(0, 30)} body ${body.slice(0, 20)}`, listener: 'http', method: 'POST', target: inbox, headers, body: Buffer.from(body, 'latin1') })
      }
    }
    for (const contentType of ['a/b, c/d', 'application/json, text/html', 'text/html', 'application/activity+json; charset=\u00ff']) {
      probes.push({ name: `${inbox} POST with Content-Type ${contentType}`, listener: 'http', method: 'POST', target: inbox, headers: { 'content-type': contentType }, body: '{}' })
    }
    probes.push({ name: `${inbox} POST over the size limit`, listener: 'http', method: 'POST', target: inbox, headers: { 'content-type': 'application/activity+json' }, body: `{"a":"${repeat('x', 300 * 1024)}"}` })
    probes.push({ name: `${inbox} POST with a bad Digest`, listener: 'http', method: 'POST', target: inbox, headers: { 'content-type': 'application/activity+json', digest: 'SHA-256=%%%', signature: signatures[4]! }, body: '{}' })
    for (const method of ['PUT', 'DELETE', 'PATCH']) probes.push({ name: `${inbox} ${method}`, listener: 'http', method, target: inbox, headers: { 'content-type': 'application/json' }, body: '{}' })
  }
  const resources = ['', 'acct:', 'acct:@', 'acct:a@b@c', '%ff%fe', 'http://[', 'acct:fdn@%00', `acct:${repeat('a', 5000)}@x`, 'acct:fdn@localhost&resource=again', 'https://evil.example/actor', '%zz']
  for (const resource of resources) probes.push({ name: `WebFinger resource=${resource.slice(0, 30)}`, listener: 'http', method: 'GET', target: `/.well-known/webfinger?resource=${resource}` })
  probes.push({ name: 'WebFinger without resource', listener: 'http', method: 'GET', target: '/.well-known/webfinger' })
  probes.push({ name: 'WebFinger with two resources', listener: 'http', method: 'GET', target: '/.well-known/webfinger?resource=a&resource=b' })
  for (const target of ['/actor', '/actor/outbox', '/.well-known/nodeinfo', '/nodeinfo/2.1', '/.well-known/host-meta']) {
    probes.push({ name: `AP POST ${target}`, listener: 'http', method: 'POST', target, headers: { 'content-type': 'application/activity+json' }, body: '{' })
    probes.push({ name: `AP GET ${target} with an odd Accept`, listener: 'http', method: 'GET', target, headers: { accept: 'a/b, c/d;q=x' } })
  }
  return probes
}

/** The admin listener, with and without its token. */
function adminProbes (token: string): Probe[] {
  const probes: Probe[] = []
  for (const authorization of [undefined, 'Bearer', 'Bearer wrong', 'Basic YTpi', `Bearer ${token}x`, `bearer ${token}`, `Bearer ${repeat('t', 5000)}`]) {
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization }
    probes.push({ name: `admin GET status with Authorization ${String(authorization).slice(0, 20)}`, listener: 'admin', method: 'GET', target: '/admin/v1/status', headers })
    probes.push({ name: `admin POST tenants with Authorization ${String(authorization).slice(0, 20)}`, listener: 'admin', method: 'POST', target: '/admin/v1/tenants', headers: { ...headers, 'content-type': 'application/json' }, body: '{"name":"intruder"}' })
  }
  const auth = { authorization: `Bearer ${token}` }
  const bodies = ['', '{', '[]', 'null', '"x"', '{"name":5}', '{"name":"../x"}', '{"name":"UPPER"}', `{"name":"${repeat('a', 5000)}"}`, '{"name":"ok-name","quota":"lots"}',
    '{"name":"ok-name","replicas":-1}', `${repeat('{"a":', 2000)}1${repeat('}', 2000)}`, '\u00ff\u00fe', '{"__proto__":{"admin":true}}']
  for (const [index, body] of bodies.entries()) {
    probes.push({ name: `admin POST tenants, body #${index}`, listener: 'admin', method: 'POST', target: '/admin/v1/tenants', headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.from(body, 'latin1') })
    probes.push({ name: `admin PATCH tenant, body #${index}`, listener: 'admin', method: 'PATCH', target: `/admin/v1/tenants/${Bucket}`, headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.from(body, 'latin1') })
    probes.push({ name: `admin POST relays, body #${index}`, listener: 'admin', method: 'POST', target: '/admin/v1/relays', headers: { ...auth, 'content-type': 'application/json' }, body: Buffer.from(body, 'latin1') })
  }
  for (const contentType of ['a/b, c/d', 'text/plain', 'application/json; charset=ebcdic', 'application/x-www-form-urlencoded']) {
    probes.push({ name: `admin POST tenants with Content-Type ${contentType}`, listener: 'admin', method: 'POST', target: '/admin/v1/tenants', headers: { ...auth, 'content-type': contentType }, body: '{"name":"ok-name"}' })
  }
  probes.push({ name: 'admin POST relays with a private address', listener: 'admin', method: 'POST', target: '/admin/v1/relays', headers: { ...auth, 'content-type': 'application/json' }, body: '{"url":"http://127.0.0.1:1/inbox"}' })
  for (const target of ['/admin/v1/tenants/%ff', '/admin/v1/tenants/%zz', `/admin/v1/tenants/${repeat('n', 2000)}`, '/admin/v1/blobs/notacid', '/admin/v1/blobs/%00', '/admin/v1/relays?url=%ff', '/admin/v1/relays', '/admin/v9/x']) {
    for (const method of ['GET', 'DELETE']) probes.push({ name: `admin ${method} ${target.slice(0, 40)}`, listener: 'admin', method, target, headers: auth })
  }
  probes.push({ name: 'admin POST blobs with a lying Content-Length', listener: 'admin', method: 'POST', target: '/admin/v1/blobs', headers: { ...auth, 'content-length': '999999999999999999999' }, body: 'x' })
  return probes
}

function headLines (probe: Probe, host: string, headers: Record<string, string>, body: Buffer | undefined): string {
  const lines = [`${probe.method} ${probe.target} HTTP/1.1`, `Host: ${host}`]
  for (const [name, value] of Object.entries(headers)) if (name !== 'host') lines.push(`${name}: ${value}`)
  if (body !== undefined && headers['content-length'] === undefined) lines.push(`Content-Length: ${body.length}`)
  lines.push('Connection: close', '', '')
  return lines.join('\r\n')
}

async function send (daemon: RunningDaemon, tenant: Tenant, probe: Probe): Promise<RawResponse> {
  const base = probe.listener === 'admin' ? daemon.admin : daemon.http
  if (probe.raw !== undefined) return await rawExchange(base, async (socket) => { await writeAll(socket, probe.raw!) })
  const body = probe.body === undefined ? undefined : Buffer.isBuffer(probe.body) ? probe.body : Buffer.from(probe.body, 'latin1')
  let headers: Record<string, string> = { ...probe.headers }
  if (probe.signed !== undefined) {
    const q = probe.target.indexOf('?')
    const query = q === -1 ? {} : Object.fromEntries(new URLSearchParams(probe.target.slice(q + 1)))
    const signed = await signRequest(daemon, tenant, {
      method: probe.method,
      path: q === -1 ? probe.target : probe.target.slice(0, q),
      query,
      headers: { ...probe.headers },
      ...(body === undefined ? {} : { body }),
      ...(probe.signed.contentSha256 === undefined ? {} : { contentSha256: probe.signed.contentSha256 }),
      ...(probe.signed.date === undefined ? {} : { date: probe.signed.date })
    })
    headers = { ...signed.headers }
  }
  if (probe.truncatedAt !== undefined) headers['content-length'] = String(probe.truncatedAt)
  probe.tamper?.(headers)
  return await rawExchange(base, async (socket) => {
    await writeAll(socket, Buffer.from(headLines(probe, new URL(base).host, headers, body), 'latin1'))
    if (body !== undefined) await writeAll(socket, body)
    if (probe.truncatedAt !== undefined) socket.end()
  })
}

/** The message of an error answer: JSON `{"error":{"message"}}` or S3's XML `<Message>`. */
function messageOf (response: RawResponse): string | undefined {
  const text = response.body.toString()
  if ((response.headers['content-type'] ?? '').startsWith('application/xml')) return /<Message>([^<]+)<\/Message>/.exec(text)?.[1]
  try {
    const message = (JSON.parse(text) as { error?: { message?: unknown } }).error?.message
    return typeof message === 'string' && message !== '' ? message : undefined
  } catch {
    return undefined
  }
}

describe('malformed requests, on every surface', () => {
  let daemon: RunningDaemon
  let tenant: Tenant

  before(async () => {
    daemon = await startDaemon({ env: { FDN_LOG_LEVEL: 'info' } })
    tenant = await createTenant(daemon, Bucket)
    const put = await signRequest(daemon, tenant, { method: 'PUT', path: `/${Bucket}/photo.png`, body: png, headers: { 'content-type': 'image/png', 'x-amz-acl': 'public-read' } })
    const stored = await fetch(put.url, { method: 'PUT', headers: put.headers, body: png })
    assert.equal(stored.status, 200, await stored.text())
  })
  after(async () => { await daemon?.stop() })

  it('answers each with a status and a message, never a 5xx, and logs no error and no stack', async () => {
    const { cid } = await addBytes(daemon, png)
    const probes = [...gatewayProbes(cid), ...garbageProbes(), ...anonymousS3Probes(), ...signedS3Probes(), ...truncatedProbes(cid, daemon.token), ...apiProbes(), ...activityPubProbes(), ...adminProbes(daemon.token)]
    assert.ok(probes.length >= 100, `a corpus of ${probes.length} requests`)
    const failures: string[] = []
    for (const probe of probes) {
      let response: RawResponse
      try {
        response = await send(daemon, tenant, probe)
      } catch (err) {
        if (probe.truncatedAt === undefined) failures.push(`${probe.name}: no answer (${(err as Error).message})`)
        continue
      }
      const { status } = response
      // S3 answers a feature it does not implement with 501 NotImplemented, and so does fdn (docs/s3.md): not a fault
      const notImplemented = status === 501 && /<Code>NotImplemented<\/Code>/.test(response.body.toString())
      if (!(status >= 200 && status < 500) && !notImplemented) failures.push(`${probe.name}: ${status} ${response.body.toString().slice(0, 200)}`)
      else if (status >= 400 && probe.method !== 'HEAD' && messageOf(response) === undefined) failures.push(`${probe.name}: ${status} without a message: ${response.body.toString().slice(0, 200)}`)
    }
    const logged = daemon.output().split('\n').filter(line => /"level":[56]\d/.test(line) || /"stack"|^\s+at /.test(line))
    assert.deepEqual({ failures, logged: logged.map(line => line.slice(0, 600)) }, { failures: [], logged: [] },
      `of ${probes.length} requests, ${failures.length} answered badly; the log has ${logged.length} error or stack lines`)
    const health = await fetch(`${daemon.http}/healthz`)
    assert.equal(health.status, 200)
    await health.arrayBuffer()
  })
})
