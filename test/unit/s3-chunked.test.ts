// The verified request body (gateway/s3/auth/body.ts): aws-chunked framing
// with chunk and trailer signatures, trailing and up-front checksums, the
// signed payload hash, Content-MD5 and the announced lengths. AWS's documented
// chunked uploads are decoded byte for byte; other bodies are framed here
// following the specification and signed with the AWS SDK's own signer.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash, createHmac, randomBytes, randomInt } from 'node:crypto'
import v8 from 'node:v8'
import vm from 'node:vm'
import { SignatureV4 } from '@smithy/signature-v4'
import { Hash } from '@smithy/hash-node'
import { verifiedBody, verifyRequest, checksumOf, CHECKSUM_ALGORITHMS } from '../../gateway/s3/auth/index.ts'
import type { AuthResult, BodyDigest, BodyOptions, ChecksumAlgorithm, RequestHeaders } from '../../gateway/s3/auth/index.ts'
import { signingKey } from '../../gateway/s3/auth/signing-key.ts'
import { S3Error } from '../../gateway/s3/errors.ts'
import type { S3ErrorCode } from '../../gateway/s3/errors.ts'

const AKID = 'AKIAIOSFODNN7EXAMPLE'
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
const DOC_NOW = Date.UTC(2013, 4, 24, 0, 0, 30)
const DOC_DATA = Buffer.alloc(66560, 'a')
const secrets = (id: string): string | undefined => id === AKID ? SECRET : undefined
const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex')

/** The body delivered in pieces cut at random places, as a socket would. */
async function * pieces (body: Uint8Array, maxPiece = 5000): AsyncGenerator<Uint8Array> {
  let i = 0
  while (i < body.length) {
    const n = 1 + randomInt(Math.min(maxPiece, body.length - i))
    // a fresh copy each time: the decoder must not rely on the source keeping its buffers
    yield Buffer.from(body.subarray(i, i + n))
    i += n
  }
}

async function decode (body: Uint8Array, auth: AuthPart, headers: RequestHeaders, options?: BodyOptions, maxPiece?: number): Promise<{ data: Buffer, digest: BodyDigest }> {
  const stream = verifiedBody(pieces(body, maxPiece), auth, headers, options)
  const out: Buffer[] = []
  for await (const piece of stream) out.push(Buffer.from(piece))
  assert.ok(stream.digest !== undefined)
  return { data: Buffer.concat(out), digest: stream.digest }
}

async function refused (run: () => Promise<unknown>, code: S3ErrorCode, message?: string | RegExp): Promise<S3Error> {
  let caught: unknown
  try { await run() } catch (err) { caught = err }
  assert.ok(caught instanceof S3Error, `expected ${code}, got ${String(caught)}`)
  assert.equal(caught.code, code, `expected ${code}, got ${caught.code}: ${caught.message}`)
  if (typeof message === 'string') assert.equal(caught.message, message)
  else if (message !== undefined) assert.match(caught.message, message)
  return caught
}

type AuthPart = Pick<AuthResult, 'payload' | 'contentSha256' | 'signingKey' | 'amzDate' | 'scope' | 'signature'>

// ----------------------------------------------------------------------------

