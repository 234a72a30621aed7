// Fuzzing the verified request body (gateway/s3/auth: chunked.ts, body.ts,
// checksums.ts): aws-chunked bodies framed here by a reference encoder that
// follows AWS's specification (its own HMAC chain, reference checksums from
// zlib, OpenSSL, @aws-crypto/crc32c and @aws-sdk/crc64-nvme) decode to their
// payload however the socket cuts them; any corruption of a body that carries
// an integrity check is a typed 4xx refusal; junk never crashes the decoder.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createHmac, createSecretKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { crc32 as zlibCrc32 } from 'node:zlib'
import { crc32c as awsCrc32c } from '@aws-crypto/crc32c'
import { Crc64Nvme as AwsCrc64Nvme } from '@aws-sdk/crc64-nvme'
import { AwsChunkedDecoder, CHECKSUM_ALGORITHMS, verifiedBody } from '../../gateway/s3/auth/index.ts'
import type { AuthResult, BodyDigest, ChecksumAlgorithm } from '../../gateway/s3/auth/index.ts'
import { decodeChecksumValue } from '../../gateway/s3/auth/checksums.ts'
import { S3Error } from '../../gateway/s3/errors.ts'
import { applyByteEdits, assertS3Refusal, byteEdits, fc, fuzz, fuzzAsync, refusedOr, refusedOrAsync } from '../helpers/fuzz.ts'
import type { ByteEdit } from '../helpers/fuzz.ts'

type Mode = 'signed' | 'signed-trailer' | 'unsigned-trailer'
const CONTENT_SHA256: Record<Mode, string> = {
  signed: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'signed-trailer': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  'unsigned-trailer': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'
}
const PAYLOAD_MODE = { signed: 'streaming-signed', 'signed-trailer': 'streaming-signed-trailer', 'unsigned-trailer': 'streaming-unsigned-trailer' } as const
const EMPTY_SHA256 = createHash('sha256').digest('hex')
const AMZ_DATE = '20250601T120000Z'
const SCOPE = '20250601/eu-west-3/s3/aws4_request'

const hmac = (key: Uint8Array | string | KeyObject, data: string): Buffer => createHmac('sha256', key).update(data).digest()
const sha256Hex = (data: Uint8Array | string): string => createHash('sha256').update(data).digest('hex')
/** The specification's key derivation, written out here rather than taken from the code under test. */
const SIGNING_KEY = hmac(hmac(hmac(hmac('AWS4' + 'fuzz-secret', '20250601'), 'eu-west-3'), 's3'), 'aws4_request')
const SIGNING_KEY_OBJECT = createSecretKey(SIGNING_KEY)

/** Deterministic bytes from a seed (xorshift32): large payloads without generating them byte by byte. */
function payloadOf (size: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(size)
  let x = seed | 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

async function referenceChecksum (alg: ChecksumAlgorithm, data: Uint8Array): Promise<string> {
  const out = Buffer.alloc(alg === 'crc64nvme' ? 8 : 4)
  switch (alg) {
    case 'crc32': out.writeUInt32BE(zlibCrc32(data)); return out.toString('base64')
    case 'crc32c': out.writeUInt32BE(awsCrc32c(data) >>> 0); return out.toString('base64')
    case 'crc64nvme': { const c = new AwsCrc64Nvme(); c.update(data); return Buffer.from(await c.digest()).toString('base64') }
    case 'sha1': return createHash('sha1').update(data).digest('base64')
    case 'sha256': return createHash('sha256').update(data).digest('base64')
  }
}

interface Upload {
  mode: Mode
  payload: Buffer
  checksum: ChecksumAlgorithm | undefined
  /** cuts the payload into chunks: signed chunks are at least 8 KiB but the last */
  chunkSizes: number[]
  seed: string
  /** trailer lines ended by a bare LF (tolerated), the closing empty line left out (tolerated) */
  bareLf: boolean
  noFinalCrlf: boolean
}

const uploadArb: fc.Arbitrary<Upload> = fc.record({
  mode: fc.constantFrom<Mode>('signed', 'signed-trailer', 'unsigned-trailer'),
  // mostly small (cheap, and where the edge cases are), sometimes several signed chunks
  size: fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 0, max: 64 }) },
    { weight: 3, arbitrary: fc.integer({ min: 0, max: 2000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 8192, max: 20_000 }) }
  ),
  seed: fc.integer(),
  checksum: fc.option(fc.constantFrom(...CHECKSUM_ALGORITHMS), { nil: undefined }),
  small: fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 1, maxLength: 8 }),
  large: fc.array(fc.integer({ min: 8192, max: 12_000 }), { minLength: 1, maxLength: 3 }),
  requestSeed: fc.stringMatching(/^[0-9a-f]{64}$/),
  bareLf: fc.boolean(),
  noFinalCrlf: fc.boolean()
}).map((r) => {
  const signed = r.mode !== 'unsigned-trailer'
  const sizes = signed ? r.large : r.small
  const chunkSizes: number[] = []
  for (let left = r.size, i = 0; left > 0; i++) {
    const n = Math.min(left, sizes[i % sizes.length]!)
    chunkSizes.push(n)
    left -= n
  }
  return {
    mode: r.mode,
    payload: payloadOf(r.size, r.seed),
    // a signed body without a trailer has no checksum trailer to carry
    checksum: r.mode === 'signed' ? undefined : r.checksum,
    chunkSizes,
    seed: r.requestSeed,
    bareLf: r.bareLf,
    noFinalCrlf: r.noFinalCrlf
  }
})

