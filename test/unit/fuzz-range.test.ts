// Fuzzing what reads Range, conditional and format headers: the byte range
// the gateway and S3 serve (gateway/public/ipfs-route.ts pickRange), S3's
// x-amz-copy-source-range, the If-* headers (gateway/s3/conditional.ts) and
// the gateway's format negotiation (gateway/public/format.ts). Single ranges
// are compared with RFC 9110's rules; anything else must give a range inside
// the body or a typed 4xx (416) refusal.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import type { FastifyReply } from 'fastify'
import { matchesIfNoneMatch } from '../../gateway/public/conditional.ts'
import { negotiateFormat } from '../../gateway/public/format.ts'
import { pickRange } from '../../gateway/public/ipfs-route.ts'
import { checkCopySourcePreconditions, checkPreconditions, rangeStillValid } from '../../gateway/s3/conditional.ts'
import { parseS3Request } from '../../gateway/s3/context.ts'
import { copySourceRange } from '../../gateway/s3/copy-source.ts'
import { toS3Error } from '../../gateway/s3/error-map.ts'
import { S3Error } from '../../gateway/s3/errors.ts'
import { assertJsonRefusal, assertS3Refusal, fc, fuzz, junkText, mutateString, refusedOr } from '../helpers/fuzz.ts'

/** What pickRange writes on a refusal (Content-Range); the rest of a reply it does not touch. */
function replyRecorder (): { reply: FastifyReply, headers: Record<string, string> } {
  const headers: Record<string, string> = {}
  const reply = { header (name: string, value: string) { headers[name] = value; return reply } }
  return { reply: reply as unknown as FastifyReply, headers }
}

/** An S3 request as parseS3Request reads it off the wire. */
function s3Request (headers: Record<string, string>): ReturnType<typeof parseS3Request> {
  return parseS3Request({ method: 'GET', url: '/bucket/key', headers } as unknown as IncomingMessage, undefined, 'FUZZ')
}

const sizeArb = fc.oneof(fc.integer({ min: 0, max: 20 }), fc.integer({ min: 0, max: 2 ** 40 }), fc.constant(Number.MAX_SAFE_INTEGER))
const posArb = fc.oneof(fc.integer({ min: 0, max: 25 }), fc.nat(), fc.constantFrom(2 ** 53, 1e20))

type Spec = { kind: 'int', first: number, last: number | undefined } | { kind: 'suffix', length: number }
const specArb: fc.Arbitrary<Spec> = fc.oneof(
  fc.record({ kind: fc.constant('int' as const), first: posArb, last: fc.option(posArb, { nil: undefined }) }),
  fc.record({ kind: fc.constant('suffix' as const), length: posArb })
)
const specText = (s: Spec): string => s.kind === 'suffix' ? `-${BigInt(s.length)}` : `${BigInt(s.first)}-${s.last === undefined ? '' : BigInt(s.last)}`

/** RFC 9110 §14.1.2 for one range-spec: the bytes [start, end) served, 'unsatisfiable' (416), or 'either' where servers differ. */
function expected (spec: Spec, size: number): { start: number, end: number } | 'unsatisfiable' | 'either' {
  if (size === 0) return 'either'
  if (spec.kind === 'suffix') {
    if (spec.length === 0) return 'either'
    return { start: Math.max(0, size - spec.length), end: size }
  }
  if (spec.last !== undefined && spec.last < spec.first) return 'either' // an invalid range-spec: ignored or refused
  if (spec.first >= size) return 'unsatisfiable'
  return { start: spec.first, end: spec.last === undefined ? size : Math.min(spec.last, size - 1) + 1 }
}