describe('aws-chunked: the examples of the S3 documentation', () => {
  // "Signature Calculations for the Authorization Header: Transferring Payload
  // in Multiple Chunks": 65536 + 1024 bytes of 'a', then the final chunk
  const headers = {
    host: 's3.amazonaws.com',
    'x-amz-date': '20130524T000000Z',
    'x-amz-storage-class': 'REDUCED_REDUNDANCY',
    authorization: `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9`,
    'x-amz-content-sha256': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
    'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': '66560',
    'content-length': '66824'
  }
  const SIGNATURES = [
    'ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648',
    '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497',
    'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'
  ]
  const body = (sigs: readonly string[]): Buffer => Buffer.concat([
    Buffer.from(`10000;chunk-signature=${sigs[0]}\r\n`), DOC_DATA.subarray(0, 65536),
    Buffer.from(`\r\n400;chunk-signature=${sigs[1]}\r\n`), DOC_DATA.subarray(65536),
    Buffer.from(`\r\n0;chunk-signature=${sigs[2]}\r\n\r\n`)
  ])

  it('verifies the seed signature and decodes the chunks, signature by signature', async () => {
    const auth = await verifyRequest({ method: 'PUT', rawPath: '/examplebucket/chunkObject.txt', rawQuery: '', headers }, secrets, DOC_NOW)
    assert.equal(auth.signature, '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9')
    assert.equal(auth.payload, 'streaming-signed')
    const wire = body(SIGNATURES)
    assert.equal(wire.length, 66824)
    for (const maxPiece of [1 << 20, 70_000, 1000, 7]) {
      const { data, digest } = await decode(wire, auth, headers, {}, maxPiece)
      assert.ok(data.equals(DOC_DATA))
      assert.equal(digest.size, 66560)
    }
    // any one signature changed, or one byte of data
    for (let i = 0; i < 3; i++) {
      const sigs = [...SIGNATURES]
      sigs[i] = sigs[i]!.slice(0, 63) + (sigs[i]!.endsWith('0') ? '1' : '0')
      await refused(() => decode(body(sigs), auth, headers), 'SignatureDoesNotMatch')
    }
    const tampered = body(SIGNATURES)
    tampered[40_000] = 0x62
    await refused(() => decode(tampered, auth, headers), 'SignatureDoesNotMatch')
  })

  it('decodes the upload with a signed trailing CRC32C ("Signature calculations for trailing headers")', async () => {
    // the seed of that example is documented, not the request it signs
    const auth: AuthPart = {
      payload: 'streaming-signed-trailer',
      contentSha256: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
      signingKey: signingKey(SECRET, '20130524', 'us-east-1'),
      amzDate: '20130524T000000Z',
      scope: '20130524/us-east-1/s3/aws4_request',
      signature: '106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e'
    }
    const trailerHeaders = { 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': '66560', 'x-amz-trailer': 'x-amz-checksum-crc32c' }
    const wire = (crc: string): Buffer => Buffer.concat([
      Buffer.from('10000;chunk-signature=b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2\r\n'), DOC_DATA.subarray(0, 65536),
      Buffer.from('\r\n400;chunk-signature=1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7\r\n'), DOC_DATA.subarray(65536),
      Buffer.from('\r\n0;chunk-signature=2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992\r\n' +
        `x-amz-checksum-crc32c:${crc}\r\n` +
        'x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435\r\n\r\n')
    ])
    const { data, digest } = await decode(wire('sOO8/Q=='), auth, trailerHeaders)
    assert.ok(data.equals(DOC_DATA))
    assert.equal(digest.checksumAlgorithm, 'crc32c')
    assert.equal(digest.checksums.crc32c, 'sOO8/Q==')
    assert.deepEqual(digest.trailers, { 'x-amz-checksum-crc32c': 'sOO8/Q==' })
    // the trailer is signed: another value is a signature mismatch before it is a checksum mismatch
    await refused(() => decode(wire('sOO8/A=='), auth, trailerHeaders), 'SignatureDoesNotMatch')
  })
})

// ----------------------------------------------------------------------------
// Bodies framed here, following the specification, for requests signed by the
// AWS SDK's signer.

type Mode = 'signed' | 'signed-trailer' | 'unsigned-trailer'
const CONTENT_SHA256: Record<Mode, string> = {
  signed: 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD',
  'signed-trailer': 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER',
  'unsigned-trailer': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER'
}

interface Upload {
  auth: AuthResult
  headers: Record<string, string>
  signer: SignatureV4
  signedAt: Date
}

/** A PUT signed by @smithy/signature-v4 with the headers an SDK sends for aws-chunked, verified. */
async function upload (mode: Mode, size: number, trailer?: ChecksumAlgorithm, extra: Record<string, string> = {}): Promise<Upload> {
  const signedAt = new Date(Date.UTC(2025, 5, 1, 12, 0, 0))
  const signer = new SignatureV4({ service: 's3', region: 'eu-west-3', credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false })
  const headers: Record<string, string> = {
    host: 'localhost:9000',
    'content-encoding': 'aws-chunked',
    'x-amz-content-sha256': CONTENT_SHA256[mode],
    'x-amz-decoded-content-length': String(size),
    ...(trailer === undefined ? {} : { 'x-amz-trailer': `x-amz-checksum-${trailer}`, 'x-amz-sdk-checksum-algorithm': trailer.toUpperCase() }),
    ...extra
  }
  const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: 'localhost', port: 9000, path: '/bucket/key', query: {}, headers }, { signingDate: signedAt })
  const sent: Record<string, string> = {}
  for (const [k, v] of Object.entries(signed.headers)) sent[k.toLowerCase()] = String(v)
  const auth = await verifyRequest({ method: 'PUT', rawPath: '/bucket/key', rawQuery: '', headers: sent }, secrets, signedAt)
  return { auth, headers: sent, signer, signedAt }
}

interface Framing {
  chunkSizes?: () => number
  trailer?: { name: string, value: string }
  /** client-side slip: a trailer line ended by LF then an empty CRLF line */
  finalCrlf?: boolean
}

/**
 * aws-chunked framing, signed the specification's way: chunk signature =
 * HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD\n<date>\n<scope>\n<previous>\n<sha256('')>\n<sha256(chunk)>"),
 * the signing key and HMAC being the SDK signer's.
 */
