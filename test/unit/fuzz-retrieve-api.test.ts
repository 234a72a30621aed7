// Fuzzing what the retrieve API reads (protocol/retrieve-api.ts, and the
// JSON body parse it shares with the swarm): request bodies as an instance
// sends them come back field for field; mangled bodies, digests and junk are
// typed refusals that the JSON surface answers with a 4xx; the URL forms a
// request is cached and resolved under never throw on a URL it accepted.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { CID } from 'multiformats/cid'
import { base16 } from 'multiformats/bases/base16'
import { base32 } from 'multiformats/bases/base32'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { base64, base64url } from 'multiformats/bases/base64'
import * as Digest from 'multiformats/hashes/digest'
import { pino } from 'pino'
import { toApiError } from '../../gateway/api/error-map.ts'
import { S3Error } from '../../gateway/s3/errors.ts'
import type { S3ErrorCode } from '../../gateway/s3/errors.ts'
import { cidString, parseCid } from '../../protocol/cid.ts'
import { RAW_CODEC, SHA2_256 } from '../../protocol/cid-profile.ts'
import { cidInUrl, digestMultibaseOf, MAX_API_URL_LENGTH, normaliseUrl, parseDigestMultibase, parseRetrieveRequest, rawCidOfSha256 } from '../../protocol/retrieve-api.ts'
import { parseJson } from '../../protocol/swarm-records.ts'
import { assertJsonRefusal, fc, fuzz, junkJson, junkText, mutateBytes, mutateJson, mutateString, refusedOr } from '../helpers/fuzz.ts'

const BASES = [base58btc, base32, base36, base16, base64, base64url]
const sha256Arb = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((b) => Buffer.from(b).toString('hex'))
const urlArb = fc.oneof(
  fc.webUrl({ validSchemes: ['https', 'http'], withQueryParameters: true, withFragments: true }),
  fc.constantFrom('https://files.example/media/a.png', 'http://[::1]:8080/x', 'https://gw.example/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku/a.png', 'https://bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku.ipfs.dweb.example/', 'ftp://x.example/a', 'data:image/png;base64,AAAA')
)

const requestArb = fc.record({
  url: urlArb,
  key: fc.string({ unit: 'binary', minLength: 1, maxLength: 30 }).filter((k) => !k.includes('\0')),
  actor: fc.webUrl({ validSchemes: ['https'] }),
  status: fc.webUrl({ validSchemes: ['https'] }),
  digestMultibase: sha256Arb.map(digestMultibaseOf)
}, { requiredKeys: ['url'] })

/** The body an instance sends, as the API reads it: bytes parsed as JSON. */
const body = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