describe('fuzz Range and conditional headers', () => {
  it('a single byte range is served as RFC 9110 says', () => {
    fuzz(fc.tuple(specArb, sizeArb), ([spec, size]) => {
      const { reply, headers } = replyRecorder()
      const got = refusedOr(() => pickRange(reply, `bytes=${specText(spec)}`, size), (err) => {
        assert.equal(assertJsonRefusal(err).code, 'invalid_range')
        assert.equal(toS3Error(err).code, 'InvalidRange')
        assert.equal(headers['content-range'], `bytes */${size}`)
      })
      const want = expected(spec, size)
      if (want === 'either') return
      if (want === 'unsatisfiable') return assert.equal(got, undefined, `expected 416, got ${JSON.stringify(got)}`)
      assert.deepEqual(got, { ...want, partial: true })
    })
  })

  it('any Range header gives a range inside the body, the whole body, or a typed 416', () => {
    const header = fc.oneof(
      fc.array(specArb.map(specText), { minLength: 1, maxLength: 4 }).chain((specs) => mutateString(fc.constant(`bytes=${specs.join(',')}`), { maxEdits: 2 })),
      fc.array(specArb.map(specText), { minLength: 1, maxLength: 4 }).map((specs) => `bytes=${specs.join(', ')}`),
      junkText(30),
      fc.constantFrom('bytes=', 'bytes=-', 'bytes=--1', 'items=0-1', 'bytes=0-1,', 'bytes = 0-1', ' bytes=-0 ', 'bytes=-99999999999999999999999')
    )
    fuzz(fc.tuple(header, sizeArb), ([h, size]) => {
      const { reply } = replyRecorder()
      const got = refusedOr(() => pickRange(reply, h, size), (err) => assert.equal(assertJsonRefusal(err).code, 'invalid_range'))
      if (got === undefined) return
      assert.ok(Number.isSafeInteger(got.start) && Number.isSafeInteger(got.end))
      assert.ok(got.start >= 0 && got.start <= got.end && got.end <= size, JSON.stringify(got))
      if (got.partial) assert.ok(got.end > got.start, 'a partial answer of no bytes')
      else assert.deepEqual(got, { start: 0, end: size, partial: false })
    })
  })

  it('x-amz-copy-source-range: bytes=first-last inside the source, else InvalidArgument', () => {
    const value = fc.oneof(
      fc.tuple(posArb, posArb).map(([a, b]) => `bytes=${BigInt(a)}-${BigInt(b)}`),
      mutateString(fc.constant('bytes=0-9')),
      junkText(20)
    )
    fuzz(fc.tuple(value, sizeArb), ([v, size]) => {
      const range = refusedOr(() => copySourceRange(s3Request({ 'x-amz-copy-source-range': v }), size), (err) => assert.equal(assertS3Refusal(err).code, 'InvalidArgument'))
      if (range === undefined) return
      assert.ok(range !== undefined && range.start >= 0 && range.start < range.end && range.end <= size)
      const m = /^bytes=(\d+)-(\d+)$/.exec(v.trim())
      assert.ok(m !== null)
      assert.deepEqual(range, { start: Number(m[1]), end: Number(m[2]) + 1 })
    })
  })

  it('If-* headers end in the object, 304 or 412, never an error; their meaning follows RFC 9110', () => {
    const etagArb = fc.stringMatching(/^[0-9a-f]{32}(-[1-9]\d{0,2})?$/)
    const timeArb = fc.integer({ min: 0, max: Date.UTC(2100, 0, 1) / 1000 }).map((s) => s * 1000)
    const conditionArb = (etag: string, time: number): fc.Arbitrary<string> => fc.oneof(
      fc.constantFrom(`"${etag}"`, `W/"${etag}"`, '*', `"other", "${etag}"`, '"other"', new Date(time).toUTCString(), new Date(time - 1000).toUTCString(), new Date(time + 1000).toUTCString(), new Date(time).toISOString()),
      mutateString(fc.constant(`"${etag}"`)),
      junkText(20)
    )
    const arb = fc.tuple(etagArb, timeArb).chain(([etag, time]) => fc.record({
      etag: fc.constant(etag),
      time: fc.constant(time),
      headers: fc.dictionary(fc.constantFrom('if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', 'if-range', 'x-amz-copy-source-if-match', 'x-amz-copy-source-if-none-match', 'x-amz-copy-source-if-modified-since', 'x-amz-copy-source-if-unmodified-since'), conditionArb(etag, time), { maxKeys: 4 })
    }))
    fuzz(arb, ({ etag, time, headers }) => {
      const request = s3Request(headers)
      const validators = { etag, lastModified: new Date(time).toISOString() }
      let outcome = 'proceed'
      try {
        checkPreconditions(request, validators)
      } catch (err) {
        assert.ok(err instanceof S3Error && (err.code === 'PreconditionFailed' || err.code === 'NotModified'), String(err))
        outcome = err.code
      }
      try {
        checkCopySourcePreconditions(request, validators)
      } catch (err) {
        assert.ok(err instanceof S3Error && err.code === 'PreconditionFailed', String(err))
      }
      assert.equal(typeof rangeStillValid(request, validators), 'boolean')
      // the cases RFC 9110 §13.2.2 decides alone
      const only = Object.keys(headers).filter((h) => !h.startsWith('x-amz-') && h !== 'if-range')
      const value = only.length === 1 ? headers[only[0]!]! : undefined
      if (only[0] === 'if-match' && value === `"${etag}"`) assert.equal(outcome, 'proceed')
      if (only[0] === 'if-match' && value === '"other"') assert.equal(outcome, 'PreconditionFailed')
      if (only[0] === 'if-none-match' && (value === `"${etag}"` || value === `W/"${etag}"` || value === '*')) assert.equal(outcome, 'NotModified')
      if (only[0] === 'if-modified-since' && value === new Date(time).toUTCString()) assert.equal(outcome, 'NotModified')
      if (only[0] === 'if-modified-since' && value === new Date(time - 1000).toUTCString()) assert.equal(outcome, 'proceed')
      if (only[0] === 'if-unmodified-since' && value === new Date(time - 1000).toUTCString()) assert.equal(outcome, 'PreconditionFailed')
    })
  })

  it('If-None-Match of the gateway: never throws; the ETag itself always matches', () => {
    fuzz(fc.tuple(fc.oneof(junkText(30), mutateString(fc.constant('"bafkreiabc", W/"x"'))), fc.stringMatching(/^[a-z2-7]{1,20}(\.raw|\.car\.all\.dfs\.n)?$/)), ([header, tag]) => {
      assert.equal(typeof matchesIfNoneMatch(header, `"${tag}"`), 'boolean')
      assert.equal(matchesIfNoneMatch(`${header},"${tag}"`, `"${tag}"`), true)
    })
  })

  it('format negotiation: a format, or invalid_request (400)', () => {
    const accept = fc.oneof(
      mutateString(fc.constantFrom('application/vnd.ipld.car; version=1; order=dfs; dups=y', 'application/vnd.ipld.raw', 'text/html,*/*;q=0.8')),
      junkText(40),
      fc.constant(undefined)
    )
    const query = fc.record({
      format: fc.option(fc.oneof(fc.constantFrom('raw', 'car', '', 'tar'), junkText(6)), { nil: undefined }),
      'dag-scope': fc.option(fc.oneof(fc.constantFrom('all', 'entity', 'block', ''), junkText(6)), { nil: undefined })
    })
    fuzz(fc.tuple(query, accept), ([q, a]) => {
      const format = refusedOr(() => negotiateFormat(q, a), (err) => assert.equal(assertJsonRefusal(err).code, 'invalid_request'))
      if (format !== undefined) assert.ok(['file', 'raw', 'car'].includes(format.kind))
    })
  })
})
