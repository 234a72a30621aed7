import { PassThrough, Readable } from 'node:stream'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import parseRange from 'range-parser'
import type { CID } from 'multiformats/cid'
import { cidString, parseCid } from '../../protocol/cid.ts'
import { RAW_CODEC } from '../../protocol/cid-profile.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { MediaStore, ByteRange } from '../../node/store/media-store.ts'
import { detectMediaType, SNIFF_BYTES } from '../../node/ingest/media-type.ts'
import { publiclyReadable } from '../../node/store/access.ts'
import { goneBlobKey } from '../../node/store/records.ts'
import { carStream } from './car-stream.ts'
import { matchesIfNoneMatch } from './conditional.ts'
import { carContentType, negotiateFormat, RAW_TYPE } from './format.ts'
import type { CarOptions } from './format.ts'
import { contentDisposition, setFileType } from './safety.ts'

const IMMUTABLE = 'public, max-age=29030400, immutable'

interface IpfsParams {
  cid: string
  '*'?: string
}

type Query = Record<string, string | undefined>

/** What the gateway asks of the swarm: blobs this node lacks. */
export interface SwarmReads {
  /**
   * Fetches a blob from peers into the store (shared by concurrent readers); throws not_found / fetch_timeout.
   * `onBytes` gets the file as it arrives, when this call started the fetch.
   */
  fetchForRead: (cid: CID, options: { signal?: AbortSignal, onBytes?: (chunk: Uint8Array) => Promise<void> }) => Promise<void>
  /** A read of a blob: keeps a cached one from eviction. */
  touch: (cid: string) => void
  /** The answer for a blob no peer has. */
  absent: (cid: CID) => FdnError
}

export interface IpfsRouteOptions {
  store: MediaStore
  swarm: SwarmReads | undefined
}

/** `GET|HEAD /ipfs/{cid}[/{path}]`: the path gateway and the trustless gateway. */
export async function ipfsRoutes (app: FastifyInstance, { store, swarm }: IpfsRouteOptions): Promise<void> {
  const handler = async (request: FastifyRequest<{ Params: IpfsParams, Querystring: Query }>, reply: FastifyReply): Promise<unknown> => {
    const cid = parseCid(request.params.cid)
    checkPath(cid, request.params['*'])
    const format = negotiateFormat(request.query, request.headers.accept)
    reply.header('vary', 'Accept')
    reply.header('x-ipfs-path', `/ipfs/${request.params.cid}`)
    reply.header('x-ipfs-roots', cidString(cid))
    reply.header('cache-control', IMMUTABLE)
    if (!await isLocal(store, cid)) {
      await refuseDeleted(store, cid)
      if (swarm != null && format.kind === 'file' && isPlainGet(request)) {
        if (await streamWhileFetching(swarm, cid, request, reply)) return reply
      } else if (swarm != null) {
        await swarm.fetchForRead(cid, { signal: abortOf(reply) })
      }
    } else {
      swarm?.touch(cidString(cid))
    }
    // a blob this node may not show is answered as one it lacks and no peer has: a hash confirms nothing
    const notHeld = (): FdnError => swarm?.absent(cid) ?? new FdnError('not_found', `${cidString(cid)} is not held by this node`)
    if (format.kind === 'raw') return await sendRaw(store, cid, request, reply, notHeld)
    if (format.kind === 'car') return await sendCar(store, cid, format.car, request, reply, notHeld)
    return await sendFile(store, cid, request, reply, notHeld)
  }
  app.route({ method: ['GET', 'HEAD'], url: '/ipfs/:cid', handler })
  app.route({ method: ['GET', 'HEAD'], url: '/ipfs/:cid/*', handler })
}

/** A blob its ActivityPub owner deleted is not fetched back from the swarm: 410, so caches drop it too. */
async function refuseDeleted (store: MediaStore, cid: CID): Promise<void> {
  if (await store.db.get('gone', goneBlobKey(cidString(cid))) != null) throw new FdnError('gone', `${cidString(cid)} was deleted by its owner`)
}

