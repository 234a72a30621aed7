/**
 * Decoder for S3's `aws-chunked` content encoding:
 *
 *     <hex-size>[;chunk-signature=<sig>]\r\n<data>\r\n      (repeated)
 *     0[;chunk-signature=<sig>]\r\n
 *     [<name>:<value>\r\n ... [x-amz-trailer-signature:<sig>\r\n]]
 *     \r\n
 *
 * It is a push parser: bytes go in as they arrive from the socket, split
 * anywhere, and object bytes come out as zero-copy views of the input, so
 * memory stays bounded by the largest input buffer whatever the body or chunk
 * size. Only the chunk-size line (≤ 4 KiB) and the trailer section (≤ 16 KiB)
 * are ever held.
 *
 * Signed chunks (STREAMING-AWS4-HMAC-SHA256-PAYLOAD[-TRAILER]) are chained:
 * each signs the previous signature, so chunks can be neither altered,
 * reordered, dropped nor spliced from another upload. A chunk's bytes are
 * handed out before its signature, which is at its end, can be checked: the
 * consumer must hold everything provisional until the body has ended without
 * an error (the store discards an upload whose body stream throws).
 */
import { createHash } from 'node:crypto'
import type { Hash } from 'node:crypto'
import { s3Error } from '../errors.ts'
import type { S3Error } from '../errors.ts'
import { EMPTY_SHA256, sha256Hex } from './canonical.ts'
import { sign, signaturesEqual } from './signing-key.ts'

/** What chains the chunk signatures to the request's own signature. */
export interface ChunkSigning {
  readonly key: Uint8Array
  readonly amzDate: string
  readonly scope: string
  /** the request's signature */
  readonly seed: string
}

export interface AwsChunkedOptions {
  /** present: every chunk must carry a valid chunk-signature */
  readonly signing?: ChunkSigning
  /** the trailer section must be signed (x-amz-trailer-signature) */
  readonly signedTrailer?: boolean
  /** trailer names announced by `x-amz-trailer` (lower case); exactly these must come */
  readonly expectedTrailers?: readonly string[]
}

const CR = 0x0d
const LF = 0x0a
const MAX_LINE = 4096
const MAX_TRAILER_SECTION = 16 * 1024
/** S3: in signed streaming, only the last data chunk may be smaller than this. */
export const MIN_SIGNED_CHUNK = 8192

const SIGNED_LINE = /^([0-9a-fA-F]{1,16});chunk-signature=([0-9a-f]{64})$/
const UNSIGNED_LINE = /^([0-9a-fA-F]{1,16})(?:;.*)?$/
const TRAILER_SIGNATURE = 'x-amz-trailer-signature'

type State = 'line' | 'data' | 'data-cr' | 'data-lf' | 'trailer' | 'done'

function malformed (what: string): S3Error {
  return s3Error('IncompleteBody', `The aws-chunked body is malformed: ${what}.`)
}

function malformedTrailer (): S3Error {
  return s3Error('MalformedTrailerError')
}

export class AwsChunkedDecoder {
  private state: State = 'line'
  private partial: Buffer[] = []
  private partialLength = 0
  private remaining = 0
  private chunkIndex = 0
  private smallChunk: { index: number, size: number } | undefined
  private chunkHash: Hash | undefined
  private chunkSignature = ''
  private previousSignature: string
  private trailerBytes = 0
  private trailerSignature: string | undefined
  private lastTrailerLineBareLf = false
  private readonly received: Array<[string, string]> = []
  private readonly signing: ChunkSigning | undefined
  private readonly signedTrailer: boolean
  private readonly expected: readonly string[]

  constructor (options: AwsChunkedOptions = {}) {
    this.signing = options.signing
    this.signedTrailer = options.signedTrailer === true && options.signing !== undefined
    this.expected = options.expectedTrailers ?? []
    this.previousSignature = options.signing?.seed ?? ''
  }

