// Fuzzing SigV4 (gateway/s3/auth: parse.ts, canonical.ts, encoding.ts,
// verify.ts): every refusal is a typed S3 4xx, requests signed by the AWS
// SDK's own signer (@smithy/signature-v4) always verify, and a request
// changed after signing is refused unless the change cannot alter what it
// asks for (an equivalent percent-encoding, extra blanks). test/helpers/fuzz.ts
// has the seed and the number of cases.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { SignatureV4 } from '@smithy/signature-v4'
import { Hash } from '@smithy/hash-node'
import { verifyRequest } from '../../gateway/s3/auth/index.ts'
import type { SignedRequest } from '../../gateway/s3/auth/index.ts'
import { canonicalHeaderValue, canonicalQuery, canonicalUriCandidates, headerFor, parseQuery } from '../../gateway/s3/auth/canonical.ts'
import { percentDecode, uriEncodeBytes } from '../../gateway/s3/auth/encoding.ts'
import { formatAmzDate, parseAmzDate, parseAuthorizationHeader, parsePresignedQuery, requestTime } from '../../gateway/s3/auth/parse.ts'
import { assertS3Refusal, fc, FUZZ_SEED, fuzz, fuzzAsync, junkText, mutateString, refusedOr, refusedOrAsync, trickyChar } from '../helpers/fuzz.ts'

const ACCOUNTS: Record<string, string> = {
  AKIDFUZZTENANTONE001: 'secret+one/with=odd~chars%and spaces',
  AKIDFUZZTENANTTWO002: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
}
const lookup = (id: string): string | undefined => ACCOUNTS[id]
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'

// ---------------------------------------------------------------------------
// Requests as a client makes them

/** Key characters: the ones encodings disagree on, multi-byte UTF-8, slashes and dot segments. */
const KEY_UNITS = [...'abcXYZ019-_.~ +%!()*\'&=?#;:@,$[]{}^`|"<>\\', 'é', '日本', '😀', '/', '/', '..', '//', '%2F', '%zz']
const keyArb = fc.oneof(
  fc.string({ unit: fc.constantFrom(...KEY_UNITS), minLength: 1, maxLength: 24 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 12 })
)
const queryNameArb = fc.oneof(
  fc.constantFrom('prefix', 'delimiter', 'list-type', 'uploadId', 'partNumber', 'x-id', 'acl', 'tagging', 'versionId', 'encoding-type', 'max-keys', 'continuation-token'),
  fc.string({ unit: fc.constantFrom(...'ab01 +=&/%~!*é😀'), minLength: 1, maxLength: 6 })
)
const queryValueArb = fc.string({ unit: fc.constantFrom(...'ab01 +=&/%~!*\'()é😀?#'), maxLength: 10 })
type Query = Record<string, string | string[]>
const queryArb: fc.Arbitrary<Query> = fc.dictionary(queryNameArb, fc.oneof(
  { weight: 4, arbitrary: queryValueArb },
  { weight: 1, arbitrary: fc.array(queryValueArb, { minLength: 1, maxLength: 3 }) }
), { maxKeys: 4 }).map((q) => {
  // reserved by SigV4 itself: the signer leaves X-Amz-Signature out of what it signs
  const out: Query = {}
  for (const [k, v] of Object.entries(q)) if (!k.toLowerCase().startsWith('x-amz-')) out[k] = v
  return out
})
/** Header values as clients send them: printable ASCII with runs of blanks (SigV4 trims and folds them). */
const headerValueArb = fc.string({ unit: fc.constantFrom(...'ab Z09-;=,/:"\t  '), minLength: 1, maxLength: 16 })
  .filter((v) => v.trim() !== '')

/** As the AWS SDKs send a key: RFC 3986 per UTF-8 byte, slashes kept. */
function strictEncode (text: string, keepSlash: boolean): string {
  const encoded = encodeURIComponent(text).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
  return keepSlash ? encoded.replace(/%2F/g, '/') : encoded
}
/** A laxer client: encodeURIComponent leaves !'()* as they are; `+` for a space in a form-style query. */
function laxEncode (text: string, keepSlash: boolean, plusForSpace = false): string {
  let encoded = encodeURIComponent(text)
  if (keepSlash) encoded = encoded.replace(/%2F/g, '/')
  return plusForSpace ? encoded.replace(/%20/g, '+') : encoded
}
type QueryStyle = 'strict' | 'lax' | 'form'
function wireQuery (query: Query, style: QueryStyle, bare: boolean): string {
  const enc = (s: string): string => style === 'strict' ? strictEncode(s, false) : laxEncode(s, false, style === 'form')
  const parts: string[] = []
  for (const [name, value] of Object.entries(query)) {
    for (const v of Array.isArray(value) ? value : [value]) parts.push(v === '' && bare ? enc(name) : `${enc(name)}=${enc(v)}`)
  }
  return parts.join('&')
}