async function frame (u: Upload, data: Buffer, mode: Mode, f: Framing = {}): Promise<Buffer> {
  const out: Buffer[] = []
  const signedMode = mode !== 'unsigned-trailer'
  let previous = u.auth.signature
  const signChunk = async (chunk: Buffer): Promise<string> => {
    const sts = `AWS4-HMAC-SHA256-PAYLOAD\n${u.auth.amzDate}\n${u.auth.scope}\n${previous}\n${EMPTY}\n${sha256(chunk)}`
    previous = await u.signer.sign(sts, { signingDate: u.signedAt })
    return previous
  }
  let i = 0
  const nextSize = f.chunkSizes ?? (() => 8192 + randomInt(60_000))
  while (i < data.length) {
    const chunk = data.subarray(i, i + nextSize())
    i += chunk.length
    const ext = signedMode ? `;chunk-signature=${await signChunk(chunk)}` : ''
    out.push(Buffer.from(`${chunk.length.toString(16)}${ext}\r\n`), chunk, Buffer.from('\r\n'))
  }
  out.push(Buffer.from(`0${signedMode ? `;chunk-signature=${await signChunk(Buffer.alloc(0))}` : ''}\r\n`))
  if (f.trailer !== undefined) {
    out.push(Buffer.from(`${f.trailer.name}:${f.trailer.value}\r\n`))
    if (mode === 'signed-trailer') {
      const sts = `AWS4-HMAC-SHA256-TRAILER\n${u.auth.amzDate}\n${u.auth.scope}\n${previous}\n${sha256(`${f.trailer.name}:${f.trailer.value}\n`)}`
      out.push(Buffer.from(`x-amz-trailer-signature:${await u.signer.sign(sts, { signingDate: u.signedAt })}\r\n`))
    }
  }
  if (f.finalCrlf !== false) out.push(Buffer.from('\r\n'))
  return Buffer.concat(out)
}

const MODES: readonly Mode[] = ['signed', 'signed-trailer', 'unsigned-trailer']

describe('aws-chunked: decoding', () => {
  it('decodes every mode and trailing checksum byte-identical, split anywhere', async () => {
    for (const mode of MODES) {
      for (const alg of mode === 'signed' ? [undefined] : CHECKSUM_ALGORITHMS) {
        const data = randomBytes(randomInt(200_000, 400_000))
        const u = await upload(mode, data.length, alg)
        assert.equal(u.auth.payload, mode === 'signed' ? 'streaming-signed' : mode === 'signed-trailer' ? 'streaming-signed-trailer' : 'streaming-unsigned-trailer')
        const trailer = alg === undefined ? undefined : { name: `x-amz-checksum-${alg}`, value: checksumOf(alg, data) }
        const wire = await frame(u, data, mode, { trailer })
        const { data: decoded, digest } = await decode(wire, u.auth, u.headers, { computeChecksums: ['crc64nvme'] })
        assert.ok(decoded.equals(data), `${mode} ${alg ?? ''}`)
        assert.equal(digest.size, data.length)
        assert.equal(digest.checksumAlgorithm, alg)
        if (alg !== undefined) assert.equal(digest.checksums[alg], trailer!.value)
        assert.equal(digest.checksums.crc64nvme, checksumOf('crc64nvme', data))
      }
    }
  })

  it('decodes empty bodies and one-byte pieces', async () => {
    for (const mode of MODES) {
      const u = await upload(mode, 0, mode === 'signed' ? undefined : 'crc32')
      const trailer = mode === 'signed' ? undefined : { name: 'x-amz-checksum-crc32', value: checksumOf('crc32', Buffer.alloc(0)) }
      const { data } = await decode(await frame(u, Buffer.alloc(0), mode, { trailer }), u.auth, u.headers)
      assert.equal(data.length, 0)
    }
    const data = randomBytes(20_000)
    const u = await upload('signed-trailer', data.length, 'sha256')
    const wire = await frame(u, data, 'signed-trailer', { trailer: { name: 'x-amz-checksum-sha256', value: checksumOf('sha256', data) } })
    assert.ok((await decode(wire, u.auth, u.headers, {}, 1)).data.equals(data))
  })

  it('accepts small chunks without signatures; S3 refuses them with signatures (InvalidChunkSizeError)', async () => {
    const data = randomBytes(50_000)
    const unsigned = await upload('unsigned-trailer', data.length, 'crc32')
    const trailer = { name: 'x-amz-checksum-crc32', value: checksumOf('crc32', data) }
    const small = await frame(unsigned, data, 'unsigned-trailer', { trailer, chunkSizes: () => 1 + randomInt(3000) })
    assert.ok((await decode(small, unsigned.auth, unsigned.headers)).data.equals(data))

    const signed = await upload('signed', data.length)
    const sizes = [8192, 4096, 8192]
    const wire = await frame(signed, data, 'signed', { chunkSizes: () => sizes.shift() ?? 65536 })
    const err = await refused(() => decode(wire, signed.auth, signed.headers), 'InvalidChunkSizeError')
    assert.equal(err.status, 403)
    assert.deepEqual(err.extra, { Chunk: '2', BadChunkSize: '4096' })
    // a small chunk right before the final one is the rule, not an exception
    const last = await frame(signed, data, 'signed', { chunkSizes: () => 45_000 })
    assert.ok((await decode(last, signed.auth, signed.headers)).data.equals(data))
  })

  it('takes a body that ends without its closing empty line when nothing else was due', async () => {
    const data = randomBytes(30_000)
    for (const mode of MODES) {
      const u = await upload(mode, data.length, mode === 'signed' ? undefined : 'crc32c')
      const trailer = mode === 'signed' ? undefined : { name: 'x-amz-checksum-crc32c', value: checksumOf('crc32c', data) }
      const wire = await frame(u, data, mode, { trailer, finalCrlf: false })
      assert.ok((await decode(wire, u.auth, u.headers)).data.equals(data))
    }
  })

  it('accepts a trailer line ended by LF then CRLF before the trailer signature', async () => {
    const data = randomBytes(30_000)
    const u = await upload('signed-trailer', data.length, 'crc32')
    const wire = await frame(u, data, 'signed-trailer', { trailer: { name: 'x-amz-checksum-crc32', value: checksumOf('crc32', data) } })
    const text = wire.toString('latin1').replace(/(x-amz-checksum-crc32:[^\r]*)\r\n/, '$1\n\r\n')
    assert.ok((await decode(Buffer.from(text, 'latin1'), u.auth, u.headers)).data.equals(data))
  })
})