  /** The trailing headers received (without the trailer signature), once done. */
  get trailers (): ReadonlyArray<readonly [string, string]> {
    return this.received
  }

  get done (): boolean {
    return this.state === 'done'
  }

  /**
   * Feeds bytes; returns the object bytes they complete (views of `input`).
   * Throws an S3Error at the first byte that cannot be right.
   */
  push (input: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = []
    let i = 0
    const n = input.length
    while (i < n) {
      switch (this.state) {
        case 'line': {
          const lf = input.indexOf(LF, i)
          const end = lf === -1 ? n : lf
          this.collect(input.subarray(i, end), MAX_LINE, 'chunk header line too long')
          i = end
          if (lf !== -1) {
            i++
            this.chunkLine(this.takeLine())
          }
          break
        }
        case 'data': {
          const take = Math.min(this.remaining, n - i)
          const piece = input.subarray(i, i + take)
          this.chunkHash?.update(piece)
          out.push(piece)
          i += take
          this.remaining -= take
          if (this.remaining === 0) {
            this.endOfChunkData()
            this.state = 'data-cr'
          }
          break
        }
        case 'data-cr':
          if (input[i++] !== CR) throw malformed('chunk data not followed by CRLF')
          this.state = 'data-lf'
          break
        case 'data-lf':
          if (input[i++] !== LF) throw malformed('chunk data not followed by CRLF')
          this.state = 'line'
          break
        case 'trailer': {
          const lf = input.indexOf(LF, i)
          const end = lf === -1 ? n : lf
          this.trailerBytes += end - i + (lf === -1 ? 0 : 1)
          if (this.trailerBytes > MAX_TRAILER_SECTION) throw malformedTrailer()
          this.collect(input.subarray(i, end), MAX_TRAILER_SECTION, 'trailer too long')
          i = end
          if (lf !== -1) {
            i++
            this.trailerLine(this.takeLine())
          }
          break
        }
        case 'done':
          throw malformed('data after the final chunk')
      }
    }
    return out
  }

  /**
   * The source has ended: throws IncompleteBody unless the body was complete.
   * A body that stops right after its final chunk, or after its trailers,
   * without the closing empty line, is taken as complete when nothing else was
   * due (some clients omit it).
   */
  finish (): void {
    if (this.state === 'done') return
    if (this.state === 'trailer' && this.partialLength === 0 && this.trailerComplete()) {
      this.closeTrailers()
      return
    }
    throw s3Error('IncompleteBody', 'The aws-chunked body ended before its final chunk and trailers.')
  }

  // --- internals

  private collect (bytes: Uint8Array, max: number, what: string): void {
    if (bytes.length === 0) return
    this.partialLength += bytes.length
    if (this.partialLength > max) throw malformed(what)
    // copied: the caller may reuse its buffer once push returns
    this.partial.push(Buffer.from(bytes))
  }

