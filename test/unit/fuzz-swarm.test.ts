// Fuzzing what a node reads from its swarm peers: the messages of its libp2p
// protocols (protocol/swarm-wire.ts), the signed records inside them and the
// manifests recovered from peers (protocol/swarm-records.ts), and the UnixFS
// file nodes of a DAG a peer sends (protocol/unixfs-file.ts). Encoded then
// decoded is the identity; a changed byte is refused (malformed, or a
// signature that no longer verifies) unless it changes nothing; junk is a
// typed FdnError, never another exception.
import { before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { UnixFS } from 'ipfs-unixfs'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { cidString } from '../../protocol/cid.ts'
import type { CidString } from '../../protocol/cid.ts'
import { DAG_PB_CODEC, RAW_CODEC, SHA2_256 } from '../../protocol/cid-profile.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { ErrorCode } from '../../protocol/errors.ts'
import { decodeManifest, encodeManifest, MAX_PARTS, MAX_REPLICAS, signRecord, verifyRecord } from '../../protocol/swarm-records.ts'
import type { Attestation, Deletion, Manifest, ManifestObject, Release, Signed, SwarmRecord } from '../../protocol/swarm-records.ts'
import {
  decodeDeleteRequest, decodeDeleteResponse, decodeFindRequest, decodeFindResponse, decodeRecoverRequest, decodeRecoverResponse,
  decodeReplicateRequest, decodeReplicateResponse, encodeMessage, REFUSAL_CODES
} from '../../protocol/swarm-wire.ts'
import type { SwarmMessage } from '../../protocol/swarm-wire.ts'
import { decodeFileNode, encodeFileNode } from '../../protocol/unixfs-file.ts'
import { applyByteEdits, assertTyped, byteEdits, FUZZ_SEED, fc, fuzz, fuzzAsync, junkJson, mutateBytes, mutateJson, refusedOr, refusedOrAsync } from '../helpers/fuzz.ts'
import type { ByteEdit } from '../helpers/fuzz.ts'

/** What a malformed message or record must be refused with. */
function isWireRefusal (err: unknown, codes: readonly ErrorCode[] = ['invalid_request']): void {
  assertTyped(err, FdnError, 'a typed refusal')
  assert.ok(codes.includes(err.code), `${err.code}: ${err.message}`)
}

let keys: Ed25519PrivateKey[] = []
let origins: string[] = []
before(async () => {
  keys = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
  origins = keys.map((k) => peerIdFromPrivateKey(k).toString())
})

// ---------------------------------------------------------------------------
// Valid records and messages

const digestArb = fc.uint8Array({ minLength: 32, maxLength: 32 })
const cidArb: fc.Arbitrary<CidString> = fc.tuple(fc.constantFrom(RAW_CODEC, DAG_PB_CODEC), digestArb)
  .map(([codec, d]) => cidString(CID.createV1(codec, Digest.create(SHA2_256, d))))
const timeArb = fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(9999, 11, 31) }).chain((ms) => fc.constantFrom(
  new Date(ms).toISOString(),
  new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z'),
  new Date(ms).toISOString().replace(/:\d\d\.\d{3}Z$/, '+00:00')
))
const tenantArb = fc.stringMatching(/^[a-z0-9][a-z0-9-]{1,20}[a-z0-9]$/).filter((t) => !t.startsWith('xn--') && !['ipfs', 'api', 'actor', 'inbox', 'nodeinfo', 'healthz', 'readyz'].includes(t))
const printable = (min: number, max: number): fc.Arbitrary<string> => fc.string({ unit: fc.constantFrom(...' !"#$%&\'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~'), minLength: min, maxLength: max })
const textArb = (max: number): fc.Arbitrary<string> => fc.string({ unit: fc.oneof(fc.constantFrom('a', ' ', '"', '\\', '\n', '\u2028', 'é', '😀', '\u0000'), fc.string({ unit: 'binary', minLength: 1, maxLength: 1 })), maxLength: max })
/** Which of the two keys signs; the origin is that key's peer id. */
const signerArb = fc.integer({ min: 0, max: 1 })

type Unsigned<T> = (origin: string) => T

/** As JSON.parse makes objects (fc.dictionary's have no prototype, and may hold __proto__ as a key). */
const plain = <T>(arb: fc.Arbitrary<Record<string, T>>): fc.Arbitrary<Record<string, T>> =>
  arb.map((d) => JSON.parse(JSON.stringify(d)) as Record<string, T>)

