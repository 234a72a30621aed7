// SigV4 request verification (gateway/s3/auth): AWS's own documented
// examples, then requests signed by an independent signer (the AWS SDK's
// @smithy/signature-v4) that must verify, and every single-field tampering
// that must not, each with the code S3 answers.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, randomBytes, randomInt } from 'node:crypto'
import { SignatureV4 } from '@smithy/signature-v4'
import { Hash } from '@smithy/hash-node'
import { verifyRequest, requestAuthKind } from '../../gateway/s3/auth/index.ts'
import type { AuthResult, SignedRequest } from '../../gateway/s3/auth/index.ts'
import { canonicalQuery, canonicalUriCandidates, parseQuery } from '../../gateway/s3/auth/canonical.ts'
import { S3Error } from '../../gateway/s3/errors.ts'
import type { S3ErrorCode } from '../../gateway/s3/errors.ts'

const AKID = 'AKIAIOSFODNN7EXAMPLE'
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const DOC_NOW = Date.UTC(2013, 4, 24, 0, 0, 0)
const docSecrets = (id: string): string | undefined => id === AKID ? SECRET : undefined

async function rejectsWith (p: Promise<unknown>, code: S3ErrorCode, message?: string | RegExp): Promise<S3Error> {
  let caught: unknown
  try { await p } catch (err) { caught = err }
  assert.ok(caught instanceof S3Error, `expected S3Error ${code}, got ${String(caught)}`)
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`)
  if (typeof message === 'string') assert.equal(caught.message, message)
  else if (message !== undefined) assert.match(caught.message, message)
  return caught
}

/** The documentation's "GET Object" example (examplebucket, Range bytes=0-9). */
const DOC_GET: SignedRequest = {
  method: 'GET',
  rawPath: '/test.txt',
  rawQuery: '',
  headers: {
    host: 'examplebucket.s3.amazonaws.com',
    range: 'bytes=0-9',
    'x-amz-content-sha256': EMPTY,
    'x-amz-date': '20130524T000000Z',
    authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41`
  }
}

