// Fuzzing the S3 request headers and parameters fdn reads
// (gateway/s3/headers.ts, auth/body.ts's planBody, operation.ts's intParam,
// list.ts's continuation tokens): canned ACLs and grants, user metadata,
// system metadata, response overrides, Content-MD5, lengths and
// x-amz-checksum-*/x-amz-trailer. Any value is read or refused with a typed
// 4xx, and whatever is read and written back into an answer is a header value
// node accepts (node throws on one it does not: a 500).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { validateHeaderValue } from 'node:http'
import type { IncomingMessage } from 'node:http'
import type { FastifyReply } from 'fastify'
import type { ObjectRecord } from '../../node/objects/types.ts'
import { planBody, CHECKSUM_ALGORITHMS, checksumOf } from '../../gateway/s3/auth/index.ts'
import type { AuthResult } from '../../gateway/s3/auth/index.ts'
import { parseS3Request } from '../../gateway/s3/context.ts'
import { requestedAcl, setObjectHeaders, storedHeaders, userMetadata } from '../../gateway/s3/headers.ts'
import { decodeToken, encodeToken } from '../../gateway/s3/ops/list.ts'
import { intParam } from '../../gateway/s3/operation.ts'
import { assertS3Refusal, fc, fuzz, junkText, mutateString, refusedOr } from '../helpers/fuzz.ts'

/** Header values as node hands them over: tab, printable ASCII and Latin-1 (node refuses anything else on the wire). */
const wireValue = (maxLength = 30): fc.Arbitrary<string> => fc.oneof(
  fc.string({ unit: fc.constantFrom('a', 'Z', '0', ' ', '\t', ',', ';', '=', '"', '/', '*', '-', '\x80', '\xe9', '\xff'), maxLength }),
  fc.string({ unit: 'binary-ascii', maxLength }).filter(isWireValue)
)
function isWireValue (value: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value)
}

function s3Request (url: string, headers: Record<string, string>): ReturnType<typeof parseS3Request> {
  return parseS3Request({ method: 'GET', url, headers } as unknown as IncomingMessage, undefined, 'FUZZ')
}

/** What setObjectHeaders writes, checked as node's own setHeader would check it. */
function strictReply (): { reply: FastifyReply, headers: Map<string, string> } {
  const headers = new Map<string, string>()
  const reply = {
    header (name: string, value: string) {
      validateHeaderValue(name, value)
      headers.set(name, value)
      return reply
    }
  }
  return { reply: reply as unknown as FastifyReply, headers }
}