const attestationArb: fc.Arbitrary<Unsigned<Attestation>> = fc.record({
  raw: fc.boolean(),
  digest: digestArb,
  size: fc.oneof(fc.nat(), fc.constant(Number.MAX_SAFE_INTEGER)),
  mediaType: printable(1, 40),
  public: fc.boolean(),
  replicas: fc.integer({ min: 1, max: MAX_REPLICAS }),
  manifest: fc.option(fc.tuple(tenantArb, fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER })), { nil: undefined }),
  time: timeArb
}).map((a) => (origin: string): Attestation => ({
  type: 'fdn/attestation',
  v: 1,
  // a raw CID is the blob's own SHA-256
  cid: cidString(CID.createV1(a.raw ? RAW_CODEC : DAG_PB_CODEC, Digest.create(SHA2_256, a.digest))),
  size: a.size,
  sha256: Buffer.from(a.raw ? a.digest : createHash('sha256').update(a.digest).digest()).toString('hex'),
  mediaType: a.mediaType,
  public: a.public,
  replicas: a.replicas,
  kind: a.manifest === undefined ? 'blob' : 'manifest',
  ...(a.manifest === undefined ? {} : { tenant: a.manifest[0], version: a.manifest[1] }),
  origin,
  time: a.time
}))

const releaseArb: fc.Arbitrary<Unsigned<Release>> = fc.record({ cid: cidArb, time: timeArb })
  .map((r) => (origin: string): Release => ({ type: 'fdn/release', v: 1, cid: r.cid, origin, time: r.time }))

const deletionArb: fc.Arbitrary<Unsigned<Deletion>> = fc.record({
  scheme: fc.constantFrom('http' as const, 'https' as const),
  url: fc.string({ maxLength: 40 }).map((p) => `/${p}`),
  headers: plain(fc.dictionary(fc.stringMatching(/^[a-z0-9-]{1,20}$/), textArb(60).filter((v) => v.isWellFormed()), { maxKeys: 3 })),
  body: fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b).toString('base64')),
  cids: fc.array(cidArb, { maxLength: 2 }),
  time: timeArb
}).map((d) => (origin: string): Deletion => ({
  type: 'fdn/deletion', v: 1, origin, time: d.time, request: { method: 'POST', scheme: d.scheme, url: d.url, headers: d.headers, body: d.body }, cids: d.cids
}))

const manifestObjectArb: fc.Arbitrary<ManifestObject> = fc.record({
  key: textArb(30).filter((k) => k !== '' && !k.includes('\0') && k.isWellFormed()),
  cid: cidArb,
  size: fc.nat(),
  contentType: printable(1, 30),
  acl: fc.constantFrom('public-read' as const, 'private' as const),
  etag: fc.stringMatching(/^[0-9a-f]{32}(-[1-9][0-9]{0,3})?$/),
  mtime: timeArb,
  meta: plain(fc.dictionary(textArb(10).filter((n) => n !== '' && n.isWellFormed()), textArb(20).filter((v) => v.isWellFormed()), { maxKeys: 3 })),
  headers: fc.option(plain(fc.dictionary(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/), printable(0, 30), { maxKeys: 3 })), { nil: undefined }),
  parts: fc.option(fc.integer({ min: 1, max: MAX_PARTS }), { nil: undefined })
}).map((o) => {
  const { headers, parts, ...rest } = o
  return { ...rest, ...(headers === undefined ? {} : { headers }), ...(parts === undefined ? {} : { parts }) }
})

const manifestArb: fc.Arbitrary<Unsigned<Manifest>> = fc.record({
  tenant: tenantArb,
  version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
  time: timeArb,
  tenantRecord: plain(fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 })),
  objects: fc.uniqueArray(manifestObjectArb, { maxLength: 2, selector: (o) => o.key })
}).map((m) => (origin: string): Manifest => ({ type: 'fdn/manifest', v: 1, origin, ...m }))

/** A signed record as it travels: inside a message, or a manifest as the blob a peer returns. */
type SignedMessage =
  | { kind: 'hold', payload: Unsigned<Attestation> }
  | { kind: 'release', payload: Unsigned<Release> }
  | { kind: 'deletion', payload: Unsigned<Deletion> }
  | { kind: 'manifest', payload: Unsigned<Manifest> }
const signedMessageArb: fc.Arbitrary<SignedMessage> = fc.oneof(
  fc.record({ kind: fc.constant('hold' as const), payload: attestationArb }),
  fc.record({ kind: fc.constant('release' as const), payload: releaseArb }),
  fc.record({ kind: fc.constant('deletion' as const), payload: deletionArb }),
  fc.record({ kind: fc.constant('manifest' as const), payload: manifestArb })
)

/** What was sent: its bytes, the record they carry, and how the receiver reads them back (shape only: verifyRecord checks the rest). */
interface Sent { bytes: Uint8Array, record: Signed<SwarmRecord>, type: SwarmRecord['type'], decode: (bytes: Uint8Array) => unknown }

