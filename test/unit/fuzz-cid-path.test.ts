// Fuzzing what reads CIDs and paths off a URL: protocol/cid.ts parseCid (the
// gateway's /ipfs/{cid}, the retrieve API's /api/v1/blobs/{cid}), the S3
// request line (gateway/s3/context.ts: bucket, key, virtual hosts),
// x-amz-copy-source (gateway/s3/copy-source.ts) and the names of
// protocol/names.ts. Every refusal is typed and maps to a 4xx; what a
// client's encoder wrote comes back as it was.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { CID } from 'multiformats/cid'
import { base16 } from 'multiformats/bases/base16'
import { base32 } from 'multiformats/bases/base32'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { base64, base64url } from 'multiformats/bases/base64'
import * as Digest from 'multiformats/hashes/digest'
import { parseS3Request, hostName, virtualHostBucket } from '../../gateway/s3/context.ts'
import { parseCopySource } from '../../gateway/s3/copy-source.ts'
import { cidString, parseCid } from '../../protocol/cid.ts'
import { DAG_PB_CODEC, IDENTITY_HASH, MAX_IDENTITY_SIZE, RAW_CODEC, SHA2_256 } from '../../protocol/cid-profile.ts'
import { MAX_KEY_BYTES, parseObjectKey, parseTenantName } from '../../protocol/names.ts'
import { assertJsonRefusal, assertS3Refusal, fc, fuzz, junkText, mutateString, refusedOr } from '../helpers/fuzz.ts'

const BASES = [base32, base36, base58btc, base16, base64, base64url]

/** A CID this node serves: raw or dag-pb, sha2-256 or a small identity hash. */
const cidArb: fc.Arbitrary<CID> = fc.oneof(
  fc.tuple(fc.constantFrom(RAW_CODEC, DAG_PB_CODEC), fc.uint8Array({ minLength: 32, maxLength: 32 })).map(([codec, d]) => CID.createV1(codec, Digest.create(SHA2_256, d))),
  fc.uint8Array({ maxLength: MAX_IDENTITY_SIZE }).map((d) => CID.createV1(RAW_CODEC, Digest.create(IDENTITY_HASH, d))),
  fc.uint8Array({ minLength: 32, maxLength: 32 }).map((d) => CID.createV0(Digest.create(SHA2_256, d)))
)
/** Any CID multiformats can write, including codecs and hashes the node refuses. */
const anyCidArb: fc.Arbitrary<CID> = fc.tuple(fc.integer({ min: 0, max: 0x3fff }), fc.integer({ min: 0, max: 0x3fff }), fc.uint8Array({ maxLength: 40 }))
  .map(([codec, hash, d]) => CID.createV1(codec, Digest.create(hash, d)))
const cidText = (cid: CID, base: number): string => cid.version === 0 && base === 0 ? cid.toString() : cid.toV1().toString(BASES[base % BASES.length]!)