/** aws-chunked framing as the specification writes it ("Signature calculations for trailing headers" and the chunked upload pages). */
async function frame (u: Upload): Promise<Buffer> {
  const parts: Buffer[] = []
  const signed = u.mode !== 'unsigned-trailer'
  let previous = u.seed
  const chunkSignature = (data: Uint8Array): string => {
    previous = hmac(SIGNING_KEY_OBJECT, `AWS4-HMAC-SHA256-PAYLOAD\n${AMZ_DATE}\n${SCOPE}\n${previous}\n${EMPTY_SHA256}\n${sha256Hex(data)}`).toString('hex')
    return previous
  }
  let at = 0
  for (const n of u.chunkSizes) {
    const chunk = u.payload.subarray(at, at + n)
    at += n
    parts.push(Buffer.from(`${n.toString(16)}${signed ? `;chunk-signature=${chunkSignature(chunk)}` : ''}\r\n`), chunk, Buffer.from('\r\n'))
  }
  parts.push(Buffer.from(`0${signed ? `;chunk-signature=${chunkSignature(Buffer.alloc(0))}` : ''}\r\n`))
  const eol = u.bareLf ? '\n' : '\r\n'
  if (u.checksum !== undefined) {
    const name = `x-amz-checksum-${u.checksum}`
    const value = await referenceChecksum(u.checksum, u.payload)
    parts.push(Buffer.from(`${name}:${value}${eol}`))
    if (u.mode === 'signed-trailer') {
      const trailerSignature = hmac(SIGNING_KEY_OBJECT, `AWS4-HMAC-SHA256-TRAILER\n${AMZ_DATE}\n${SCOPE}\n${previous}\n${sha256Hex(`${name}:${value}\n`)}`).toString('hex')
      parts.push(Buffer.from(`x-amz-trailer-signature:${trailerSignature}${eol}`))
    }
  }
  if (!u.noFinalCrlf) parts.push(Buffer.from(eol))
  return Buffer.concat(parts)
}

type AuthPart = Pick<AuthResult, 'payload' | 'contentSha256' | 'signingKey' | 'amzDate' | 'scope' | 'signature'>

function requestOf (u: Upload): { auth: AuthPart, headers: Record<string, string> } {
  return {
    auth: { payload: PAYLOAD_MODE[u.mode], contentSha256: CONTENT_SHA256[u.mode], signingKey: SIGNING_KEY, amzDate: AMZ_DATE, scope: SCOPE, signature: u.seed },
    headers: {
      'content-encoding': 'aws-chunked',
      'x-amz-decoded-content-length': String(u.payload.length),
      ...(u.checksum === undefined ? {} : { 'x-amz-trailer': `x-amz-checksum-${u.checksum}`, 'x-amz-sdk-checksum-algorithm': u.checksum.toUpperCase() })
    }
  }
}

/** The body cut into pieces at the given offsets, each a fresh copy, as a socket delivers it. */
async function * pieces (body: Buffer, cuts: readonly number[]): AsyncGenerator<Uint8Array> {
  const points = [...new Set(cuts.map((c) => c % (body.length + 1)))].sort((a, b) => a - b)
  let from = 0
  for (const p of [...points, body.length]) {
    if (p > from) yield Buffer.from(body.subarray(from, p))
    from = Math.max(from, p)
  }
}

async function decode (body: Buffer, u: Upload, cuts: readonly number[]): Promise<{ data: Buffer, digest: BodyDigest }> {
  const { auth, headers } = requestOf(u)
  const stream = verifiedBody(pieces(body, cuts), auth, headers, { computeChecksums: ['crc32'] })
  const out: Uint8Array[] = []
  for await (const piece of stream) out.push(piece)
  assert.ok(stream.digest !== undefined)
  return { data: Buffer.concat(out), digest: stream.digest }
}

const cutsArb = fc.array(fc.nat(), { maxLength: 8 })