async function send (m: SignedMessage, signer: number): Promise<Sent> {
  const key = keys[signer]!
  const origin = origins[signer]!
  switch (m.kind) {
    case 'hold': {
      const record = await signRecord(key, m.payload(origin))
      return { bytes: encodeMessage({ op: 'hold', attestation: record }), record, type: 'fdn/attestation', decode: (b) => { const r = decodeReplicateRequest(b); return r.op === 'hold' ? r.attestation : r } }
    }
    case 'release': {
      const record = await signRecord(key, m.payload(origin))
      return { bytes: encodeMessage({ op: 'release', release: record }), record, type: 'fdn/release', decode: (b) => { const r = decodeReplicateRequest(b); return r.op === 'release' ? r.release : r } }
    }
    case 'deletion': {
      const record = await signRecord(key, m.payload(origin))
      return { bytes: encodeMessage({ op: 'deletion', record }), record, type: 'fdn/deletion', decode: (b) => decodeDeleteRequest(b).record }
    }
    case 'manifest': {
      const record = await signRecord(key, m.payload(origin))
      return { bytes: encodeManifest(record), record, type: 'fdn/manifest', decode: decodeManifest }
    }
  }
}

/** Received bytes as the receiver takes them: the record, verified, or a typed refusal (undefined). */
async function receive (sent: Sent, bytes: Uint8Array): Promise<unknown> {
  const record = refusedOr(() => sent.decode(bytes), (err) => isWireRefusal(err, ['invalid_request', 'too_large']))
  if (record === undefined) return undefined
  return await refusedOrAsync(() => verifyRecord(record, { type: sent.type, origin: sent.record.payload.origin }), (err) => isWireRefusal(err, ['invalid_request', 'forbidden']))
}

/** Messages without signatures, with the decoder each goes through. */
const plainMessageArb: fc.Arbitrary<[SwarmMessage, (bytes: Uint8Array) => unknown]> = fc.oneof(
  fc.array(cidArb, { maxLength: 20 }).map((cids): [SwarmMessage, (b: Uint8Array) => unknown] => [{ op: 'check', cids }, decodeReplicateRequest]),
  fc.option(fc.array(cidArb, { maxLength: 20 }), { nil: undefined }).map((held): [SwarmMessage, (b: Uint8Array) => unknown] => [held === undefined ? { ok: true } : { ok: true, held }, decodeReplicateResponse]),
  fc.record({ ok: fc.constant(false as const), code: fc.constantFrom(...REFUSAL_CODES), message: textArb(40).filter((t) => t.isWellFormed()) }).chain((r) =>
    fc.constantFrom<Array<[SwarmMessage, (b: Uint8Array) => unknown]>>([r, decodeReplicateResponse], [r, decodeRecoverResponse], [r, decodeFindResponse], [r, decodeDeleteResponse])),
  fc.constant<[SwarmMessage, (b: Uint8Array) => unknown]>([{ op: 'manifests' }, decodeRecoverRequest]),
  fc.array(fc.record({ tenant: tenantArb, version: fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }), cid: cidArb }), { maxLength: 5 })
    .map((manifests): [SwarmMessage, (b: Uint8Array) => unknown] => [{ ok: true, manifests }, decodeRecoverResponse]),
  fc.oneof(cidArb.map((cid) => ({ op: 'find' as const, cid })), fc.stringMatching(/^[0-9a-f]{64}$/).map((sha256) => ({ op: 'find' as const, sha256 })))
    .map((m): [SwarmMessage, (b: Uint8Array) => unknown] => [m, decodeFindRequest]),
  fc.option(cidArb, { nil: undefined }).map((cid): [SwarmMessage, (b: Uint8Array) => unknown] => [cid === undefined ? { ok: true } : { ok: true, cid }, decodeFindResponse]),
  fc.boolean().map((applied): [SwarmMessage, (b: Uint8Array) => unknown] => [{ ok: true, applied }, decodeDeleteResponse])
)

const DECODERS = [decodeReplicateRequest, decodeReplicateResponse, decodeRecoverRequest, decodeRecoverResponse, decodeFindRequest, decodeFindResponse, decodeDeleteRequest, decodeDeleteResponse]
const encode = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value))

// ---------------------------------------------------------------------------