/** Whether the node has this root: the index's cached blob record answers the hot path without touching the disk. */
async function isLocal (store: MediaStore, cid: CID): Promise<boolean> {
  return await store.stat(cid) != null || await store.hasBlock(cid)
}

/** A whole-file GET with nothing conditional: the only request answered while the blob is still arriving. */
function isPlainGet (request: FastifyRequest): boolean {
  return request.method === 'GET' && request.headers.range == null && request.headers['if-none-match'] == null
}

/**
 * Answers a GET of a blob the node lacks as its bytes arrive from the swarm
 * (the media type sniffed from the first piece, no Content-Length). When a
 * fetch of it is already running, or it completes before a first piece is
 * seen, resolves false: the blob is local by then and is served as usual.
 * A client that goes away does not stop the fetch: the blob is still cached.
 */
async function streamWhileFetching (swarm: SwarmReads, cid: CID, request: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply): Promise<boolean> {
  const body = new PassThrough()
  let first: ((chunk: Uint8Array | undefined) => void) | undefined
  let fail: ((err: unknown) => void) | undefined
  const firstPiece = new Promise<Uint8Array | undefined>((resolve, reject) => { first = resolve; fail = reject })
  const onBytes = async (chunk: Uint8Array): Promise<void> => {
    first?.(chunk)
    first = undefined
    fail = undefined
    if (body.destroyed) return
    if (!body.write(chunk)) await new Promise<void>(resolve => { body.once('drain', resolve); body.once('close', resolve) })
  }
  swarm.fetchForRead(cid, { onBytes }).then(
    () => { first?.(undefined); body.end() },
    (err: unknown) => {
      // before the first piece nothing reads the body yet: the error is the answer; after it, the response is cut
      if (fail != null) {
        fail(err)
        body.destroy()
      } else {
        body.destroy(err as Error)
      }
    }
  )
  const piece = await firstPiece
  if (piece === undefined) return false
  const etag = `"${cidString(cid)}"`
  reply.header('etag', etag)
  setFileType(reply, await detectMediaType(piece.subarray(0, SNIFF_BYTES)), request.query.filename, request.query.download === 'true')
  // not awaited: a reply is a thenable that resolves to nothing once sent, which read as "not streamed"
  void reply.send(body)
  return true
}

/** What the gateway answers for a CID it does not show: the same whether it never held it or holds it privately. */
type NotHeld = () => FdnError

/**
 * A blob whose references are all private (a suspended account's media made
 * private by its instance, parts of unfinished uploads) is not served by
 * hash, nor is any block of it (unless a public blob shares that block). It
 * is answered exactly as a CID the node never held, so a hash does not even
 * confirm that the file exists.
 */
async function requirePublic (store: MediaStore, cid: CID, notHeld: NotHeld): Promise<void> {
  if (!await store.hasBlock(cid) || !await publiclyReadable(store, cid)) throw notHeld()
}

/** Files have no paths below them; a path is still checked, so a malformed one is a 400, not a 404. */
function checkPath (cid: CID, path: string | undefined): void {
  if (path == null || path === '') return
  const segments = path.split('/')
  if (segments.some(segment => segment === '..' || segment === '.' || segment.includes('\0'))) {
    throw new FdnError('invalid_path', `path '/${path}' is not a valid content path`)
  }
  throw new FdnError('not_found', `${cidString(cid)} is a file: it has no path '/${path}'`)
}

async function sendFile (store: MediaStore, cid: CID, request: FastifyRequest<{ Querystring: Query }>, reply: FastifyReply, notHeld: NotHeld): Promise<unknown> {
  const blob = await store.stat(cid)
  if (blob == null || blob.publicRefs === 0) throw notHeld()
  const etag = `"${cidString(cid)}"`
  reply.header('etag', etag)
  setFileType(reply, blob.mediaType, request.query.filename, request.query.download === 'true')
  if (matchesIfNoneMatch(request.headers['if-none-match'], etag)) return await reply.code(304).send()
  const range = pickRange(reply, request.headers.range, blob.size)
  reply.header('accept-ranges', 'bytes')
  return await sendBytes(reply, request, range, blob.size, async () => {
    // a file of one raw block is answered from one buffer: the hot path of small media
    if (cid.code === RAW_CODEC) return bufferView(await store.block(cid), range)
    return Readable.from(store.read(cid, range, abortOf(reply)), { objectMode: false })
  })
}

