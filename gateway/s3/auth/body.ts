/**
 * The request body as the object's bytes, verified as S3 verifies them:
 * aws-chunked framing removed (chunk and trailer signatures checked), the
 * announced length held to, the signed payload hash, `Content-MD5` and the
 * `x-amz-checksum-*` value (sent up front or as a trailer) compared with what
 * arrived.
 *
 * Streaming throughout: bytes are passed on as they come, memory does not
 * grow with the body, and every problem is thrown from the generator where it
 * is found — a bad chunk at that chunk, a wrong digest at the end. Until the
 * generator has returned, what it yielded is provisional.
 */
import { createHash } from 'node:crypto'
import { s3Error } from '../errors.ts'
import type { RequestHeaders } from './canonical.ts'
import { AwsChunkedDecoder } from './chunked.ts'
import {
  CHECKSUM_NAMES, checksumFromHeaderName, checksumFromName, createChecksum, decodeChecksumValue
} from './checksums.ts'
import type { Checksum, ChecksumAlgorithm } from './checksums.ts'
import { isStreaming } from './payload.ts'
import type { AuthResult } from './verify.ts'

export interface BodyOptions {
  /** refuse (EntityTooLarge) a body whose object bytes exceed this */
  readonly maxSize?: number
  /** checksums to compute even if the client sent none (returned in the digest) */
  readonly computeChecksums?: readonly ChecksumAlgorithm[]
  /**
   * The consumer computes the SHA-256 and MD5 of the object bytes itself (the
   * store does, for the CID and the ETag), so the body does not hash them a
   * second time: the signed payload hash and Content-MD5 are compared with
   * the consumer's digests by `checkObjectHashes`, which the consumer must
   * call once the body has ended and before it keeps anything.
   */
  readonly objectHashesFromConsumer?: boolean
}

/** Hex digests of the object bytes, as the consumer computed them. */
export interface ObjectHashes {
  readonly sha256: string
  readonly md5: string
}

/** What the headers say the body must be; checked before any byte is read. */
export interface BodyPlan {
  readonly chunked: boolean
  /** bytes on the wire (Content-Length), when given */
  readonly contentLength: number | undefined
  /** object bytes: x-amz-decoded-content-length for aws-chunked, else Content-Length */
  readonly decodedLength: number | undefined
  /** Content-MD5, base64, when given */
  readonly contentMd5: string | undefined
  /** hex SHA-256 the signature covers, when the payload is signed */
  readonly payloadSha256: string | undefined
  /** the checksum the client sent or will send, and where */
  readonly checksum: { readonly algorithm: ChecksumAlgorithm, readonly value?: string, readonly trailer: boolean } | undefined
  /** every checksum to compute */
  readonly compute: readonly ChecksumAlgorithm[]
  readonly maxSize: number | undefined
}

/** What the body turned out to be, once all of it matched. */
export interface BodyDigest {
  /** object bytes */
  readonly size: number
  /** the algorithm of the client's checksum: S3 echoes `x-amz-checksum-<alg>` for it */
  readonly checksumAlgorithm: ChecksumAlgorithm | undefined
  /** base64 checksums: the client's (verified) and those asked for in options */
  readonly checksums: Readonly<Partial<Record<ChecksumAlgorithm, string>>>
  /** base64 MD5, when Content-MD5 was sent (and matched) */
  readonly contentMd5: string | undefined
  /** hex SHA-256, when the payload was signed (and matched) */
  readonly sha256: string | undefined
  /** trailing headers of an aws-chunked body, lower-case names */
  readonly trailers: Readonly<Record<string, string>>
}

export interface VerifiedBody extends AsyncGenerator<Uint8Array, BodyDigest, undefined> {
  readonly plan: BodyPlan
  /** set once the body has ended and everything matched (with `objectHashesFromConsumer`: once `checkObjectHashes` passed) */
  readonly digest: BodyDigest | undefined
  /**
   * With `objectHashesFromConsumer`, after the body has ended: checks the
   * payload hash and Content-MD5 against the object's digests; throws
   * XAmzContentSHA256Mismatch or BadDigest. Without it, does nothing.
   */
  readonly checkObjectHashes: (hashes: ObjectHashes) => void
}