describe('fuzz aws-chunked bodies', () => {
  it('a body framed by the reference encoder decodes to its payload, however it is cut', async () => {
    await fuzzAsync(fc.tuple(uploadArb, cutsArb), async ([u, cuts]) => {
      const { data, digest } = await decode(await frame(u), u, cuts)
      assert.ok(data.equals(u.payload), 'decoded bytes differ from the payload')
      assert.equal(digest.size, u.payload.length)
      assert.equal(digest.checksumAlgorithm, u.checksum)
      assert.equal(digest.checksums.crc32, await referenceChecksum('crc32', u.payload))
    })
  })

  it('one byte changed anywhere in a body with an integrity check is a typed 4xx refusal, or changes nothing it carries', async () => {
    // signed chunks, or a checksum trailer: both must catch any change of one byte
    const protectedUpload = uploadArb.filter((u) => u.mode !== 'unsigned-trailer' || u.checksum !== undefined)
    const arb = fc.tuple(protectedUpload, fc.nat(), fc.integer({ min: 1, max: 255 }), cutsArb)
    await fuzzAsync(arb, async ([u, at, delta, cuts]) => {
      const body = await frame(u)
      const i = at % body.length
      body[i] = (body[i]! + delta) & 0xff
      const decoded = await refusedOrAsync(() => decode(body, u, cuts), assertS3Refusal)
      // accepted: an equivalent spelling (hex digits' case, a chunk extension, a trailer name's case)
      if (decoded !== undefined) assert.ok(decoded.data.equals(u.payload), `byte ${i} changed and other bytes were accepted`)
    })
  })

  it('junk and mangled framing never crash the decoder: typed 4xx refusals, or the declared number of bytes', async () => {
    type Wire = { kind: 'mangled', edits: ByteEdit[] } | { kind: 'junk', body: Buffer }
    const wire: fc.Arbitrary<Wire> = fc.oneof(
      { weight: 3, arbitrary: byteEdits(6).map((edits) => ({ kind: 'mangled' as const, edits })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((b) => ({ kind: 'junk' as const, body: Buffer.from(b) })) },
      {
        weight: 1,
        arbitrary: fc.array(fc.constantFrom('0', '1', 'f', 'A', ';', 'chunk-signature=', '\r', '\n', '\r\n', 'x-amz-checksum-crc32:', 'AAAAAA==', ':', ' ', 'x-amz-trailer-signature:', 'z', '10000'), { maxLength: 30 })
          .map((p) => ({ kind: 'junk' as const, body: Buffer.from(p.join(''), 'latin1') }))
      }
    )
    await fuzzAsync(fc.tuple(uploadArb, wire, cutsArb), async ([u, w, cuts]) => {
      const body = w.kind === 'junk' ? w.body : applyByteEdits(await frame(u), w.edits)
      const decoded = await refusedOrAsync(() => decode(body, u, cuts), assertS3Refusal)
      if (decoded === undefined) return
      assert.equal(decoded.data.length, u.payload.length)
      if (u.mode !== 'unsigned-trailer' || u.checksum !== undefined) assert.ok(decoded.data.equals(u.payload))
    })
  })

  it('the decoder alone: any bytes pushed in any pieces end in data, done, or a typed 4xx refusal; held lines stay bounded', () => {
    const arb = fc.tuple(
      fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.array(fc.constantFrom('1', 'ff', ';x=y', '\r\n', '\n', 'x-amz-checksum-sha1:', ':', 'AAAA', '0\r\n'), { maxLength: 40 }).map((p) => new Uint8Array(Buffer.from(p.join(''))))),
      cutsArb,
      fc.boolean()
    )
    fuzz(arb, ([bytes, cuts, trailer]) => {
      const decoder = new AwsChunkedDecoder(trailer ? { expectedTrailers: ['x-amz-checksum-sha1'] } : {})
      refusedOr(() => {
        let total = 0
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b)
        let from = 0
        for (const p of [...points, bytes.length]) {
          for (const piece of decoder.push(bytes.subarray(from, Math.max(from, p)))) total += piece.length
          from = Math.max(from, p)
        }
        decoder.finish()
        assert.ok(decoder.done)
        assert.ok(total <= bytes.length)
      }, assertS3Refusal)
    })
  })

  it('a line longer than the limit is refused as soon as it is too long, never held', () => {
    fuzz(fc.tuple(fc.integer({ min: 4097, max: 4200 }), fc.constantFrom('f', '0', ';')), ([length, c]) => {
      const decoder = new AwsChunkedDecoder()
      assert.throws(() => decoder.push(Buffer.alloc(length, c)), (err: unknown) => err instanceof S3Error && err.code === 'IncompleteBody')
    })
  })

  it('checksum values: exactly the canonical base64 of the digest size is read, and read back unchanged', () => {
    const SIZES: Record<ChecksumAlgorithm, number> = { crc32: 4, crc32c: 4, crc64nvme: 8, sha1: 20, sha256: 32 }
    const value = fc.constantFrom(...CHECKSUM_ALGORITHMS).chain((alg) => fc.tuple(fc.constant(alg), fc.oneof(
      fc.uint8Array({ minLength: SIZES[alg], maxLength: SIZES[alg] }).map((b) => Buffer.from(b).toString('base64')),
      fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64')),
      fc.string({ maxLength: 48 })
    )))
    fuzz(value, ([alg, text]) => {
      const bytes = decodeChecksumValue(alg, text)
      if (bytes === undefined) return
      assert.equal(bytes.length, SIZES[alg])
      assert.equal(bytes.toString('base64'), text)
    })
  })
})