async function sendRaw (store: MediaStore, cid: CID, request: FastifyRequest, reply: FastifyReply, notHeld: NotHeld): Promise<unknown> {
  await requirePublic(store, cid, notHeld)
  const etag = `"${cidString(cid)}.raw"`
  reply.header('etag', etag)
  reply.header('content-type', RAW_TYPE)
  reply.header('content-disposition', contentDisposition('attachment', `${cidString(cid)}.bin`))
  if (matchesIfNoneMatch(request.headers['if-none-match'], etag)) return await reply.code(304).send()
  const bytes = await store.block(cid, abortOf(reply))
  const range = pickRange(reply, request.headers.range, bytes.length)
  reply.header('accept-ranges', 'bytes')
  return await sendBytes(reply, request, range, bytes.length, async () => bufferView(bytes, range))
}

async function sendCar (store: MediaStore, cid: CID, car: CarOptions, request: FastifyRequest, reply: FastifyReply, notHeld: NotHeld): Promise<unknown> {
  await requirePublic(store, cid, notHeld)
  const etag = `"${cidString(cid)}.car.${car.scope}.dfs.${car.dups ? 'y' : 'n'}"`
  reply.header('etag', etag)
  reply.header('content-type', carContentType(car))
  reply.header('content-disposition', contentDisposition('attachment', `${cidString(cid)}.car`))
  if (matchesIfNoneMatch(request.headers['if-none-match'], etag)) return await reply.code(304).send()
  if (request.method === 'HEAD') return await reply.send()
  const blocks = car.scope === 'block'
    ? (async function * () { yield { cid, bytes: await store.block(cid) } })()
    : store.dagBlocks(cid, { dups: car.dups, signal: abortOf(reply) })
  return await reply.send(Readable.from(carStream(cid, blocks), { objectMode: false }))
}

/** The single range asked for, or the whole body. Several ranges get the whole body, as RFC 9110 allows. */
export function pickRange (reply: FastifyReply, header: string | undefined, size: number): ByteRange & { partial: boolean } {
  const whole = { start: 0, end: size, partial: false }
  if (header == null) return whole
  // RFC 9110 §14.1.2: a suffix longer than the body means the whole body (range-parser says 416)
  const suffix = /^\s*bytes=-(\d+)\s*$/.exec(header)
  const asked = suffix != null && size > 0 && Number(suffix[1]) > size ? `bytes=0-${size - 1}` : header
  const ranges = parseRange(size, asked, { combine: true })
  if (ranges === -2) return whole
  if (ranges === -1 || ranges.type !== 'bytes') {
    reply.header('content-range', `bytes */${size}`)
    throw new FdnError('invalid_range', `range '${header}' is outside the ${size} byte body`)
  }
  const [first] = ranges
  if (ranges.length !== 1 || first == null) return whole
  return { start: first.start, end: first.end + 1, partial: true }
}

export async function sendBytes (
  reply: FastifyReply,
  request: FastifyRequest,
  range: ByteRange & { partial: boolean },
  size: number,
  body: () => Promise<Buffer | Readable>
): Promise<unknown> {
  if (range.partial) {
    reply.code(206)
    reply.header('content-range', `bytes ${range.start}-${range.end - 1}/${size}`)
  }
  reply.header('content-length', range.end - range.start)
  if (request.method === 'HEAD') return await reply.send()
  return await reply.send(await body())
}

/** A Buffer over part of a block without copying it: the block may sit in the verified cache and is never written to. */
function bufferView (bytes: Uint8Array, range: ByteRange): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset + range.start, range.end - range.start)
}

/** Aborted when the client goes away before the response is complete, so block reads stop. */
export function abortOf (reply: FastifyReply): AbortSignal {
  const controller = new AbortController()
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) controller.abort() })
  return controller.signal
}