interface Outcome {
  digest: BodyDigest | undefined
  /** ended, waiting for the consumer's object hashes */
  pending: BodyDigest | undefined
}

function single (value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value
}

function lengthHeader (value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  if (!/^\d{1,16}$/.test(value) || !Number.isSafeInteger(Number(value))) {
    throw s3Error('InvalidArgument', `Invalid ${name}`, { ArgumentName: name, ArgumentValue: value })
  }
  return Number(value)
}

// metadata headers in the x-amz-checksum- family that are not checksum values
const CHECKSUM_META = new Set(['x-amz-checksum-type', 'x-amz-checksum-mode', 'x-amz-checksum-algorithm'])
const MULTIPLE_CHECKSUMS = 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.'

/**
 * Reads what the headers promise about the body, and refuses, before any byte
 * is read, what S3 refuses from the headers alone.
 */
export function planBody (auth: Pick<AuthResult, 'payload' | 'contentSha256'>, headers: RequestHeaders, options: BodyOptions = {}): BodyPlan {
  const chunked = isStreaming(auth.payload)
  const transferEncoding = single(headers['transfer-encoding'])
  // with Transfer-Encoding, Content-Length does not describe the body (RFC 9112)
  const contentLength = transferEncoding === undefined ? lengthHeader(single(headers['content-length']), 'Content-Length') : undefined
  let decodedLength: number | undefined
  if (chunked) {
    decodedLength = lengthHeader(single(headers['x-amz-decoded-content-length']), 'x-amz-decoded-content-length')
    if (decodedLength === undefined) throw s3Error('MissingContentLength')
  } else {
    decodedLength = contentLength
  }
  const { maxSize } = options
  if (maxSize !== undefined && decodedLength !== undefined && decodedLength > maxSize) {
    throw s3Error('EntityTooLarge', undefined, { ProposedSize: String(decodedLength), MaxSizeAllowed: String(maxSize) })
  }

  const contentMd5 = single(headers['content-md5'])
  if (contentMd5 !== undefined && !/^[A-Za-z0-9+/]{22}==$/.test(contentMd5)) throw s3Error('InvalidDigest')

  // --- the client's checksum: one x-amz-checksum-<alg> header, or one trailer
  let checksum: { algorithm: ChecksumAlgorithm, value?: string, trailer: boolean } | undefined
  for (const [name, raw] of Object.entries(headers)) {
    if (!name.startsWith('x-amz-checksum-') || CHECKSUM_META.has(name) || raw === undefined) continue
    const algorithm = checksumFromHeaderName(name)
    if (algorithm === undefined) continue // not a checksum S3 knows: an ordinary header
    if (checksum !== undefined) throw s3Error('InvalidRequest', MULTIPLE_CHECKSUMS)
    const value = single(raw)!
    if (decodeChecksumValue(algorithm, value) === undefined) throw s3Error('InvalidRequest', `Value for ${name} header is invalid.`)
    checksum = { algorithm, value, trailer: false }
  }
  const trailerHeader = single(headers['x-amz-trailer'])
  if (trailerHeader !== undefined) {
    const names = trailerHeader.split(',').map((t) => t.trim().toLowerCase()).filter((t) => t !== '')
    if (auth.payload !== 'streaming-signed-trailer' && auth.payload !== 'streaming-unsigned-trailer' && names.length > 0) {
      throw s3Error('InvalidRequest', 'The x-amz-trailer header requires an x-amz-content-sha256 of STREAMING-UNSIGNED-PAYLOAD-TRAILER or STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER.')
    }
    for (const name of names) {
      const algorithm = checksumFromHeaderName(name)
      if (algorithm === undefined) throw s3Error('InvalidRequest', 'The value specified in the x-amz-trailer header is not supported')
      if (checksum !== undefined) throw s3Error('InvalidRequest', MULTIPLE_CHECKSUMS)
      checksum = { algorithm, trailer: true }
    }
  }
  const sdkAlgorithm = single(headers['x-amz-sdk-checksum-algorithm'])
  if (sdkAlgorithm !== undefined) {
    const algorithm = checksumFromName(sdkAlgorithm)
    if (algorithm === undefined) throw s3Error('InvalidRequest', 'Value for x-amz-sdk-checksum-algorithm header is invalid.')
    if (checksum === undefined) {
      throw s3Error('InvalidRequest', 'x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers were found.')
    }
    // S3's PutObject documentation: a value for another algorithm than the
    // one named fails the request with BadDigest
    if (algorithm !== checksum.algorithm) {
      throw s3Error('BadDigest', `The ${CHECKSUM_NAMES[algorithm]} named in x-amz-sdk-checksum-algorithm does not match the ${CHECKSUM_NAMES[checksum.algorithm]} checksum sent.`)
    }
  }

  const compute = new Set<ChecksumAlgorithm>(options.computeChecksums ?? [])
  if (checksum !== undefined) compute.add(checksum.algorithm)
  return {
    chunked,
    contentLength,
    decodedLength,
    contentMd5,
    payloadSha256: auth.payload === 'signed' ? auth.contentSha256.toLowerCase() : undefined,
    checksum,
    compute: [...compute],
    maxSize
  }
}