describe('fuzz the retrieve API', () => {
  it('a request body as an instance writes it comes back field for field', () => {
    fuzz(requestArb, (request) => {
      const parsed = refusedOr(() => parseRetrieveRequest(parseJson(body(request), 'the request body')), assertJsonRefusal)
      // fast-check's web URLs are WHATWG URLs; fdn refuses only what is not one, or an ID with credentials or blanks
      if (parsed === undefined) return assert.ok(!URL.canParse(request.url) || request.actor !== undefined || request.status !== undefined)
      assert.deepEqual(parsed, JSON.parse(JSON.stringify(request)))
    })
  })

  it('mangled bodies and junk are typed refusals with a 4xx', () => {
    const bytes = fc.oneof(
      mutateJson(requestArb.map((r) => JSON.parse(JSON.stringify(r)) as unknown), 3).map(body),
      mutateBytes(requestArb.map(body), 3),
      junkJson.map(body),
      fc.uint8Array({ maxLength: 60 }),
      fc.constantFrom('{"url":"https://a.example/x","__proto__":{"key":"k"}}', '{"url":"https://a.example/x","key":""}', `{"url":"https://a.example/${'x'.repeat(MAX_API_URL_LENGTH)}"}`, '{"url":"https://a.example","digestMultibase":"z"}')
        .map((t) => new TextEncoder().encode(t))
    )
    fuzz(bytes, (b) => {
      const parsed = refusedOr(() => parseRetrieveRequest(parseJson(b, 'the request body')), (err) => {
        assert.ok(['invalid_request', 'key_too_long', 'invalid_digest'].includes(assertJsonRefusal(err).code))
      })
      if (parsed === undefined) return
      assert.ok(URL.canParse(parsed.url) && parsed.url.length <= MAX_API_URL_LENGTH)
      if (parsed.digestMultibase !== undefined) assert.match(parseDigestMultibase(parsed.digestMultibase), /^[0-9a-f]{64}$/)
      // what the retriever does with an accepted URL next never throws
      const url = normaliseUrl(parsed.url)
      cidInUrl(new URL(url))
    })
  })

  it('digestMultibase: a sha2-256 multihash in any multibase gives its digest; anything else is invalid_digest (400)', () => {
    fuzz(fc.tuple(sha256Arb, fc.nat()), ([hex, base]) => {
      const text = BASES[base % BASES.length]!.encode(Digest.create(SHA2_256, Buffer.from(hex, 'hex')).bytes)
      assert.equal(parseDigestMultibase(text), hex)
      assert.equal(rawCidOfSha256(hex), cidString(parseCid(rawCidOfSha256(hex))))
      assert.equal(CID.parse(rawCidOfSha256(hex)).multihash.digest.length, 32)
    })
    const text = fc.oneof(mutateString(sha256Arb.map(digestMultibaseOf), { maxEdits: 2 }), junkText(60), fc.tuple(fc.integer({ min: 0, max: 0x3fff }), fc.uint8Array({ maxLength: 40 }), fc.nat()).map(([code, d, base]) => BASES[base % BASES.length]!.encode(Digest.create(code, d).bytes)))
    fuzz(text, (t) => {
      const hex = refusedOr(() => parseDigestMultibase(t), (err) => assert.equal(assertJsonRefusal(err).code, 'invalid_digest'))
      if (hex !== undefined) assert.match(hex, /^[0-9a-f]{64}$/)
    })
  })

  it('URLs: the cached form is stable, and the CID a gateway URL names is one the node can verify', () => {
    const raw = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((d) => CID.createV1(RAW_CODEC, Digest.create(SHA2_256, d)).toString())
    const url = fc.oneof(
      urlArb,
      fc.tuple(raw, fc.webUrl()).map(([cid, u]) => { const x = new URL(u); x.pathname = `/ipfs/${cid}${x.pathname}`; return x.href }),
      fc.tuple(raw, fc.webUrl()).map(([cid, u]) => { const x = new URL(u); x.hostname = `${cid}.ipfs.${x.hostname}`; return x.href }),
      mutateString(fc.constant('https://gw.example/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'), { maxEdits: 3 })
    ).filter((u) => URL.canParse(u))
    fuzz(url, (u) => {
      const once = normaliseUrl(u)
      assert.equal(normaliseUrl(once), once)
      const cid = cidInUrl(new URL(once))
      if (cid !== undefined) assert.equal(cid.multihash.code, SHA2_256)
    })
  })

  it('the SigV4 and body refusals the API shares with S3 keep a 4xx on the JSON surface', () => {
    const codes: S3ErrorCode[] = ['AccessDenied', 'AuthorizationHeaderMalformed', 'AuthorizationQueryParametersError', 'BadDigest', 'EntityTooLarge', 'IncompleteBody',
      'InvalidAccessKeyId', 'InvalidArgument', 'InvalidChunkSizeError', 'InvalidDigest', 'InvalidRequest', 'MalformedTrailerError', 'MissingContentLength',
      'RequestTimeTooSkewed', 'SignatureDoesNotMatch', 'XAmzContentSHA256Mismatch']
    const log = pino({ level: 'silent' })
    for (const code of codes) assertJsonRefusal(toApiError(new S3Error(code), log))
  })
})