describe('aws-chunked: refusals', () => {
  it('a changed byte, a changed chunk signature or swapped chunks: SignatureDoesNotMatch', async () => {
    for (const mode of ['signed', 'signed-trailer'] as const) {
      const data = randomBytes(200_000)
      const u = await upload(mode, data.length, mode === 'signed' ? undefined : 'crc32')
      const trailer = mode === 'signed' ? undefined : { name: 'x-amz-checksum-crc32', value: checksumOf('crc32', data) }
      const wire = await frame(u, data, mode, { trailer, chunkSizes: () => 16384 })
      const changed = Buffer.from(wire)
      changed[100 + randomInt(16000)]! ^= 1
      await refused(() => decode(changed, u.auth, u.headers), 'SignatureDoesNotMatch')

      const text = wire.toString('latin1')
      const sigs = [...text.matchAll(/chunk-signature=([0-9a-f]{64})/g)].map((m) => m[1]!)
      for (const sig of [sigs[0]!, sigs[3]!, sigs[sigs.length - 1]!]) {
        const other = Buffer.from(text.replace(sig, sig.slice(0, 60) + 'beef'), 'latin1')
        await refused(() => decode(other, u.auth, u.headers), 'SignatureDoesNotMatch')
      }
      // two whole chunks traded places: each is signed, the chain is not
      const parts = text.split(/(?=4000;chunk-signature=)/)
      const swapped = Buffer.from([parts[0], parts[2], parts[1], ...parts.slice(3)].join(''), 'latin1')
      await refused(() => decode(swapped, u.auth, u.headers), 'SignatureDoesNotMatch')
      // chunk signatures that chain from another request's seed
      const otherSeed = await upload(mode, data.length, mode === 'signed' ? undefined : 'crc32', { 'x-amz-meta-x': '1' })
      await refused(() => decode(wire, otherSeed.auth, otherSeed.headers), 'SignatureDoesNotMatch')
      // signatures removed
      await refused(() => decode(Buffer.from(text.replace(/;chunk-signature=[0-9a-f]{64}/g, ''), 'latin1'), u.auth, u.headers), 'SignatureDoesNotMatch')
    }
  })

  it('a wrong trailing checksum: BadDigest, whether the trailer is signed or not', async () => {
    for (const mode of ['signed-trailer', 'unsigned-trailer'] as const) {
      for (const alg of CHECKSUM_ALGORITHMS) {
        const data = randomBytes(70_000)
        const u = await upload(mode, data.length, alg)
        const wrong = checksumOf(alg, Buffer.from('something else'))
        const wire = await frame(u, data, mode, { trailer: { name: `x-amz-checksum-${alg}`, value: wrong } })
        const names: Record<ChecksumAlgorithm, string> = { crc32: 'CRC32', crc32c: 'CRC32C', crc64nvme: 'CRC64NVME', sha1: 'SHA1', sha256: 'SHA256' }
        await refused(() => decode(wire, u.auth, u.headers), 'BadDigest', `The ${names[alg]} you specified did not match the calculated checksum.`)
      }
    }
    // unsigned: a changed data byte is only caught by the checksum
    const data = randomBytes(70_000)
    const u = await upload('unsigned-trailer', data.length, 'crc32')
    const wire = await frame(u, data, 'unsigned-trailer', { trailer: { name: 'x-amz-checksum-crc32', value: checksumOf('crc32', data) } })
    wire[50_000]! ^= 0x10
    await refused(() => decode(wire, u.auth, u.headers), 'BadDigest')
  })

  it('a signed trailer changed, or missing its signature, is refused', async () => {
    const data = randomBytes(40_000)
    const u = await upload('signed-trailer', data.length, 'sha1')
    const value = checksumOf('sha1', data)
    const text = (await frame(u, data, 'signed-trailer', { trailer: { name: 'x-amz-checksum-sha1', value } })).toString('latin1')
    const otherValue = checksumOf('sha1', Buffer.from('x'))
    await refused(() => decode(Buffer.from(text.replace(value, otherValue), 'latin1'), u.auth, u.headers), 'SignatureDoesNotMatch')
    await refused(() => decode(Buffer.from(text.replace(/x-amz-trailer-signature:[0-9a-f]{64}\r\n/, ''), 'latin1'), u.auth, u.headers), 'MalformedTrailerError')
  })

  it('a trailer promised and not sent, or sent and not promised: MalformedTrailerError', async () => {
    const data = randomBytes(40_000)
    const u = await upload('unsigned-trailer', data.length, 'crc32')
    const text = (await frame(u, data, 'unsigned-trailer', { trailer: { name: 'x-amz-checksum-crc32', value: checksumOf('crc32', data) } })).toString('latin1')
    await refused(() => decode(Buffer.from(text.replace(/x-amz-checksum-crc32:[^\r]*\r\n/, ''), 'latin1'), u.auth, u.headers), 'MalformedTrailerError')
    await refused(() => decode(Buffer.from(text.replace('x-amz-checksum-crc32:', 'x-amz-checksum-crc32c:'), 'latin1'), u.auth, u.headers), 'MalformedTrailerError')
    await refused(() => decode(Buffer.from(text.replace('x-amz-checksum-crc32:', 'x-amz-checksum-crc32 '), 'latin1'), u.auth, u.headers), 'MalformedTrailerError')
    const none = await upload('unsigned-trailer', data.length)
    await refused(() => decode(Buffer.from(text, 'latin1'), none.auth, none.headers), 'MalformedTrailerError')
  })

  it('a truncated body is IncompleteBody, wherever it stops', async () => {
    for (const mode of MODES) {
      const data = randomBytes(100_000)
      const u = await upload(mode, data.length, mode === 'signed' ? undefined : 'crc32c')
      const trailer = mode === 'signed' ? undefined : { name: 'x-amz-checksum-crc32c', value: checksumOf('crc32c', data) }
      const wire = await frame(u, data, mode, { trailer, chunkSizes: () => 30_000 })
      const cuts = [0, 1, 10, 30_000, 30_100, wire.length - 60, wire.length - 1]
      for (let i = 0; i < 20; i++) cuts.push(randomInt(wire.length - 2))
      for (const cut of cuts) {
        await refused(() => decode(wire.subarray(0, cut), u.auth, u.headers), 'IncompleteBody')
      }
    }
  })

  it('x-amz-decoded-content-length must be given and held to', async () => {
    const data = randomBytes(100_000)
    for (const mode of MODES) {
      const u = await upload(mode, data.length, mode === 'signed' ? undefined : 'crc32')
      const trailer = mode === 'signed' ? undefined : { name: 'x-amz-checksum-crc32', value: checksumOf('crc32', data) }
      const wire = await frame(u, data, mode, { trailer })
      await refused(() => decode(wire, u.auth, { ...u.headers, 'x-amz-decoded-content-length': String(data.length + 1) }), 'IncompleteBody')
      await refused(() => decode(wire, u.auth, { ...u.headers, 'x-amz-decoded-content-length': String(data.length - 1) }), 'IncompleteBody')
      const headers: Record<string, string> = { ...u.headers }
      delete headers['x-amz-decoded-content-length']
      assert.throws(() => verifiedBody(pieces(wire), u.auth, headers), (e: unknown) => e instanceof S3Error && e.code === 'MissingContentLength' && e.status === 411)
      // the wire length, when given, is held to as well
      await refused(() => decode(wire, u.auth, { ...u.headers, 'content-length': String(wire.length + 5) }), 'IncompleteBody')
    }
  })

  it('garbled framing and bytes after the end are refused', async () => {
    const data = randomBytes(20_000)
    const u = await upload('unsigned-trailer', data.length, 'crc32')
    const wire = await frame(u, data, 'unsigned-trailer', { trailer: { name: 'x-amz-checksum-crc32', value: checksumOf('crc32', data) } })
    const text = wire.toString('latin1')
    await refused(() => decode(Buffer.from('zz' + text, 'latin1'), u.auth, u.headers), 'IncompleteBody', /malformed/)
    await refused(() => decode(Buffer.from(text.replace('\r\n', '\n'), 'latin1'), u.auth, u.headers), 'IncompleteBody', /malformed/)
    await refused(() => decode(Buffer.concat([wire, Buffer.from('junk')]), u.auth, u.headers), 'IncompleteBody', /after the final chunk/)
    await refused(() => decode(Buffer.from('f'.repeat(5000) + '\r\n', 'latin1'), u.auth, u.headers), 'IncompleteBody', /too long/)
  })

  it('refuses from the headers alone what S3 refuses before reading the body', () => {
    const auth: AuthPart = { payload: 'unsigned', contentSha256: 'UNSIGNED-PAYLOAD', signingKey: Buffer.alloc(32), amzDate: '', scope: '', signature: '' }
    const chunked: AuthPart = { ...auth, payload: 'streaming-unsigned-trailer', contentSha256: 'STREAMING-UNSIGNED-PAYLOAD-TRAILER' }
    const check = (a: AuthPart, headers: RequestHeaders, code: S3ErrorCode, message?: RegExp, options?: BodyOptions): void => {
      assert.throws(() => verifiedBody(pieces(Buffer.alloc(0)), a, headers, options), (e: unknown) => {
        assert.ok(e instanceof S3Error)
        assert.equal(e.code, code, e.message)
        if (message !== undefined) assert.match(e.message, message)
        return true
      })
    }
    const base = { 'x-amz-decoded-content-length': '10' }
    check(chunked, { ...base, 'x-amz-trailer': 'x-amz-checksum-md5' }, 'InvalidRequest', /x-amz-trailer header is not supported/)
    check(chunked, { ...base, 'x-amz-trailer': 'x-amz-checksum-crc32, x-amz-checksum-sha1' }, 'InvalidRequest', /Multiple checksum Types/)
    check(chunked, { ...base, 'x-amz-trailer': 'x-amz-checksum-crc32', 'x-amz-checksum-sha1': checksumOf('sha1', Buffer.alloc(0)) }, 'InvalidRequest', /Multiple checksum Types/)
    check(auth, { 'x-amz-trailer': 'x-amz-checksum-crc32' }, 'InvalidRequest')
    check(auth, { 'x-amz-checksum-crc32': 'AAAA' }, 'InvalidRequest', /Value for x-amz-checksum-crc32 header is invalid/)
    check(auth, { 'x-amz-checksum-sha256': 'not base64!' }, 'InvalidRequest')
    check(auth, { 'x-amz-checksum-crc32': 'AAAAAA==', 'x-amz-checksum-crc32c': 'AAAAAA==' }, 'InvalidRequest', /Multiple checksum Types/)
    check(auth, { 'x-amz-sdk-checksum-algorithm': 'CRC32' }, 'InvalidRequest', /no corresponding x-amz-checksum-\* or x-amz-trailer/)
    check(auth, { 'x-amz-sdk-checksum-algorithm': 'MD5', 'x-amz-checksum-crc32': 'AAAAAA==' }, 'InvalidRequest')
    check(auth, { 'x-amz-sdk-checksum-algorithm': 'SHA256', 'x-amz-checksum-crc32': 'AAAAAA==' }, 'BadDigest')
    check(auth, { 'content-md5': 'not an md5' }, 'InvalidDigest', /The Content-MD5 you specified was invalid/)
    check(auth, { 'content-md5': 'AAAA' }, 'InvalidDigest')
    check(auth, { 'content-length': '1000' }, 'EntityTooLarge', undefined, { maxSize: 999 })
    check(chunked, { 'x-amz-decoded-content-length': '1000', 'content-length': '1200' }, 'EntityTooLarge', undefined, { maxSize: 999 })
  })
})