describe('fuzz S3 request headers', () => {
  it('ACL headers: public-read, private, the fallback, or InvalidArgument / InvalidRequest (400)', () => {
    const value = fc.oneof(
      fc.constantFrom('public-read', 'public-read-write', 'private', 'authenticated-read', 'bucket-owner-full-control', ' public-read ', 'PUBLIC-READ'),
      mutateString(fc.constantFrom('public-read', 'uri="http://acs.amazonaws.com/groups/global/AllUsers"')),
      wireValue()
    )
    const headers = fc.dictionary(fc.constantFrom('x-amz-acl', 'x-amz-grant-read', 'x-amz-grant-full-control', 'x-amz-grant-write', 'x-amz-grant-read-acp'), value, { maxKeys: 3 })
    fuzz(fc.tuple(headers, fc.constantFrom(undefined, 'private' as const, 'public-read' as const)), ([h, fallback]) => {
      const acl = refusedOr(() => requestedAcl({ headers: h }, fallback), (err) => assert.ok(['InvalidArgument', 'InvalidRequest'].includes(assertS3Refusal(err).code)))
      if (Object.keys(h).length === 0) assert.equal(acl, fallback)
      else if (acl !== undefined) assert.ok(acl === 'public-read' || acl === 'private')
    })
  })

  it('user and system metadata: read as sent, or MetadataTooLarge; and written back as valid header values', () => {
    const metaName = fc.stringMatching(/^[a-z0-9-]{1,20}$/).map((n) => `x-amz-meta-${n}`)
    const arb = fc.record({
      meta: fc.dictionary(metaName, fc.oneof(wireValue(), wireValue(400)), { maxKeys: 8 }),
      system: fc.dictionary(fc.constantFrom('content-type', 'cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'),
        fc.oneof(wireValue(), mutateString(fc.constantFrom('image/png', 'aws-chunked, gzip', 'attachment; filename="a.png"')).filter(isWireValue))),
      audience: fc.constantFrom('client' as const, 'browser' as const)
    })
    fuzz(arb, ({ meta, system, audience }) => {
      const headers = { ...meta, ...system }
      const metadata = refusedOr(() => userMetadata({ headers }), (err) => assert.equal(assertS3Refusal(err).code, 'MetadataTooLarge'))
      const stored = refusedOr(() => storedHeaders({ headers }), assertS3Refusal)
      if (metadata === undefined || stored === undefined) return
      for (const [name, value] of Object.entries(meta)) assert.equal(metadata[name.slice('x-amz-meta-'.length)], value)
      const record: ObjectRecord = { cid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' as ObjectRecord['cid'], size: 1, etag: '0'.repeat(32), headers: stored, metadata, acl: 'private', mtime: new Date(0).toISOString() }
      const { reply } = strictReply()
      setObjectHeaders(reply, record, s3Request('/media/key', {}), audience)
    })
  })

  it('response-* overrides: written as valid header values, or InvalidArgument', () => {
    const param = fc.constantFrom('response-content-type', 'response-content-language', 'response-expires', 'response-cache-control', 'response-content-disposition', 'response-content-encoding')
    const value = fc.oneof(junkText(30), fc.string({ unit: 'binary', maxLength: 10 }), mutateString(fc.constant('attachment; filename="a b.png"')))
    fuzz(fc.tuple(fc.dictionary(param, value, { maxKeys: 3 }), fc.constantFrom('client' as const, 'browser' as const)), ([overrides, audience]) => {
      const query = Object.entries(overrides).map(([k, v]) => `${k}=${v.isWellFormed() ? encodeURIComponent(v) : v}`).join('&')
      const record: ObjectRecord = { cid: 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku' as ObjectRecord['cid'], size: 1, etag: '0'.repeat(32), headers: { contentType: 'image/png' }, metadata: {}, acl: 'public-read', mtime: new Date(0).toISOString() }
      const { reply, headers } = strictReply()
      const done = refusedOr(() => { setObjectHeaders(reply, record, s3Request(`/media/key?${query}`, {}), audience); return true }, (err) => assert.equal(assertS3Refusal(err).code, 'InvalidArgument'))
      if (done === true && audience === 'browser') {
        const type = headers.get('content-type') ?? ''
        assert.ok(type === 'application/octet-stream' || /^(image|audio|video)\//i.test(type.trim()), `served inline to a browser: ${type}`)
      }
    })
  })

  it('body headers (lengths, Content-MD5, x-amz-checksum-*, x-amz-trailer): a plan, or a typed 4xx before any byte is read', () => {
    const payload = fc.constantFrom<[AuthResult['payload'], string]>(
      ['unsigned', 'UNSIGNED-PAYLOAD'], ['signed', 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'], ['streaming-signed', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD'],
      ['streaming-signed-trailer', 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER'], ['streaming-unsigned-trailer', 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'])
    const checksumName = fc.constantFrom(...CHECKSUM_ALGORITHMS.map((a) => `x-amz-checksum-${a}`), 'x-amz-checksum-md5', 'x-amz-checksum-type', 'x-amz-checksum-mode')
    const checksumValue = fc.oneof(fc.constantFrom(...CHECKSUM_ALGORITHMS).map((a) => checksumOf(a, Buffer.from('x'))), wireValue(50))
    const number = fc.oneof(fc.nat().map(String), fc.constantFrom('', '-1', '1e3', '0x10', '9007199254740993', ' 5', '00'), wireValue(12))
    const headers = fc.record({
      'content-length': number,
      'x-amz-decoded-content-length': number,
      'transfer-encoding': fc.constant('chunked'),
      'content-md5': fc.oneof(fc.constant('1B2M2Y8AsgTpgAmY7PhCfg=='), mutateString(fc.constant('1B2M2Y8AsgTpgAmY7PhCfg==')), wireValue()),
      'x-amz-trailer': fc.oneof(checksumName, fc.array(checksumName, { maxLength: 3 }).map((n) => n.join(', ')), wireValue()),
      'x-amz-sdk-checksum-algorithm': fc.oneof(fc.constantFrom('CRC32', 'crc64nvme', 'SHA256', 'MD5'), wireValue(8))
    }, { requiredKeys: [] })
    const arb = fc.tuple(payload, headers, fc.dictionary(checksumName, checksumValue, { maxKeys: 2 }), fc.option(fc.nat(), { nil: undefined }))
    fuzz(arb, ([[mode, sha], h, checksums, maxSize]) => {
      const plan = refusedOr(() => planBody({ payload: mode, contentSha256: sha }, { ...h, ...checksums }, maxSize === undefined ? {} : { maxSize }), assertS3Refusal)
      if (plan === undefined) return
      for (const n of [plan.contentLength, plan.decodedLength]) if (n !== undefined) assert.ok(Number.isSafeInteger(n) && n >= 0)
      if (maxSize !== undefined && plan.decodedLength !== undefined) assert.ok(plan.decodedLength <= maxSize)
      if (plan.checksum?.trailer === true) assert.ok(mode === 'streaming-signed-trailer' || mode === 'streaming-unsigned-trailer')
    })
  })

  it('query numbers (max-keys, part numbers) and continuation tokens: read back as written, or InvalidArgument', () => {
    fuzz(fc.tuple(fc.oneof(fc.integer({ min: -5, max: 2000 }).map(String), junkText(12)), fc.boolean()), ([raw, clamp]) => {
      const request = s3Request(`/media?max-keys=${encodeURIComponent(raw.isWellFormed() ? raw : '')}`, {})
      const n = refusedOr(() => intParam(request, 'max-keys', 1000, 0, 1000, clamp), (err) => assert.equal(assertS3Refusal(err).code, 'InvalidArgument'))
      if (n !== undefined) assert.ok(Number.isInteger(n) && n >= 0 && n <= 1000)
    })
    fuzz(fc.oneof(fc.string({ unit: 'binary', minLength: 1, maxLength: 40 }).map((key) => ({ key, token: encodeToken(key) })), fc.tuple(junkText(30)).map(([token]) => ({ key: undefined, token }))), ({ key, token }) => {
      const after = refusedOr(() => decodeToken(token), (err) => assert.equal(assertS3Refusal(err).code, 'InvalidArgument'))
      if (key !== undefined) assert.equal(after, key)
      else if (after !== undefined) assert.equal(encodeToken(after), token)
    })
  })
})