describe('fuzz swarm messages and records', () => {
  it('signed records (attestations, releases, deletions in their messages; manifests as blobs): sent, received and verified, they are what was signed', async () => {
    await fuzzAsync(fc.tuple(signedMessageArb, signerArb), async ([m, signer]) => {
      const sent = await send(m, signer)
      const record = sent.decode(sent.bytes)
      assert.deepEqual(record, sent.record)
      assert.deepEqual(await verifyRecord(record, { type: sent.type, origin: origins[signer] }), sent.record.payload)
    })
  })

  it('messages without signatures: decode(encode(m)) is m', () => {
    fuzz(plainMessageArb, ([message, decode]) => {
      // compared with what JSON carries (fast-check's records have no prototype)
      assert.deepEqual(decode(encodeMessage(message)), JSON.parse(JSON.stringify(message)))
    })
  })

  let pool: Sent[] = []
  before(async () => {
    // signed once, changed many times
    pool = []
    for (const [m, signer] of fc.sample(fc.tuple(signedMessageArb, signerArb), { seed: FUZZ_SEED, numRuns: 64 })) pool.push(await send(m, signer))
  })

  it('a changed byte of a signed record is refused as malformed or as a bad signature, unless the record is unchanged', async () => {
    await fuzzAsync(fc.tuple(fc.nat({ max: 63 }), byteEdits(2)), async ([i, edits]) => {
      const sent = pool[i]!
      const payload = await receive(sent, applyByteEdits(sent.bytes, edits))
      if (payload !== undefined) assert.deepEqual(payload, sent.record.payload)
    })
  })

  it('structurally changed signed records are refused, or verify only as what was signed', async () => {
    // one arbitrary per record, made once (not once per case)
    const changes = pool.map((sent, i) => fc.tuple(fc.constant(i), mutateJson(fc.constant(JSON.parse(new TextDecoder().decode(sent.bytes)) as unknown), 2)))
    const arb = fc.nat({ max: pool.length - 1 }).chain((i) => changes[i]!)
    await fuzzAsync(arb, async ([i, value]) => {
      const sent = pool[i]!
      const payload = await receive(sent, encode(value))
      if (payload !== undefined) assert.deepEqual(payload, sent.record.payload)
    })
  })

  it('every decoder refuses junk, mangled JSON and changed messages with invalid_request, never another error', () => {
    const bytes = fc.oneof(
      fc.uint8Array({ maxLength: 80 }),
      junkJson.map(encode),
      plainMessageArb.chain(([message]) => fc.oneof(
        mutateBytes(fc.constant(encodeMessage(message)), 3),
        mutateJson(fc.constant(JSON.parse(JSON.stringify(message)) as unknown), 2).map(encode)
      )),
      fc.constantFrom('{"op":"check","cids":' + '['.repeat(10_000) + ']'.repeat(10_000) + '}', '{"__proto__":{"op":"manifests"}}', '{"op":"manifests","constructor":1}', '\ufeff{"op":"manifests"}', '{"ok":true,"ok":false}')
        .map((t) => new TextEncoder().encode(t))
    )
    fuzz(fc.tuple(bytes, fc.constantFrom(...DECODERS)), ([b, decode]) => {
      refusedOr(() => decode(b), (err) => isWireRefusal(err))
    })
  })

  it('UnixFS file nodes: encoded children decode back, in the bytes ipfs-unixfs writes; any other block is corrupt_block or not_found', () => {
    // sizes around 2^31 and 2^32, where 32-bit arithmetic breaks (ipfs-unixfs's writer garbled 2^31 to 2^32 - 1)
    const sizeArb = fc.oneof(fc.integer({ min: 1, max: 2 ** 40 }), fc.constantFrom(2 ** 30, 2 ** 31 - 1, 2 ** 31, 2 ** 31 + 1, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1))
    const linksArb = fc.array(fc.record({ cid: fc.tuple(fc.constantFrom(RAW_CODEC, DAG_PB_CODEC), digestArb).map(([codec, d]) => CID.createV1(codec, Digest.create(SHA2_256, d))), fileSize: sizeArb, dagSize: fc.nat() }), { maxLength: 6 })
      .filter((links) => links.reduce((sum, l) => sum + l.fileSize, 0) <= Number.MAX_SAFE_INTEGER)
    fuzz(linksArb, (links) => {
      const block = encodeFileNode(links)
      const children = decodeFileNode(block)
      assert.equal(children.length, links.length)
      children.forEach((c, i) => { assert.ok(c.cid.equals(links[i]!.cid)); assert.equal(c.fileSize, links[i]!.fileSize) })
      const data = UnixFS.unmarshal(dagPb.decode(block).Data!)
      assert.equal(data.fileSize(), BigInt(links.reduce((sum, l) => sum + l.fileSize, 0)))
      if (links.reduce((sum, l) => sum + l.fileSize, 0) < 2 ** 31) {
        const reference = new UnixFS({ type: 'file' })
        for (const l of links) reference.addBlockSize(BigInt(l.fileSize))
        assert.deepEqual(dagPb.decode(block).Data, reference.marshal())
      }
    })
    fuzz(fc.oneof(mutateBytes(linksArb.map(encodeFileNode), 3), fc.uint8Array({ maxLength: 64 })), (block) => {
      const children = refusedOr(() => decodeFileNode(block), (err) => isWireRefusal(err, ['corrupt_block', 'not_found']))
      // a peer may claim any uint64: the fetch compares the total with its limits
      if (children !== undefined) for (const c of children) assert.ok(c.fileSize >= 0, `fileSize ${c.fileSize}`)
    })
  })
})