describe('plain bodies: payload hash, Content-MD5, checksums, lengths', () => {
  const unsigned: AuthPart = { payload: 'unsigned', contentSha256: 'UNSIGNED-PAYLOAD', signingKey: Buffer.alloc(32), amzDate: '', scope: '', signature: '' }

  it('a signed payload must hash to x-amz-content-sha256', async () => {
    const data = randomBytes(123_457)
    const u = await upload('signed', 0) // only for a signing context
    const signedPayload: AuthPart = { ...u.auth, payload: 'signed', contentSha256: sha256(data).toUpperCase() }
    const { digest } = await decode(data, signedPayload, { 'content-length': String(data.length) })
    assert.equal(digest.sha256, sha256(data))
    const wrong: AuthPart = { ...signedPayload, contentSha256: EMPTY }
    const err = await refused(() => decode(data, wrong, {}), 'XAmzContentSHA256Mismatch')
    assert.equal(err.extra.S3ComputedContentSHA256, sha256(data))
    // the real verifier's result carries the mode and the hash
    const headers = { host: 'h', 'x-amz-content-sha256': sha256(data) }
    const signer = new SignatureV4({ service: 's3', region: 'r', credentials: { accessKeyId: AKID, secretAccessKey: SECRET }, sha256: Hash.bind(null, 'sha256'), uriEscapePath: false })
    const signed = await signer.sign({ method: 'PUT', protocol: 'http:', hostname: 'h', path: '/b/k', query: {}, headers }, { signingDate: new Date(DOC_NOW) })
    const auth = await verifyRequest({ method: 'PUT', rawPath: '/b/k', rawQuery: '', headers: signed.headers }, secrets, DOC_NOW)
    assert.ok((await decode(data, auth, signed.headers)).data.equals(data))
    const tampered = Buffer.from(data)
    tampered[0]! ^= 1
    await refused(() => decode(tampered, auth, signed.headers), 'XAmzContentSHA256Mismatch')
  })

  it('Content-MD5 is verified: BadDigest when it does not match', async () => {
    const data = randomBytes(99_999)
    const md5 = createHash('md5').update(data).digest('base64')
    const { digest } = await decode(data, unsigned, { 'content-md5': md5 })
    assert.equal(digest.contentMd5, md5)
    const other = createHash('md5').update('x').digest('base64')
    const err = await refused(() => decode(data, unsigned, { 'content-md5': other }), 'BadDigest', 'The Content-MD5 you specified did not match what we received.')
    assert.equal(err.status, 400)
  })

  it('with objectHashesFromConsumer, checks the payload hash and Content-MD5 against the consumer\'s digests', async () => {
    const data = randomBytes(150_001)
    const md5 = createHash('md5').update(data).digest()
    const u = await upload('signed', 0) // only for a signing context
    const signedPayload: AuthPart = { ...u.auth, payload: 'signed', contentSha256: sha256(data).toUpperCase() }
    const headers = { 'content-length': String(data.length), 'content-md5': md5.toString('base64') }
    const consume = async (auth: AuthPart, h: RequestHeaders): Promise<ReturnType<typeof verifiedBody>> => {
      const stream = verifiedBody(pieces(data), auth, h, { objectHashesFromConsumer: true })
      const out: Buffer[] = []
      for await (const piece of stream) out.push(Buffer.from(piece))
      assert.ok(Buffer.concat(out).equals(data))
      // nothing is settled before the consumer's check
      assert.equal(stream.digest, undefined)
      return stream
    }
    const right = { sha256: sha256(data), md5: md5.toString('hex') }
    const ok = await consume(signedPayload, headers)
    assert.throws(() => { verifiedBody(pieces(data), signedPayload, headers, { objectHashesFromConsumer: true }).checkObjectHashes(right) }, /has not ended/)
    ok.checkObjectHashes(right)
    assert.equal(ok.digest?.sha256, sha256(data))
    assert.equal(ok.digest?.contentMd5, md5.toString('base64'))
    const badSha = await consume(signedPayload, headers)
    const err = await refused(async () => { badSha.checkObjectHashes({ ...right, sha256: EMPTY }) }, 'XAmzContentSHA256Mismatch')
    assert.equal(err.extra.S3ComputedContentSHA256, EMPTY)
    assert.equal(badSha.digest, undefined)
    const badMd5 = await consume(signedPayload, headers)
    await refused(async () => { badMd5.checkObjectHashes({ ...right, md5: createHash('md5').update('x').digest('hex') }) }, 'BadDigest')
    assert.equal(badMd5.digest, undefined)
    // an unsigned payload without Content-MD5 has nothing to compare, and settles
    const plain = await consume(unsigned, { 'content-length': String(data.length) })
    plain.checkObjectHashes({ sha256: EMPTY, md5: '00' })
    assert.equal(plain.digest?.size, data.length)
    assert.equal(plain.digest?.sha256, undefined)
    // checksums (x-amz-checksum-*) are still the body's own, checked as it ends
    await refused(() => consume(unsigned, { 'x-amz-checksum-crc32': checksumOf('crc32', Buffer.from('x')) }), 'BadDigest')
  })

  it('an x-amz-checksum-* header sent up front is verified and echoed', async () => {
    const data = randomBytes(77_777)
    for (const alg of CHECKSUM_ALGORITHMS) {
      const value = checksumOf(alg, data)
      const { digest } = await decode(data, unsigned, { [`x-amz-checksum-${alg}`]: value, 'x-amz-sdk-checksum-algorithm': alg.toUpperCase() })
      assert.equal(digest.checksumAlgorithm, alg)
      assert.deepEqual(digest.checksums, { [alg]: value })
      // without x-amz-sdk-checksum-algorithm, as S3 also verifies it then
      await refused(() => decode(data, unsigned, { [`x-amz-checksum-${alg}`]: checksumOf(alg, Buffer.from('x')) }), 'BadDigest', /did not match the calculated checksum/)
    }
    // an unrelated header of the family is not a checksum
    await decode(data, unsigned, { 'x-amz-checksum-type': 'FULL_OBJECT' })
  })

  it('holds the body to Content-Length and to the size limit while streaming', async () => {
    const data = randomBytes(10_000)
    await refused(() => decode(data, unsigned, { 'content-length': '10001' }), 'IncompleteBody')
    await refused(() => decode(data, unsigned, { 'content-length': '9999' }), 'IncompleteBody')
    // no length announced (Transfer-Encoding: chunked): the limit is found by counting
    const err = await refused(() => decode(data, unsigned, { 'transfer-encoding': 'chunked' }, { maxSize: 4096 }), 'EntityTooLarge')
    assert.equal(err.extra.MaxSizeAllowed, '4096')
  })

  it('throws from the generator where the problem is, after yielding what came before', async () => {
    const data = randomBytes(200_000)
    const u = await upload('signed', data.length)
    const wire = await frame(u, data, 'signed', { chunkSizes: () => 10_000 })
    wire[150_000]! ^= 1
    const stream = verifiedBody(pieces(wire, 4096), u.auth, u.headers)
    let yielded = 0
    await assert.rejects(async () => { for await (const p of stream) yielded += p.length }, (e: unknown) => e instanceof S3Error && e.code === 'SignatureDoesNotMatch')
    assert.ok(yielded > 100_000 && yielded < 160_000, `yielded ${yielded}`)
    assert.equal(stream.digest, undefined)
  })
})

