// The synthetic fediverse of `npm run simulate`: posts on origin servers, each
// with 1–4 attachments of realistic sizes. Everything follows from the seed:
// the sizes, the bytes (an AES-CTR keystream keyed by seed and index, so every
// file is distinct and incompressible), the delivery order.
import { createCipheriv, createHash } from 'node:crypto'
import { digestMultibaseOf } from '../../protocol/retrieve-api.ts'
import { detectMediaType } from '../../node/ingest/media-type.ts'

/** A seeded PRNG (mulberry32): numbers in [0, 1). */
export type Rng = () => number

export function rng (seed: number): Rng {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A random integer in [0, n). */
export function pick (random: Rng, n: number): number {
  return Math.floor(random() * n)
}

/** Fisher–Yates, in place. */
export function shuffle<T> (random: Rng, items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = pick(random, i + 1)
    const swap = items[i]!
    items[i] = items[j]!
    items[j] = swap
  }
  return items
}

export interface Attachment {
  /** Path on its origin, e.g. `/media/7/2.jpg`. */
  path: string
  /** Full URL, once the origin's address is known. */
  url: string
  size: number
  mediaType: string
  sha256: string
  digestMultibase: string
  bytes: Buffer
}

export interface Post {
  index: number
  /** Which origin server published it. */
  origin: number
  /** Paths of the post and its author on the origin. */
  statusPath: string
  actorPath: string
  attachments: Attachment[]
}

const KB = 1000
const MB = 1000 * KB

/** Attachments per post: one most often, up to four. */
function attachmentCount (random: Rng): number {
  const r = random()
  return r < 0.5 ? 1 : r < 0.75 ? 2 : r < 0.9 ? 3 : 4
}

/** Log-uniform in [low, high): many small files, few large ones, as media sizes go. */
function logUniform (random: Rng, low: number, high: number): number {
  return Math.round(Math.exp(Math.log(low) + random() * (Math.log(high) - Math.log(low))))
}

type Kind = 'jpeg' | 'png' | 'webp' | 'mp4'

/** 90 %: an image of 50 KB–1 MB (JPEG, PNG or WebP); 10 %: a video of 1–4 MB. */
function attachmentShape (random: Rng): { kind: Kind, size: number } {
  if (random() < 0.9) {
    const r = random()
    return { kind: r < 0.6 ? 'jpeg' : r < 0.8 ? 'png' : 'webp', size: logUniform(random, 50 * KB, 1 * MB) }
  }
  return { kind: 'mp4', size: logUniform(random, 1 * MB, 4 * MB) }
}

const EXTENSION: Record<Kind, string> = { jpeg: 'jpg', png: 'png', webp: 'webp', mp4: 'mp4' }

/** `size` incompressible bytes determined by the seed and the attachment's number. */
function keystream (seed: number, index: number, size: number): Buffer {
  const key = createHash('sha256').update(`fdn-simulate:${seed}:${index}`).digest()
  const cipher = createCipheriv('aes-128-ctr', key.subarray(0, 16), key.subarray(16, 32))
  return Buffer.concat([cipher.update(Buffer.alloc(size)), cipher.final()])
}

/**
 * A file whose magic bytes are those of `kind` and whose rest is noise: what
 * the node's media type detection sees as a real image or video, distinct
 * from every other file.
 */
function mediaFile (kind: Kind, size: number, noise: Buffer): Buffer {
  const file = Buffer.from(noise.subarray(0, size))
  let head: Buffer
  if (kind === 'jpeg') {
    // SOI, APP0 JFIF 1.1; the file ends with EOI
    head = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x48, 0x00, 0x48, 0x00, 0x00])
    file[size - 2] = 0xff
    file[size - 1] = 0xd9
  } else if (kind === 'png') {
    // signature, an IHDR chunk, then one IDAT chunk over the rest (the CRCs are noise)
    const ihdr = Buffer.alloc(25)
    ihdr.writeUInt32BE(13, 0)
    ihdr.write('IHDR', 4, 'latin1')
    ihdr.writeUInt32BE(1024, 8) // width
    ihdr.writeUInt32BE(768, 12) // height
    ihdr[16] = 8 // bit depth
    ihdr[17] = 2 // truecolour
    const idat = Buffer.alloc(8)
    idat.writeUInt32BE(size - 8 - 25 - 12, 0)
    idat.write('IDAT', 4, 'latin1')
    head = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), ihdr, idat])
  } else if (kind === 'webp') {
    head = Buffer.alloc(16)
    head.write('RIFF', 0, 'latin1')
    head.writeUInt32LE(size - 8, 4)
    head.write('WEBPVP8 ', 8, 'latin1')
    head.writeUInt32LE(size - 20, 12)
  } else {
    // an ftyp box (isom), then one mdat box of noise
    const ftyp = Buffer.concat([Buffer.from([0, 0, 0, 0x20]), Buffer.from('ftypisom', 'latin1'), Buffer.from([0, 0, 2, 0]), Buffer.from('isomiso2avc1mp41', 'latin1')])
    const mdat = Buffer.alloc(8)
    mdat.writeUInt32BE(size - ftyp.length, 0)
    mdat.write('mdat', 4, 'latin1')
    head = Buffer.concat([ftyp, mdat])
  }
  head.copy(file, 0)
  return file
}

/**
 * `count` posts spread over `origins` origin servers. Attachment URLs are
 * filled in by `placePosts` once the origins listen.
 */
export async function makePosts (count: number, origins: number, seed: number): Promise<Post[]> {
  const random = rng(seed)
  const posts: Post[] = []
  let fileIndex = 0
  for (let index = 0; index < count; index++) {
    const origin = pick(random, origins)
    const user = `user${pick(random, 50)}`
    const attachments: Attachment[] = []
    const n = attachmentCount(random)
    for (let a = 0; a < n; a++) {
      const { kind, size } = attachmentShape(random)
      const bytes = mediaFile(kind, size, keystream(seed, fileIndex++, size))
      const mediaType = await detectMediaType(bytes.subarray(0, 4100))
      if (!/^(image|video|audio)\//.test(mediaType) || mediaType === 'image/svg+xml') {
        throw new Error(`synthetic ${kind} file detected as ${mediaType}: the node would refuse it`)
      }
      const sha256 = createHash('sha256').update(bytes).digest('hex')
      attachments.push({
        path: `/system/media/${index}/${a}.${EXTENSION[kind]}`,
        url: '',
        size,
        mediaType,
        sha256,
        digestMultibase: digestMultibaseOf(sha256),
        bytes
      })
    }
    posts.push({ index, origin, statusPath: `/users/${user}/statuses/${index}`, actorPath: `/users/${user}`, attachments })
  }
  return posts
}

/** Sum of the sizes of the distinct attachments. */
export function mediaBytesOf (posts: Post[]): number {
  const seen = new Map<string, number>()
  for (const post of posts) for (const attachment of post.attachments) seen.set(attachment.sha256, attachment.size)
  let total = 0
  for (const size of seen.values()) total += size
  return total
}