interface ClientRequest {
  account: string
  region: string
  method: string
  key: string
  laxPath: boolean
  query: Query
  style: QueryStyle
  bare: boolean
  headers: Record<string, string>
  payload: string
  signedAt: number
  /** header auth: how far the server's clock is; presigned: how far into the URL's life */
  clockOffset: number
  presigned: boolean
  expires: number
}

const clientRequestArb: fc.Arbitrary<ClientRequest> = fc.record({
  account: fc.constantFrom(...Object.keys(ACCOUNTS)),
  // a few regions and days, so that signing keys are reused as by a real client (the key derivation is not what is fuzzed)
  region: fc.constantFrom('us-east-1', 'eu-central-1', 'fdn', 'garage', 'weird!*\'()region', 'a=b;c'),
  method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD'),
  key: keyArb,
  laxPath: fc.boolean(),
  query: queryArb,
  style: fc.constantFrom<QueryStyle>('strict', 'lax', 'form'),
  bare: fc.boolean(),
  headers: fc.dictionary(fc.constantFrom('content-type', 'x-amz-acl', 'x-amz-meta-caption', 'x-amz-meta-a', 'content-md5', 'range', 'x-amz-storage-class', 'if-match'), headerValueArb, { maxKeys: 4 }),
  payload: fc.constantFrom('UNSIGNED-PAYLOAD', EMPTY_SHA256, 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'),
  signedAt: fc.tuple(fc.constantFrom(Date.UTC(2000, 0, 1), Date.UTC(2024, 1, 29), Date.UTC(2025, 11, 31), Date.UTC(2099, 11, 31)), fc.integer({ min: 0, max: 86_399 }))
    .map(([day, second]) => day + second * 1000),
  clockOffset: fc.integer({ min: -14 * 60_000, max: 14 * 60_000 }),
  presigned: fc.boolean(),
  expires: fc.integer({ min: 1, max: 604800 })
})

const signers = new Map<string, SignatureV4>()
function signer (accessKeyId: string, region: string): SignatureV4 {
  const id = `${accessKeyId}/${region}`
  let s = signers.get(id)
  if (s === undefined) {
    // uriEscapePath: false is how the S3 client configures it: S3 signs the path as sent
    s = new SignatureV4({ service: 's3', region, credentials: { accessKeyId, secretAccessKey: ACCOUNTS[accessKeyId]! }, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false })
    signers.set(id, s)
  }
  return s
}

interface Signed { request: SignedRequest, now: number }

/** Signs a request with the AWS SDK's signer and puts it on the wire as that client would. */
async function sign (c: ClientRequest): Promise<Signed> {
  const path = '/media/' + strictEncode(c.key, true)
  const wirePath = c.laxPath ? '/media/' + laxEncode(c.key, true) : path
  const host = 'fdn.example.org:8080'
  const when = { signingDate: new Date(c.signedAt) }
  const s = signer(c.account, c.region)
  if (c.presigned) {
    // what @aws-sdk/s3-request-presigner does: the payload is declared
    // unsigned, and that x-amz-* header is hoisted into the query
    const presigned = await s.presign(
      { method: c.method, protocol: 'http:', hostname: 'fdn.example.org', port: 8080, path, query: c.query, headers: { host, 'X-Amz-Content-Sha256': 'UNSIGNED-PAYLOAD' } },
      { ...when, expiresIn: c.expires })
    return {
      request: { method: c.method, rawPath: wirePath, rawQuery: wireQuery(presigned.query as Query, c.style, c.bare), headers: { host } },
      now: c.signedAt + Math.floor((Math.abs(c.clockOffset) / (14 * 60_000)) * c.expires * 1000)
    }
  }
  const signed = await s.sign(
    { method: c.method, protocol: 'http:', hostname: 'fdn.example.org', port: 8080, path, query: c.query, headers: { host, 'x-amz-content-sha256': c.payload, ...c.headers } },
    when)
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(signed.headers)) headers[name.toLowerCase()] = String(value)
  return { request: { method: c.method, rawPath: wirePath, rawQuery: wireQuery(c.query, c.style, c.bare), headers }, now: c.signedAt + c.clockOffset }
}