describe('SigV4: the examples of the S3 documentation', () => {
  // "Signature Calculations for the Authorization Header: Transferring Payload
  // in a Single Chunk" — examplebucket, 20130524T000000Z, us-east-1
  const host = 'examplebucket.s3.amazonaws.com'

  it('GET Object with Range', async () => {
    const request = DOC_GET
    const auth = await verifyRequest(request, docSecrets, DOC_NOW)
    assert.equal(auth.kind, 'header')
    assert.equal(auth.accessKeyId, AKID)
    assert.equal(auth.region, 'us-east-1')
    assert.equal(auth.scope, '20130524/us-east-1/s3/aws4_request')
    assert.equal(auth.amzDate, '20130524T000000Z')
    assert.equal(auth.signature, 'f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41')
    assert.equal(auth.payload, 'signed')
    assert.deepEqual(auth.signedHeaders, ['host', 'range', 'x-amz-content-sha256', 'x-amz-date'])
    // the same request with another range was not what was signed
    await rejectsWith(verifyRequest({ ...request, headers: { ...request.headers, range: 'bytes=0-10' } }, docSecrets, DOC_NOW), 'SignatureDoesNotMatch')
  })

  it('PUT Object, with Date and x-amz-date, a $ in the key and a signed payload', async () => {
    const request: SignedRequest = {
      method: 'PUT',
      rawPath: '/test%24file.text',
      rawQuery: '',
      headers: {
        host,
        date: 'Fri, 24 May 2013 00:00:00 GMT',
        'x-amz-date': '20130524T000000Z',
        'x-amz-storage-class': 'REDUCED_REDUNDANCY',
        'x-amz-content-sha256': '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072',
        authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd`
      }
    }
    const auth = await verifyRequest(request, docSecrets, DOC_NOW)
    assert.equal(auth.payload, 'signed')
    assert.equal(auth.contentSha256, '44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072')
    // `$` unescaped on the wire names the same key: still the signed request
    await verifyRequest({ ...request, rawPath: '/test$file.text' }, docSecrets, DOC_NOW)
  })

  it('GET Bucket lifecycle (a subresource with no value) and List Objects (unsorted query)', async () => {
    const base = { host, 'x-amz-content-sha256': EMPTY, 'x-amz-date': '20130524T000000Z' }
    const credential = `Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-content-sha256;x-amz-date`
    await verifyRequest({
      method: 'GET',
      rawPath: '/',
      rawQuery: 'lifecycle',
      headers: { ...base, authorization: `AWS4-HMAC-SHA256 ${credential},Signature=fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543` }
    }, docSecrets, DOC_NOW)
    await verifyRequest({
      method: 'GET',
      rawPath: '/',
      rawQuery: 'prefix=J&max-keys=2',
      headers: { ...base, authorization: `AWS4-HMAC-SHA256 ${credential},Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7` }
    }, docSecrets, DOC_NOW)
  })

  it('the presigned GET Object URL ("Authenticating Requests: Using Query Parameters")', async () => {
    const request: SignedRequest = {
      method: 'GET',
      rawPath: '/test.txt',
      rawQuery: `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AKID}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404`,
      headers: { host }
    }
    const auth = await verifyRequest(request, docSecrets, DOC_NOW + 3600_000)
    assert.equal(auth.kind, 'presigned')
    assert.equal(auth.payload, 'unsigned')
    assert.equal(auth.contentSha256, 'UNSIGNED-PAYLOAD')
    assert.equal(auth.expiresAt, DOC_NOW + 86400_000)
    // usable to its last second, not after
    await verifyRequest(request, docSecrets, DOC_NOW + 86400_000)
    await rejectsWith(verifyRequest(request, docSecrets, DOC_NOW + 86400_000 + 1000), 'AccessDenied', 'Request has expired')
    // the header form of the same request is a request of another kind
    assert.equal(requestAuthKind(request), 'presigned')
    await rejectsWith(verifyRequest({ ...request, rawQuery: request.rawQuery.replace('86400', '86401') }, docSecrets, DOC_NOW), 'SignatureDoesNotMatch')
  })
})

describe('SigV4: canonical forms', () => {
  it('sorts the query by encoded name then value and encodes strictly', () => {
    const q = parseQuery('b=2&a=z&a=y&c&d=&e=%7e+x&f=(!)')
    assert.equal(canonicalQuery(q), 'a=y&a=z&b=2&c=&d=&e=~%20x&f=%28%21%29')
    assert.equal(canonicalQuery(parseQuery('a=1&&b=2&')), 'a=1&b=2')
    assert.equal(canonicalQuery(parseQuery('X-Amz-Signature=abc&k=v'), 'X-Amz-Signature'), 'k=v')
  })

  it('keeps the path as sent, and offers the strict re-encoding only when it differs', () => {
    assert.deepEqual(canonicalUriCandidates('/b/a%20b/c'), ['/b/a%20b/c'])
    assert.deepEqual(canonicalUriCandidates('/b/a/../c//d/./e'), ['/b/a/../c//d/./e'])
    assert.deepEqual(canonicalUriCandidates('/b/k(1)!'), ['/b/k(1)!', '/b/k%281%29%21'])
    assert.deepEqual(canonicalUriCandidates('/b/%e2%82%ac'), ['/b/%e2%82%ac', '/b/%E2%82%AC'])
    assert.deepEqual(canonicalUriCandidates(''), ['/'])
  })
})

// ----------------------------------------------------------------------------
// An independent signer: the AWS SDK for JavaScript's own.

const ACCOUNTS: Record<string, string> = {
  AKIDFDNTENANTONE0001: 'secret+one/with=odd~chars%and spaces',
  AKIDFDNTENANTTWO0002: randomBytes(30).toString('base64')
}
const lookup = (id: string): Promise<string | undefined> => Promise.resolve(ACCOUNTS[id])

function signer (accessKeyId: string, secretAccessKey: string, region: string): SignatureV4 {
  // uriEscapePath: false is how the S3 client configures it: S3 signs the path as sent
  return new SignatureV4({ service: 's3', region, credentials: { accessKeyId, secretAccessKey }, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false })
}

const KEY_ALPHABET = [...'abcXYZ019-_.~ +%!()*\'&=?#;:@,$', 'é', '日本', '😀', '/', '/', '..', '//']
function randomKey (): string {
  let key = ''
  const n = 1 + randomInt(24)
  for (let i = 0; i < n; i++) key += KEY_ALPHABET[randomInt(KEY_ALPHABET.length)]
  return key
}

/** As the AWS SDKs send a key: RFC 3986 per byte, slashes kept. */
function strictEncode (text: string, keepSlash: boolean): string {
  const encoded = encodeURIComponent(text).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
  return keepSlash ? encoded.replace(/%2F/g, '/') : encoded
}
/** A laxer client: encodeURIComponent, which leaves !'()* raw; spaces as + in the query. */
function laxEncode (text: string, keepSlash: boolean, plusForSpace: boolean): string {
  let encoded = encodeURIComponent(text)
  if (keepSlash) encoded = encoded.replace(/%2F/g, '/')
  return plusForSpace ? encoded.replace(/%20/g, '+') : encoded
}

type Query = Record<string, string | string[]>
const PARAM_NAMES = ['prefix', 'delimiter', 'list-type', 'uploadId', 'partNumber', 'x-id', 'weird name', 'ü', 'a+b', 'acl']
const VALUE_ALPHABET = [...'ab01 +=&/%~!*', 'é', '😀']
function randomValue (): string {
  let v = ''
  const n = randomInt(8)
  for (let i = 0; i < n; i++) v += VALUE_ALPHABET[randomInt(VALUE_ALPHABET.length)]
  return v
}
function randomQuery (): Query {
  const query: Query = {}
  const n = randomInt(5)
  for (let i = 0; i < n; i++) {
    const name = PARAM_NAMES[randomInt(PARAM_NAMES.length)]!
    query[name] = randomInt(4) === 0 ? [randomValue(), randomValue()] : randomValue()
  }
  return query
}

function wireQuery (query: Query, style: 'strict' | 'lax' | 'form'): string {
  const parts: string[] = []
  for (const [name, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) {
      const enc = (s: string): string => style === 'strict' ? strictEncode(s, false) : laxEncode(s, false, style === 'form')
      // a bare name for an empty value, as `?acl` is sent
      parts.push(v === '' && randomInt(2) === 0 ? enc(name) : `${enc(name)}=${enc(v)}`)
    }
  }
  return parts.join('&')
}

interface Signed { request: SignedRequest, signedAt: number, query: Query, key: string }

async function signedByHeader (options: { lax?: boolean } = {}): Promise<Signed> {
  const [accessKeyId, secret] = Object.entries(ACCOUNTS)[randomInt(2)]!
  const region = ['us-east-1', 'eu-central-1', 'fdn', 'garage'][randomInt(4)]!
  const key = randomKey()
  const path = '/media/' + strictEncode(key, true)
  const query = randomQuery()
  const signedAt = Date.UTC(2025, randomInt(12), 1 + randomInt(28), randomInt(24), randomInt(60), randomInt(60))
  const payload = ['UNSIGNED-PAYLOAD', EMPTY, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'][randomInt(4)]!
  const headers: Record<string, string> = {
    host: 'fdn.example.org:8080',
    'content-type': 'image/png;   charset=binary',
    'x-amz-content-sha256': payload,
    'x-amz-acl': 'public-read',
    'x-amz-meta-caption': 'a  cat,   sleeping',
    'user-agent': 'aws-sdk-js/3'
  }
  const signed = await signer(accessKeyId, secret, region).sign(
    { method: 'PUT', protocol: 'http:', hostname: 'fdn.example.org', port: 8080, path, query, headers },
    { signingDate: new Date(signedAt) })
  const wirePath = options.lax === true ? '/media/' + laxEncode(key, true, false) : path
  const style = (['strict', 'lax', 'form'] as const)[randomInt(3)]
  const sent: Record<string, string> = {}
  for (const [name, value] of Object.entries(signed.headers)) sent[name.toLowerCase()] = String(value).trim()
  return { request: { method: 'PUT', rawPath: wirePath, rawQuery: wireQuery(query, style), headers: sent }, signedAt, query, key }
}

async function signedByPresign (): Promise<Signed & { expires: number }> {
  const [accessKeyId, secret] = Object.entries(ACCOUNTS)[randomInt(2)]!
  const key = randomKey()
  const path = '/media/' + strictEncode(key, true)
  const query = randomQuery()
  const expires = 1 + randomInt(604800)
  const signedAt = Date.UTC(2025, randomInt(12), 1 + randomInt(28), randomInt(24), randomInt(60), randomInt(60))
  // what @aws-sdk/s3-request-presigner does: the payload is declared
  // unsigned, and that x-amz-* header is hoisted into the query
  const presigned = await signer(accessKeyId, secret, 'us-east-1').presign(
    { method: 'GET', protocol: 'http:', hostname: 'localhost', path, query, headers: { host: 'localhost', 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } },
    { signingDate: new Date(signedAt), expiresIn: expires })
  const fullQuery = presigned.query as Query
  return {
    request: { method: 'GET', rawPath: path, rawQuery: wireQuery(fullQuery, randomInt(2) === 0 ? 'strict' : 'lax'), headers: { host: 'localhost' } },
    signedAt,
    query: fullQuery,
    key,
    expires
  }
}

function withHeader (r: SignedRequest, name: string, value: string | undefined): SignedRequest {
  const headers = { ...r.headers }
  if (value === undefined) delete headers[name]
  else headers[name] = value
  return { ...r, headers }
}

const ROUNDS = 60

describe('SigV4: requests signed by @smithy/signature-v4', () => {
  it('verifies header-signed requests with odd keys, repeated and empty query parameters', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const { request, signedAt } = await signedByHeader()
      const auth: AuthResult = await verifyRequest(request, lookup, signedAt + randomInt(-14 * 60_000, 14 * 60_000))
      assert.equal(auth.kind, 'header')
      assert.ok(auth.accessKeyId in ACCOUNTS)
      assert.ok(auth.signedHeaders.includes('host'))
    }
  })

  it('verifies a key sent with !\'()* unescaped though it was signed escaped', async () => {
    for (let i = 0; i < ROUNDS / 2; i++) {
      const { request, signedAt } = await signedByHeader({ lax: true })
      await verifyRequest(request, lookup, signedAt)
    }
  })

  it('verifies presigned URLs', async () => {
    for (let i = 0; i < ROUNDS; i++) {
      const { request, signedAt, expires } = await signedByPresign()
      const auth = await verifyRequest(request, lookup, signedAt + randomInt(expires * 1000))
      assert.equal(auth.kind, 'presigned')
      assert.equal(auth.payload, 'unsigned')
      assert.equal(auth.expiresAt, signedAt + expires * 1000)
    }
  })

  it('refuses every single-field tampering of a header-signed request', async () => {
    for (let i = 0; i < ROUNDS / 2; i++) {
      const { request: r, signedAt: t } = await signedByHeader()
      const auth = r.headers.authorization as string
      const [id] = /Credential=([^/]+)/.exec(auth)!.slice(1)
      const other = Object.keys(ACCOUNTS).find((k) => k !== id)!

      await rejectsWith(verifyRequest({ ...r, method: 'POST' }, lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest({ ...r, rawPath: r.rawPath + 'x' }, lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest({ ...r, rawPath: r.rawPath.replace('/media/', '/medib/') }, lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest({ ...r, rawQuery: r.rawQuery === '' ? 'acl' : r.rawQuery + '&x=1' }, lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest(withHeader(r, 'content-type', 'text/html'), lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest(withHeader(r, 'x-amz-acl', 'private'), lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest(withHeader(r, 'host', 'evil.example.org:8080'), lookup, t), 'SignatureDoesNotMatch')
      const later = new Date(t + 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')
      await rejectsWith(verifyRequest(withHeader(r, 'x-amz-date', later), lookup, t), 'SignatureDoesNotMatch')
      // the payload hash line is signed too, though the header itself need not be
      const payload = r.headers['x-amz-content-sha256'] === 'UNSIGNED-PAYLOAD' ? EMPTY : 'UNSIGNED-PAYLOAD'
      await rejectsWith(verifyRequest(withHeader(r, 'x-amz-content-sha256', payload), lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest(withHeader(r, 'authorization', auth.replace(id!, other)), lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest(withHeader(r, 'authorization', auth.replace(id!, 'AKIDUNKNOWN')), lookup, t), 'InvalidAccessKeyId')
      await rejectsWith(verifyRequest(r, () => 'not the secret', t), 'SignatureDoesNotMatch')
      const sig = /Signature=([0-9a-f]{64})/.exec(auth)![1]!
      const flipped = sig.slice(0, 63) + (sig.endsWith('0') ? '1' : '0')
      const err = await rejectsWith(verifyRequest(withHeader(r, 'authorization', auth.replace(sig, flipped)), lookup, t), 'SignatureDoesNotMatch')
      assert.equal(err.extra.SignatureProvided, flipped)
      assert.ok(err.extra.CanonicalRequest?.startsWith('PUT\n'))
      // an x-amz-* header the signature does not cover
      const unsigned = await rejectsWith(verifyRequest(withHeader(r, 'x-amz-copy-source', '/other/key'), lookup, t), 'AccessDenied',
        'There were headers present in the request which were not signed')
      assert.equal(unsigned.extra.HeadersNotSigned, 'x-amz-copy-source')
      // and the untouched request still passes
      await verifyRequest(r, lookup, t)
    }
  })

  it('refuses every single-field tampering of a presigned URL', async () => {
    for (let i = 0; i < ROUNDS / 2; i++) {
      const { request: r, signedAt: t } = await signedByPresign()
      const q = r.rawQuery
      await rejectsWith(verifyRequest({ ...r, method: 'PUT' }, lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest({ ...r, rawPath: r.rawPath + 'x' }, lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest({ ...r, rawQuery: q + '&response-content-type=text%2Fhtml' }, lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace(/X-Amz-Expires=(\d+)/, (_, n: string) => `X-Amz-Expires=${n === '1' ? 2 : Number(n) - 1}`) }, lookup, t), 'SignatureDoesNotMatch')
      const later = new Date(t + 1000).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z')
      await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace(/X-Amz-Date=\w+/, `X-Amz-Date=${later}`) }, lookup, t + 2000), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace(/X-Amz-Signature=[0-9a-f]{64}/, `X-Amz-Signature=${'0'.repeat(64)}`) }, lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace(/X-Amz-Credential=AKID\w+/, 'X-Amz-Credential=AKIDUNKNOWN') }, lookup, t), 'InvalidAccessKeyId')
      await rejectsWith(verifyRequest(r, () => 'not the secret', t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest(withHeader(r, 'host', 'evil.example'), lookup, t), 'SignatureDoesNotMatch')
      await rejectsWith(verifyRequest(withHeader(r, 'x-amz-acl', 'public-read'), lookup, t), 'AccessDenied')
      await verifyRequest(r, lookup, t)
    }
  })
})

describe('SigV4: what S3 refuses, and how', () => {
  const host = 'examplebucket.s3.amazonaws.com'
  const docGet = DOC_GET
  const auth = docGet.headers.authorization as string

  it('no authentication at all is AccessDenied', async () => {
    await rejectsWith(verifyRequest({ method: 'GET', rawPath: '/b/k', rawQuery: '', headers: { host } }, docSecrets, DOC_NOW), 'AccessDenied', 'Access Denied')
    assert.equal(requestAuthKind({ rawQuery: 'x-id=GetObject', headers: { host } }), 'none')
  })

  it('a clock more than 15 minutes away is RequestTimeTooSkewed', async () => {
    await verifyRequest(docGet, docSecrets, DOC_NOW + 15 * 60_000)
    await verifyRequest(docGet, docSecrets, DOC_NOW - 15 * 60_000)
    const err = await rejectsWith(verifyRequest(docGet, docSecrets, DOC_NOW + 15 * 60_000 + 1000), 'RequestTimeTooSkewed')
    assert.equal(err.status, 403)
    assert.equal(err.extra.MaxAllowedSkewMilliseconds, '900000')
    await rejectsWith(verifyRequest(docGet, docSecrets, DOC_NOW - 16 * 60_000), 'RequestTimeTooSkewed')
  })

  it('a presigned URL from the future is not yet valid; X-Amz-Expires is bounded', async () => {
    const q = `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AKID}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404`
    const r: SignedRequest = { method: 'GET', rawPath: '/test.txt', rawQuery: q, headers: { host } }
    await verifyRequest(r, docSecrets, DOC_NOW - 10 * 60_000) // a little clock skew is fine
    await rejectsWith(verifyRequest(r, docSecrets, DOC_NOW - 20 * 60_000), 'AccessDenied', 'Request is not yet valid')
    await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace('86400', '604801') }, docSecrets, DOC_NOW), 'AuthorizationQueryParametersError',
      'X-Amz-Expires must be less than a week (in seconds) that is; 604800')
    await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace('86400', '-1') }, docSecrets, DOC_NOW), 'AuthorizationQueryParametersError')
    await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace('&X-Amz-Expires=86400', '') }, docSecrets, DOC_NOW), 'AuthorizationQueryParametersError')
    await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace('X-Amz-Algorithm=AWS4-HMAC-SHA256', 'X-Amz-Algorithm=AWS4-HMAC-SHA1') }, docSecrets, DOC_NOW), 'AuthorizationQueryParametersError')
    await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace('X-Amz-Date=20130524T000000Z', 'X-Amz-Date=2013-05-24') }, docSecrets, DOC_NOW), 'AuthorizationQueryParametersError')
    await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace('%2F20130524%2F', '%2F20130525%2F') }, docSecrets, DOC_NOW), 'AuthorizationQueryParametersError', /Invalid credential date/)
    await rejectsWith(verifyRequest({ ...r, rawQuery: q.replace('X-Amz-SignedHeaders=host', 'X-Amz-SignedHeaders=range') }, docSecrets, DOC_NOW), 'AccessDenied',
      'There were headers present in the request which were not signed')
    // both mechanisms at once
    await rejectsWith(verifyRequest({ ...r, headers: { host, authorization: auth } }, docSecrets, DOC_NOW), 'InvalidArgument', /Only one auth mechanism allowed/)
    // a SigV2 presigned URL
    await rejectsWith(verifyRequest({ ...r, rawQuery: 'AWSAccessKeyId=AKID&Expires=1&Signature=abc' }, docSecrets, DOC_NOW), 'InvalidRequest', /Please use AWS4-HMAC-SHA256/)
  })

  it('a presigned URL may carry its payload hash in the query', async () => {
    // as @aws-sdk/s3-request-presigner spells it; the name is read ignoring case
    const q = 'x-amz-content-sha256=' + EMPTY
    const signed = await signer(AKID, SECRET, 'us-east-1').presign(
      { method: 'PUT', protocol: 'http:', hostname: 'h', path: '/b/k', query: {}, headers: { host: 'h', 'x-amz-content-sha256': EMPTY } },
      { signingDate: new Date(DOC_NOW), expiresIn: 60 })
    const rawQuery = wireQuery(signed.query as Query, 'strict')
    assert.ok(rawQuery.includes(q))
    const result = await verifyRequest({ method: 'PUT', rawPath: '/b/k', rawQuery, headers: { host: 'h' } }, docSecrets, DOC_NOW)
    assert.equal(result.payload, 'signed')
    assert.equal(result.contentSha256, EMPTY)
    // the signed hash in the URL is not lifted by an unsigned header
    const lifted = await verifyRequest({ method: 'PUT', rawPath: '/b/k', rawQuery, headers: { host: 'h', 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } }, docSecrets, DOC_NOW)
    assert.equal(lifted.payload, 'signed')
    assert.equal(lifted.contentSha256, EMPTY)
    // without a hash in the URL, a header may ask for aws-chunked decoding
    const doc = `X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AKID}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404`
    const chunked = await verifyRequest({ method: 'GET', rawPath: '/test.txt', rawQuery: doc, headers: { host: 'examplebucket.s3.amazonaws.com', 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' } }, docSecrets, DOC_NOW)
    assert.equal(chunked.payload, 'streaming-unsigned-trailer')
  })

  it('reads the payload mode from x-amz-content-sha256, and requires it on header-signed requests', async () => {
    const modes = {
      'UNSIGNED-PAYLOAD': 'unsigned',
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD': 'streaming-signed',
      'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER': 'streaming-signed-trailer',
      'STREAMING-UNSIGNED-PAYLOAD-TRAILER': 'streaming-unsigned-trailer',
      [EMPTY]: 'signed'
    } as const
    for (const [value, mode] of Object.entries(modes)) {
      const s = await signer(AKID, SECRET, 'us-east-1').sign(
        { method: 'PUT', protocol: 'http:', hostname: 'h', path: '/b/k', query: {}, headers: { host: 'h', 'x-amz-content-sha256': value } },
        { signingDate: new Date(DOC_NOW) })
      const result = await verifyRequest({ method: 'PUT', rawPath: '/b/k', rawQuery: '', headers: s.headers }, docSecrets, DOC_NOW)
      assert.equal(result.payload, mode)
      assert.equal(result.contentSha256, value)
    }
    await rejectsWith(verifyRequest(withHeader(docGet, 'x-amz-content-sha256', undefined), docSecrets, DOC_NOW), 'InvalidRequest',
      'Missing required header for this request: x-amz-content-sha256')
    const bad = await rejectsWith(verifyRequest(withHeader(docGet, 'x-amz-content-sha256', 'STREAMING-UNSIGNED-PAYLOAD'), docSecrets, DOC_NOW), 'InvalidArgument')
    assert.equal(bad.extra.ArgumentName, 'x-amz-content-sha256')
  })

  it('reads the time from Date when there is no x-amz-date', async () => {
    // the canonical request written out by hand; the string to sign carries
    // the time in the basic ISO form whatever header gave it
    const date = 'Fri, 24 May 2013 00:00:00 GMT'
    const canonical = `GET\n/b/k\n\ndate:${date}\nhost:h\nx-amz-content-sha256:${EMPTY}\n\ndate;host;x-amz-content-sha256\n${EMPTY}`
    const toSign = `AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n${createHash('sha256').update(canonical).digest('hex')}`
    const signature = await signer(AKID, SECRET, 'us-east-1').sign(toSign, { signingDate: new Date(DOC_NOW) })
    const headers = {
      host: 'h',
      date,
      'x-amz-content-sha256': EMPTY,
      authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request, SignedHeaders=date;host;x-amz-content-sha256, Signature=${signature}`
    }
    const result = await verifyRequest({ method: 'GET', rawPath: '/b/k', rawQuery: '', headers }, docSecrets, DOC_NOW + 60_000)
    assert.equal(result.amzDate, '20130524T000000Z')
    await rejectsWith(verifyRequest({ method: 'GET', rawPath: '/b/k', rawQuery: '', headers }, docSecrets, DOC_NOW + 20 * 60_000), 'RequestTimeTooSkewed')
    await rejectsWith(verifyRequest({ method: 'GET', rawPath: '/b/k', rawQuery: '', headers: { ...headers, date: 'yesterday' } }, docSecrets, DOC_NOW), 'AccessDenied',
      'AWS authentication requires a valid Date or x-amz-date header')
  })

  it('refuses malformed Authorization headers with AuthorizationHeaderMalformed', async () => {
    const check = async (value: string, code: S3ErrorCode, message?: RegExp): Promise<void> => {
      await rejectsWith(verifyRequest(withHeader(docGet, 'authorization', value), docSecrets, DOC_NOW), code, message)
    }
    await check(auth.replace(/,Signature=\w+/, ''), 'AuthorizationHeaderMalformed', /requires three components/)
    await check(auth.replace('/us-east-1/', '/'), 'AuthorizationHeaderMalformed', /Credential is mal-formed/)
    await check(auth.replace('/s3/', '/ec2/'), 'AuthorizationHeaderMalformed', /incorrect service "ec2"/)
    await check(auth.replace('aws4_request', 'aws4_reques'), 'AuthorizationHeaderMalformed', /incorrect terminal/)
    await check(auth.replace('/20130524/', '/20130525/'), 'AuthorizationHeaderMalformed', /Invalid credential date "20130525"/)
    await check('AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg=', 'InvalidRequest', /Please use AWS4-HMAC-SHA256/)
    await check('Bearer abc', 'InvalidArgument', /Unsupported Authorization Type/)
    // host must be signed
    const noHost = auth.replace('SignedHeaders=host;', 'SignedHeaders=')
    const err = await rejectsWith(verifyRequest(withHeader(docGet, 'authorization', noHost), docSecrets, DOC_NOW), 'AccessDenied')
    assert.equal(err.extra.HeadersNotSigned, 'host')
    // any region is accepted, as long as it is the one signed for
    await check(auth.replace('us-east-1', 'eu-west-1'), 'SignatureDoesNotMatch')
  })

  it('accepts separators with and without spaces, in any order', async () => {
    const spaced = auth.replace(/,/g, ', ')
    await verifyRequest(withHeader(docGet, 'authorization', spaced), docSecrets, DOC_NOW)
    const [scheme, rest] = [auth.slice(0, auth.indexOf(' ')), auth.slice(auth.indexOf(' ') + 1)]
    const reordered = `${scheme} ${rest.split(',').reverse().join(',')}`
    await verifyRequest(withHeader(docGet, 'authorization', reordered), docSecrets, DOC_NOW)
  })
})