  /** The line collected so far, without its LF. */
  private takeLine (): Buffer {
    const line = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial, this.partialLength)
    this.partial = []
    this.partialLength = 0
    return line
  }

  private chunkLine (line: Buffer): void {
    if (line.length === 0 || line[line.length - 1] !== CR) throw malformed('chunk header not terminated by CRLF')
    const text = line.toString('latin1', 0, line.length - 1)
    let size: number
    if (this.signing !== undefined) {
      const m = SIGNED_LINE.exec(text)
      if (m === null) {
        if (UNSIGNED_LINE.test(text)) throw s3Error('SignatureDoesNotMatch', 'The chunk signature is missing or malformed.')
        throw malformed('bad chunk header')
      }
      size = parseInt(m[1]!, 16)
      this.chunkSignature = m[2]!
    } else {
      const m = UNSIGNED_LINE.exec(text)
      if (m === null) throw malformed('bad chunk header')
      size = parseInt(m[1]!, 16)
    }
    if (!Number.isSafeInteger(size)) throw malformed('chunk size out of range')
    this.chunkIndex++
    if (size > 0 && this.signing !== undefined) {
      if (this.smallChunk !== undefined) {
        throw s3Error('InvalidChunkSizeError', undefined, { Chunk: String(this.smallChunk.index), BadChunkSize: String(this.smallChunk.size) })
      }
      if (size < MIN_SIGNED_CHUNK) this.smallChunk = { index: this.chunkIndex, size }
    }
    if (size === 0) {
      // the final chunk: signed over no data, then the trailer section
      if (this.signing !== undefined) this.verifyChunk(EMPTY_SHA256)
      this.state = 'trailer'
      return
    }
    this.remaining = size
    this.chunkHash = this.signing === undefined ? undefined : createHash('sha256')
    this.state = 'data'
  }

  private endOfChunkData (): void {
    if (this.chunkHash !== undefined) {
      this.verifyChunk(this.chunkHash.digest('hex'))
      this.chunkHash = undefined
    }
  }

  private verifyChunk (dataSha256: string): void {
    const s = this.signing!
    const toSign = `AWS4-HMAC-SHA256-PAYLOAD\n${s.amzDate}\n${s.scope}\n${this.previousSignature}\n${EMPTY_SHA256}\n${dataSha256}`
    if (!signaturesEqual(sign(s.key, toSign), this.chunkSignature)) {
      throw s3Error('SignatureDoesNotMatch', undefined, { StringToSign: toSign, SignatureProvided: this.chunkSignature })
    }
    this.previousSignature = this.chunkSignature
  }

  private trailerLine (raw: Buffer): void {
    // CRLF is the rule; a bare LF is tolerated in this section, where some
    // clients have been seen to send one
    const bareLf = raw.length === 0 || raw[raw.length - 1] !== CR
    const text = raw.toString('utf8', 0, bareLf ? raw.length : raw.length - 1)
    const afterBareLf = this.lastTrailerLineBareLf
    this.lastTrailerLineBareLf = bareLf
    if (text === '') {
      // a checksum line ended by LF and then CRLF (a client slip seen in the
      // wild) is not the end of a signed section still waiting for its signature
      if (afterBareLf && !bareLf && this.signedTrailer && this.trailerSignature === undefined && this.received.length > 0) return
      this.closeTrailers()
      return
    }
    const colon = text.indexOf(':')
    if (colon <= 0) throw malformedTrailer()
    const name = text.slice(0, colon).trim().toLowerCase()
    const value = text.slice(colon + 1).trim()
    if (name === TRAILER_SIGNATURE) {
      if (!this.signedTrailer || this.trailerSignature !== undefined || !/^[0-9a-f]{64}$/.test(value)) throw malformedTrailer()
      this.trailerSignature = value
      return
    }
    if (this.trailerSignature !== undefined) throw malformedTrailer() // nothing may follow the signature
    if (!this.expected.includes(name) || this.received.some(([n]) => n === name)) throw malformedTrailer()
    this.received.push([name, value])
  }

  private trailerComplete (): boolean {
    return this.received.length === this.expected.length && (!this.signedTrailer || this.trailerSignature !== undefined || this.expected.length === 0)
  }

  private closeTrailers (): void {
    if (this.received.length !== this.expected.length) throw malformedTrailer()
    if (this.signedTrailer && this.trailerSignature === undefined && this.expected.length > 0) throw malformedTrailer()
    if (this.signedTrailer && this.trailerSignature !== undefined) {
      const s = this.signing!
      // the canonical trailer: each header as "name:value\n", in the order sent
      const canonical = this.received.map(([name, value]) => `${name}:${value}\n`).join('')
      const toSign = `AWS4-HMAC-SHA256-TRAILER\n${s.amzDate}\n${s.scope}\n${this.previousSignature}\n${sha256Hex(canonical)}`
      if (!signaturesEqual(sign(s.key, toSign), this.trailerSignature)) {
        throw s3Error('SignatureDoesNotMatch', undefined, { StringToSign: toSign, SignatureProvided: this.trailerSignature })
      }
    }
    this.state = 'done'
  }
}