describe('aws-chunked: memory', () => {
  it('streams 64 MiB of signed chunks with a signed trailer without holding them', async (t) => {
    const total = 64 << 20
    const block = randomBytes(64 * 1024)
    const blockHash = sha256(block)
    const u = await upload('signed-trailer', total, 'crc32c')
    const key = signingKey(SECRET, u.auth.date, u.auth.region)
    const hmac = (s: string): string => createHmac('sha256', key).update(s).digest('hex')
    // the expected checksum, computed over the same blocks
    const crc = (await import('../../gateway/s3/auth/checksums.ts')).createChecksum('crc32c')
    for (let i = 0; i < total / block.length; i++) crc.update(block)
    const crcValue = crc.digest().toString('base64')

    async function * wire (): AsyncGenerator<Uint8Array> {
      let previous = u.auth.signature
      const line = (hash: string, size: number): Buffer => {
        previous = hmac(`AWS4-HMAC-SHA256-PAYLOAD\n${u.auth.amzDate}\n${u.auth.scope}\n${previous}\n${EMPTY}\n${hash}`)
        return Buffer.from(`${size.toString(16)};chunk-signature=${previous}\r\n`)
      }
      for (let sent = 0; sent < total; sent += block.length) {
        yield line(blockHash, block.length)
        // a fresh buffer per block, as a socket gives
        yield Buffer.from(block)
        yield Buffer.from('\r\n')
      }
      yield line(EMPTY, 0)
      const trailerLine = `x-amz-checksum-crc32c:${crcValue}`
      const sig = hmac(`AWS4-HMAC-SHA256-TRAILER\n${u.auth.amzDate}\n${u.auth.scope}\n${previous}\n${sha256(trailerLine + '\n')}`)
      yield Buffer.from(`${trailerLine}\r\nx-amz-trailer-signature:${sig}\r\n\r\n`)
    }

    // what is measured is what is alive: without collections, the garbage
    // of the source's own buffers alone reaches half the body
    v8.setFlagsFromString('--expose-gc')
    const gc = vm.runInNewContext('gc') as () => void
    const used = (): number => { const m = process.memoryUsage(); return m.heapUsed + m.arrayBuffers }
    gc()
    const baseline = used()
    let peak = 0
    let size = 0
    let n = 0
    const stream = verifiedBody(wire(), u.auth, u.headers)
    for await (const piece of stream) {
      size += piece.length
      if (++n % 64 === 0) gc()
      if (n % 16 === 0) peak = Math.max(peak, used() - baseline)
    }
    assert.equal(size, total)
    assert.equal(stream.digest?.checksums.crc32c, crcValue)
    // a body that were held would need 64 MiB
    assert.ok(peak < 16 << 20, `memory grew by ${(peak / 1048576).toFixed(1)} MiB`)
    t.diagnostic(`64 MiB aws-chunked body: live memory grew by at most ${(peak / 1048576).toFixed(1)} MiB`)
  })
})