/**
 * The object's bytes from a request body, verified. Header problems are
 * thrown at once (synchronously, before the body is touched); body problems
 * from the generator where they are found:
 * SignatureDoesNotMatch (a chunk or the trailer), InvalidChunkSizeError,
 * IncompleteBody (truncated, too long, framing, length mismatch),
 * MalformedTrailerError, EntityTooLarge, XAmzContentSHA256Mismatch, BadDigest.
 */
export function verifiedBody (
  source: AsyncIterable<Uint8Array>,
  auth: Pick<AuthResult, 'payload' | 'contentSha256' | 'signingKey' | 'amzDate' | 'scope' | 'signature'>,
  headers: RequestHeaders,
  options: BodyOptions = {}
): VerifiedBody {
  const plan = planBody(auth, headers, options)
  const deferred = options.objectHashesFromConsumer === true
  const outcome: Outcome = { digest: undefined, pending: undefined }
  const gen = run(source, auth, plan, outcome, deferred)
  const checkObjectHashes = (hashes: ObjectHashes): void => {
    if (!deferred) return
    const pending = outcome.pending
    if (pending === undefined) throw new Error('checkObjectHashes: the body has not ended')
    const sha256 = plan.payloadSha256 === undefined ? undefined : checkPayloadSha256(plan, hashes.sha256.toLowerCase())
    const contentMd5 = plan.contentMd5 === undefined ? undefined : checkContentMd5(plan, Buffer.from(hashes.md5, 'hex').toString('base64'))
    outcome.pending = undefined
    outcome.digest = { ...pending, sha256, contentMd5 }
  }
  Object.defineProperty(gen, 'plan', { value: plan, enumerable: true })
  Object.defineProperty(gen, 'digest', { get: () => outcome.digest, enumerable: true })
  Object.defineProperty(gen, 'checkObjectHashes', { value: checkObjectHashes, enumerable: true })
  return gen as VerifiedBody
}

function checkPayloadSha256 (plan: BodyPlan, computedHex: string): string {
  if (computedHex !== plan.payloadSha256) {
    throw s3Error('XAmzContentSHA256Mismatch', undefined, { ClientComputedContentSHA256: plan.payloadSha256!, S3ComputedContentSHA256: computedHex })
  }
  return computedHex
}

function checkContentMd5 (plan: BodyPlan, computedBase64: string): string {
  if (computedBase64 !== plan.contentMd5) {
    throw s3Error('BadDigest', undefined, { ExpectedDigest: Buffer.from(plan.contentMd5!, 'base64').toString('hex'), CalculatedDigest: Buffer.from(computedBase64, 'base64').toString('hex') })
  }
  return computedBase64
}