// ---------------------------------------------------------------------------

describe('fuzz SigV4: percent-encoding and query parsing', () => {
  it('uriEncodeBytes → percentDecode is the identity on any bytes, and encodes to unreserved characters and %XY only', () => {
    fuzz(fc.tuple(fc.uint8Array({ maxLength: 64 }), fc.boolean()), ([bytes, keepSlash]) => {
      const encoded = uriEncodeBytes(bytes, keepSlash)
      assert.match(encoded, keepSlash ? /^(?:[A-Za-z0-9\-_.~/]|%[0-9A-F]{2})*$/ : /^(?:[A-Za-z0-9\-_.~]|%[0-9A-F]{2})*$/)
      assert.deepEqual(percentDecode(encoded, false), Buffer.from(bytes))
      assert.deepEqual(percentDecode(encoded, true), Buffer.from(bytes))
    })
  })

  it('percentDecode, canonicalUriCandidates and parseQuery take any text; the canonical query is a fixed point', () => {
    const text = fc.oneof(junkText(30), mutateString(fc.constantFrom('/a%20b/c', 'a=1&b=%2F&c', 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20250101T000000Z', '%E6%97%A5', 'a+b=c+d')))
    fuzz(text, (t) => {
      percentDecode(t, true)
      const candidates = canonicalUriCandidates(t)
      assert.ok(candidates.length >= 1 && candidates.length <= 2)
      const canonical = canonicalQuery(parseQuery(t))
      assert.equal(canonicalQuery(parseQuery(canonical)), canonical)
    })
  })
})

describe('fuzz SigV4: parsing the Authorization header and presigned parameters', () => {
  const VALID_HEADER = 'AWS4-HMAC-SHA256 Credential=AKIDFUZZTENANTONE001/20250101/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=' + 'ab'.repeat(32)
  const PRESIGNED = 'X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFUZZTENANTONE001%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=' + 'ab'.repeat(32)

  it('an Authorization header parses into its parts or is a typed 4xx refusal', () => {
    const header = fc.oneof(
      { weight: 3, arbitrary: mutateString(fc.constant(VALID_HEADER), { maxEdits: 4 }) },
      { weight: 1, arbitrary: junkText(60) },
      { weight: 1, arbitrary: fc.tuple(fc.array(fc.constantFrom('Credential=AKID/20250101/r/s3/aws4_request', 'SignedHeaders=host', 'Signature=00', 'Credential=', 'x=y', '', ' '), { maxLength: 5 }), fc.constantFrom(',', ', ', ' ,')).map(([parts, sep]) => `AWS4-HMAC-SHA256 ${parts.join(sep)}`) }
    )
    fuzz(header, (h) => {
      const parsed = refusedOr(() => parseAuthorizationHeader(h), assertS3Refusal)
      if (parsed === undefined) return
      assert.equal(parsed.credential.service, 's3')
      assert.equal(parsed.credential.terminator, 'aws4_request')
      assert.match(parsed.credential.date, /^\d{8}$/)
      assert.ok(parsed.signedHeaders.every((name) => name === name.toLowerCase()))
    })
  })

  it('the parts of any well-formed header come back as written, in any order and spacing', () => {
    const part = fc.string({ unit: fc.constantFrom(...'aZ09-._~+'), minLength: 1, maxLength: 12 })
    const arb = fc.record({
      akid: part,
      date: fc.stringMatching(/^\d{8}$/),
      region: part,
      headers: fc.array(fc.string({ unit: fc.constantFrom(...'abz-0'), minLength: 1, maxLength: 8 }), { minLength: 1, maxLength: 5 }),
      signature: fc.stringMatching(/^[0-9a-f]{64}$/),
      order: fc.constantFrom([0, 1, 2], [2, 1, 0], [1, 0, 2]),
      sep: fc.constantFrom(',', ', ', ' , ', ',  ')
    })
    fuzz(arb, (a) => {
      const fields = [`Credential=${a.akid}/${a.date}/${a.region}/s3/aws4_request`, `SignedHeaders=${a.headers.join(';')}`, `Signature=${a.signature}`]
      const parsed = parseAuthorizationHeader(`AWS4-HMAC-SHA256 ${a.order.map((i) => fields[i]).join(a.sep)}`)
      assert.deepEqual(parsed, {
        kind: 'header',
        credential: { accessKeyId: a.akid, date: a.date, region: a.region, service: 's3', terminator: 'aws4_request' },
        signedHeaders: a.headers,
        signature: a.signature
      })
    })
  })

  it('presigned parameters parse or are a typed 4xx refusal', () => {
    const query = fc.oneof(
      { weight: 3, arbitrary: mutateString(fc.constant(PRESIGNED), { maxEdits: 4 }) },
      { weight: 1, arbitrary: junkText(60) },
      { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom('X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Date', 'X-Amz-Expires', 'X-Amz-SignedHeaders', 'X-Amz-Signature', 'Signature', 'AWSAccessKeyId'), junkText(12)), { maxLength: 8 }).map((ps) => ps.map(([k, v]) => `${k}=${v.isWellFormed() ? encodeURIComponent(v) : v}`).join('&')) }
    )
    fuzz(query, (q) => {
      const parsed = refusedOr(() => parsePresignedQuery(parseQuery(q)), assertS3Refusal)
      if (parsed === undefined) return
      assert.ok(parsed.expires >= 0 && parsed.expires <= 604800)
      assert.notEqual(parseAmzDate(parsed.amzDate), undefined)
    })
  })

  it('request times: parseAmzDate takes real times only and formatAmzDate writes them back', () => {
    const text = fc.oneof(
      fc.integer({ min: 0, max: Date.UTC(9999, 11, 31) }).map((ms) => formatAmzDate(ms - (ms % 1000))),
      mutateString(fc.constant('20250228T235959Z')),
      fc.stringMatching(/^\d{8}T\d{6}Z$/),
      junkText(20)
    )
    fuzz(fc.tuple(text, fc.option(junkText(30), { nil: undefined })), ([t, date]) => {
      const ms = parseAmzDate(t)
      if (ms !== undefined) assert.equal(formatAmzDate(ms), t)
      const time = requestTime(undefined, date ?? t)
      if (time !== undefined) assert.ok(Number.isFinite(time.ms))
    })
  })
})

describe('fuzz SigV4: verifying requests', () => {
  it('requests signed by @smithy/signature-v4 verify, whatever their key, query, headers, region or clock', async () => {
    await fuzzAsync(clientRequestArb, async (c) => {
      const { request, now } = await sign(c)
      const auth = await verifyRequest(request, lookup, now)
      assert.equal(auth.accessKeyId, c.account)
      assert.equal(auth.region, c.region)
      assert.equal(auth.kind, c.presigned ? 'presigned' : 'header')
    })
  })

  /** What a request asks for, as far as a signature can bind it: equal meanings are the same request. */
  function meaning (r: SignedRequest, signedHeaders: readonly string[]): unknown {
    const authorization = r.headers.authorization
    return {
      method: r.method,
      path: percentDecode(r.rawPath, false).toString('hex'),
      query: canonicalQuery(parseQuery(r.rawQuery)),
      headers: signedHeaders.map((name) => canonicalHeaderValue(headerFor(r.headers, name))),
      // x-amz-content-sha256 is the payload hash line of a header-signed request; a presigned URL that signed its own ignores the header
      extra: Object.keys(r.headers).filter((name) => name.startsWith('x-amz-') && name !== 'x-amz-content-sha256').sort(),
      authorization: typeof authorization === 'string' ? refusedOr(() => parseAuthorizationHeader(authorization), () => {}) : undefined
    }
  }

  type Change =
    | { part: 'method' | 'path' | 'query', text: string }
    | { part: 'header', index: number, text: string }
    | { part: 'add', name: string, value: string }
    | { part: 'drop', index: number }

  let pool: Signed[] = []
  before(async () => {
    // signed once, changed many times: signing costs more than verifying
    pool = await Promise.all(fc.sample(clientRequestArb, { seed: FUZZ_SEED, numRuns: 128 }).map(sign))
  })

  it('a signed request changed in any way is refused with a typed 4xx, unless it still asks for exactly the same', async () => {
    const edit = (base: string): fc.Arbitrary<string> => mutateString(fc.constant(base), { maxEdits: 2 })
    // one arbitrary per signed request, made once (not once per case)
    const changes = pool.map(({ request }, i) => {
      const names = Object.keys(request.headers)
      const change: fc.Arbitrary<Change> = fc.oneof(
        fc.record({ part: fc.constant('method' as const), text: edit(request.method) }),
        fc.record({ part: fc.constant('path' as const), text: edit(request.rawPath) }),
        fc.record({ part: fc.constant('query' as const), text: edit(request.rawQuery) }),
        fc.nat({ max: names.length - 1 }).chain((index) => fc.record({ part: fc.constant('header' as const), index: fc.constant(index), text: edit(request.headers[names[index]!] as string) })),
        fc.record({ part: fc.constant('add' as const), name: fc.constantFrom('x-amz-acl', 'x-amz-meta-evil', 'x-amz-copy-source', 'x-amz-date', 'authorization', 'x-amz-content-sha256'), value: junkText(10) }),
        fc.record({ part: fc.constant('drop' as const), index: fc.nat({ max: names.length - 1 }) })
      )
      return fc.tuple(fc.constant(i), change)
    })
    await fuzzAsync(fc.nat({ max: pool.length - 1 }).chain((i) => changes[i]!), async ([i, change]) => {
      const { request, now } = pool[i]!
      const names = Object.keys(request.headers)
      const headers = { ...request.headers }
      let changed: SignedRequest = request
      switch (change.part) {
        case 'method': changed = { ...request, method: change.text }; break
        case 'path': changed = { ...request, rawPath: change.text }; break
        case 'query': changed = { ...request, rawQuery: change.text }; break
        case 'header': headers[names[change.index]!] = change.text; changed = { ...request, headers }; break
        case 'add': headers[change.name] = change.value; changed = { ...request, headers }; break
        case 'drop': delete headers[names[change.index]!]; changed = { ...request, headers }; break
      }
      const original = await verifyRequest(request, lookup, now)
      const auth = await refusedOrAsync(() => verifyRequest(changed, lookup, now), assertS3Refusal)
      if (auth === undefined) return
      // accepted: then it is the same request in another spelling
      assert.deepEqual(meaning(changed, original.signedHeaders), meaning(request, original.signedHeaders))
      assert.equal(auth.contentSha256, original.contentSha256)
    })
  })

  it('junk and half-valid requests are refused with a typed 4xx, never anything else', async () => {
    const template = pool.length > 0 ? pool[0]!.request : undefined
    const headerName = fc.constantFrom('authorization', 'x-amz-date', 'date', 'x-amz-content-sha256', 'host', 'x-amz-meta-a', 'x-amz-security-token', ':authority', 'content-length')
    const headerValue = fc.oneof(junkText(30), fc.array(junkText(10), { minLength: 1, maxLength: 2 }), fc.constantFrom(
      'AWS4-HMAC-SHA256 Credential=AKIDFUZZTENANTONE001/20250101/us-east-1/s3/aws4_request,SignedHeaders=host,Signature=00',
      'AWS AKIDFUZZTENANTONE001:abc', 'AWS4-ECDSA-P256-SHA256 x', '20250101T000000Z', 'Wed, 01 Jan 2025 00:00:00 GMT', 'UNSIGNED-PAYLOAD', EMPTY_SHA256))
    const arb = fc.record({
      method: fc.oneof(fc.constantFrom('GET', 'PUT'), junkText(6)),
      rawPath: fc.oneof(fc.constant('/b/k'), junkText(20)),
      rawQuery: fc.oneof(fc.constant(''), junkText(40), mutateString(fc.constant('X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDFUZZTENANTONE001%2F20250101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20250101T000000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=00'))),
      headers: fc.dictionary(headerName, headerValue, { maxKeys: 6 }),
      now: fc.oneof(fc.constant(Date.UTC(2025, 0, 1)), fc.integer({ min: -8.64e15, max: 8.64e15 }))
    })
    const mutated = template === undefined
      ? arb
      : fc.oneof(arb, fc.record({
        method: fc.constant(template.method),
        rawPath: fc.constant(template.rawPath),
        rawQuery: fc.constant(template.rawQuery),
        headers: fc.tuple(fc.constantFrom(...Object.keys(template.headers)), headerValue).map(([name, value]) => ({ ...template.headers, [name]: value })),
        now: fc.constant(pool[0]!.now)
      }))
    await fuzzAsync(mutated, async (r) => {
      await refusedOrAsync(() => verifyRequest(r, lookup, r.now), assertS3Refusal)
    })
  })

  it('query parameters with tricky characters round-trip through the canonical form', () => {
    fuzz(fc.array(fc.tuple(fc.string({ unit: trickyChar, maxLength: 6 }), fc.string({ unit: trickyChar, maxLength: 6 })), { maxLength: 5 }), (pairs) => {
      const wellFormed = pairs.filter(([k, v]) => k.isWellFormed() && v.isWellFormed() && k !== '')
      const raw = wellFormed.map(([k, v]) => `${strictEncode(k, false)}=${strictEncode(v, false)}`).join('&')
      const params = parseQuery(raw)
      assert.deepEqual(params.map((p) => [p.name, p.value]), wellFormed)
    })
  })
})