/** Key text as clients hold it: any well-formed Unicode, slashes, dot segments, percent signs. */
const keyArb = fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'Z', '0', '/', '.', '..', ' ', '+', '%', '%2F', '?', '#', '&', '=', ';', 'é', '日本', '😀', '\t', '\\'), minLength: 1, maxLength: 20 }),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 })
).filter((k) => !k.includes('\0'))
/** As the AWS SDKs send a key: RFC 3986 per UTF-8 byte, slashes kept. */
const encodeKey = (key: string): string => encodeURIComponent(key).replace(/[!'()*]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase()).replace(/%2F/g, '/')

function wireRequest (url: string, host?: string): IncomingMessage {
  return { method: 'GET', url, headers: host === undefined ? {} : { host } } as unknown as IncomingMessage
}

describe('fuzz CIDs and paths', () => {
  it('a CID the node serves parses from any base, as CIDv1 in base32 back', () => {
    fuzz(fc.tuple(cidArb, fc.nat()), ([cid, base]) => {
      const parsed = parseCid(cidText(cid, base))
      assert.ok(parsed.equals(cid.toV1()))
      assert.equal(cidString(parsed), cid.toV1().toString(base32))
      assert.equal(cidString(parseCid(cidString(parsed))), cidString(parsed))
    })
  })

  it('mangled CIDs, CIDs of other codecs and hashes, and junk are invalid_cid (400)', () => {
    const text = fc.oneof(
      { weight: 3, arbitrary: mutateString(fc.tuple(cidArb, fc.nat()).map(([c, b]) => cidText(c, b)), { maxEdits: 2 }) },
      { weight: 1, arbitrary: fc.tuple(anyCidArb, fc.nat()).map(([c, b]) => cidText(c, b)) },
      { weight: 1, arbitrary: junkText(60) },
      { weight: 1, arbitrary: fc.constantFrom('', 'b', 'Q', 'Qm', 'bafkqaaa', 'f01', 'z', 'u', 'bafy' + 'a'.repeat(5000)) }
    )
    fuzz(text, (t) => {
      const cid = refusedOr(() => parseCid(t), (err) => assert.equal(assertJsonRefusal(err).code, 'invalid_cid'))
      if (cid === undefined) return
      assert.equal(cid.version, 1)
      assert.ok(cid.code === RAW_CODEC || cid.code === DAG_PB_CODEC)
      assert.ok(cid.multihash.code === SHA2_256 || (cid.multihash.code === IDENTITY_HASH && cid.multihash.digest.length <= MAX_IDENTITY_SIZE))
    })
  })

  it('S3 request lines: bucket and key come back as the client encoded them, path-style and virtual-host', () => {
    const arb = fc.record({
      key: keyArb.filter((k) => Buffer.byteLength(k) <= MAX_KEY_BYTES),
      virtual: fc.boolean(),
      query: fc.constantFrom('', '?acl', '?uploadId=a%2Bb&partNumber=1', '?x-id=PutObject&a=b+c')
    })
    fuzz(arb, ({ key, virtual, query }) => {
      const request = virtual
        ? parseS3Request(wireRequest(`/${encodeKey(key)}${query}`, 'media.s3.fdn.example:8080'), 's3.fdn.example', 'FUZZ')
        : parseS3Request(wireRequest(`/media/${encodeKey(key)}${query}`, 'fdn.example'), 's3.fdn.example', 'FUZZ')
      assert.equal(request.bucket, 'media')
      assert.equal(request.key, key)
      assert.equal(request.style, virtual ? 'virtual-host' : 'path')
    })
  })

  it('any request line and Host parse, or are InvalidURI / KeyTooLongError / InvalidArgument (4xx)', () => {
    const url = fc.oneof(
      mutateString(fc.constantFrom('/media/photo%20one.jpg?uploads', '/media/a/b/../c?partNumber=1&uploadId=x', '/%F0%9F%98%80/%E6%97%A5', '/')),
      junkText(40),
      fc.uint8Array({ maxLength: 30 }).map((b) => '/' + [...b].map((x) => '%' + x.toString(16).padStart(2, '0')).join('')),
      fc.integer({ min: 1000, max: 1100 }).map((n) => '/b/' + 'k'.repeat(n))
    )
    const host = fc.option(fc.oneof(fc.constantFrom('media.s3.fdn.example', 'a.b.s3.fdn.example', '.s3.fdn.example', '[::1]:80', 's3.fdn.example', 'MEDIA.S3.FDN.EXAMPLE:1'), junkText(20)), { nil: undefined })
    fuzz(fc.tuple(url, host, fc.option(fc.constant('s3.fdn.example'), { nil: undefined })), ([u, h, domain]) => {
      const request = refusedOr(() => parseS3Request(wireRequest(u, h), domain, 'FUZZ'), (err) => {
        assert.ok(['InvalidURI', 'KeyTooLongError', 'InvalidArgument'].includes(assertS3Refusal(err).code))
      })
      hostName({ host: h })
      virtualHostBucket({ host: h }, domain)
      if (request?.key !== undefined) {
        assert.ok(Buffer.byteLength(request.key) <= MAX_KEY_BYTES)
        assert.ok(!request.key.includes('\0'))
      }
    })
  })

  it('x-amz-copy-source: bucket and key come back as encoded; anything else is a typed 4xx', () => {
    fuzz(fc.tuple(keyArb.filter((k) => Buffer.byteLength(k) <= MAX_KEY_BYTES), fc.boolean(), fc.constantFrom('', '?versionId=null')), ([key, slash, version]) => {
      assert.deepEqual(parseCopySource(`${slash ? '/' : ''}media/${encodeKey(key)}${version}`), { bucket: 'media', key })
    })
    fuzz(fc.oneof(mutateString(fc.constantFrom('/media/a%20b.jpg', 'media/dir/%E6%97%A5?versionId=null')), junkText(30)), (value) => {
      refusedOr(() => parseCopySource(value), assertS3Refusal)
    })
  })

  it('tenant names and object keys: valid, or invalid_request / key_too_long (400)', () => {
    fuzz(fc.oneof(mutateString(fc.constantFrom('mastodon', 'pixel-fed', 'abc')), fc.string({ maxLength: 70 }), fc.stringMatching(/^[a-z0-9-]{1,64}$/)), (name) => {
      const tenant = refusedOr(() => parseTenantName(name), assertJsonRefusal)
      if (tenant !== undefined) assert.match(tenant, /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/)
    })
    fuzz(fc.oneof(keyArb, junkText(20), fc.integer({ min: 1020, max: 1030 }).map((n) => 'é'.repeat(n / 2))), (key) => {
      refusedOr(() => parseObjectKey(key), assertJsonRefusal)
    })
  })
})