async function * run (
  source: AsyncIterable<Uint8Array>,
  auth: Pick<AuthResult, 'payload' | 'signingKey' | 'amzDate' | 'scope' | 'signature'>,
  plan: BodyPlan,
  outcome: Outcome,
  deferred: boolean
): AsyncGenerator<Uint8Array, BodyDigest, undefined> {
  const signedChunks = auth.payload === 'streaming-signed' || auth.payload === 'streaming-signed-trailer'
  const decoder = plan.chunked
    ? new AwsChunkedDecoder({
      ...(signedChunks ? { signing: { key: auth.signingKey, amzDate: auth.amzDate, scope: auth.scope, seed: auth.signature } } : {}),
      signedTrailer: auth.payload === 'streaming-signed-trailer',
      expectedTrailers: plan.checksum?.trailer === true ? [`x-amz-checksum-${plan.checksum.algorithm}`] : []
    })
    : undefined
  const checksums = new Map<ChecksumAlgorithm, Checksum>(plan.compute.map((alg) => [alg, createChecksum(alg)]))
  // with `deferred`, the consumer's own digests of the object bytes stand for these (checkObjectHashes)
  const md5 = plan.contentMd5 === undefined || deferred ? undefined : createHash('md5')
  const sha256 = plan.payloadSha256 === undefined || deferred ? undefined : createHash('sha256')
  const { contentLength, decodedLength, maxSize } = plan
  let wire = 0
  let size = 0

  const account = (piece: Uint8Array): void => {
    size += piece.length
    if (decodedLength !== undefined && size > decodedLength) {
      throw s3Error('IncompleteBody', plan.chunked
        ? 'The aws-chunked body holds more bytes than x-amz-decoded-content-length.'
        : 'The body holds more bytes than Content-Length.')
    }
    if (maxSize !== undefined && size > maxSize) {
      throw s3Error('EntityTooLarge', undefined, { ProposedSize: String(size), MaxSizeAllowed: String(maxSize) })
    }
    for (const c of checksums.values()) c.update(piece)
    md5?.update(piece)
    sha256?.update(piece)
  }

  for await (const input of source) {
    wire += input.length
    if (contentLength !== undefined && wire > contentLength) throw s3Error('IncompleteBody', 'The body holds more bytes than Content-Length.')
    if (decoder === undefined) {
      account(input)
      yield input
    } else {
      for (const piece of decoder.push(input)) {
        account(piece)
        yield piece
      }
    }
  }
  decoder?.finish()
  if (contentLength !== undefined && wire !== contentLength) throw s3Error('IncompleteBody')
  if (decodedLength !== undefined && size !== decodedLength) {
    throw s3Error('IncompleteBody', plan.chunked ? 'The aws-chunked body does not hold the x-amz-decoded-content-length bytes it announced.' : undefined)
  }

  const sha256Hex = sha256 === undefined ? undefined : checkPayloadSha256(plan, sha256.digest('hex'))
  const md5Base64 = md5 === undefined ? undefined : checkContentMd5(plan, md5.digest('base64'))
  const trailers: Record<string, string> = Object.fromEntries(decoder?.trailers ?? [])
  const computed: Partial<Record<ChecksumAlgorithm, string>> = {}
  for (const [alg, c] of checksums) computed[alg] = c.digest().toString('base64')
  if (plan.checksum !== undefined) {
    const { algorithm } = plan.checksum
    const name = `x-amz-checksum-${algorithm}`
    const expected = plan.checksum.trailer ? trailers[name] : plan.checksum.value
    if (expected === undefined) throw s3Error('MalformedTrailerError') // the decoder requires it; kept for safety
    if (plan.checksum.trailer && decodeChecksumValue(algorithm, expected) === undefined) {
      throw s3Error('InvalidRequest', `Value for ${name} trailing header is invalid.`)
    }
    if (computed[algorithm] !== expected) {
      throw s3Error('BadDigest', `The ${CHECKSUM_NAMES[algorithm]} you specified did not match the calculated checksum.`)
    }
  }

  const digest: BodyDigest = {
    size,
    checksumAlgorithm: plan.checksum?.algorithm,
    checksums: computed,
    contentMd5: md5Base64,
    sha256: sha256Hex,
    trailers
  }
  if (deferred) outcome.pending = digest
  else outcome.digest = digest
  return digest
}

/**
 * The Content-Encoding to store with an object: S3 removes `aws-chunked`, a
 * transfer detail, and keeps any other coding the client declared.
 */
export function storedContentEncoding (value: string | undefined): string | undefined {
  if (value === undefined) return undefined
  const kept = value.split(',').map((c) => c.trim()).filter((c) => c !== '' && c.toLowerCase() !== 'aws-chunked')
  return kept.length === 0 ? undefined : kept.join(', ')
}
