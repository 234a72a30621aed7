import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import { base58btc } from 'multiformats/bases/base58'
import * as Digest from 'multiformats/hashes/digest'
import { cidString } from '../../protocol/cid.ts'
import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { ErrorCode } from '../../protocol/errors.ts'
import {
  MAX_MANIFEST_BYTES, RECORD_DOMAIN, decodeManifest, encodeManifest, recordSigningBytes, signRecord, verifyRecord
} from '../../protocol/swarm-records.ts'
import type { Attestation, Manifest, ManifestObject, Release, Signed, SwarmRecord } from '../../protocol/swarm-records.ts'

function sha256 (text: string): Uint8Array {
  return createHash('sha256').update(text).digest()
}
function rawCid (text: string): CidString {
  return cidString(CID.createV1(0x55, Digest.create(0x12, sha256(text))))
}
function dagPbCid (text: string): CidString {
  return cidString(CID.createV1(0x70, Digest.create(0x12, sha256(text))))
}

const NOW = Date.parse('2025-06-01T12:00:00.000Z')
const TIME = new Date(NOW).toISOString()

let keyA: Ed25519PrivateKey
let keyB: Ed25519PrivateKey
let originA: string
let originB: string

before(async () => {
  keyA = await generateKeyPair('Ed25519')
  keyB = await generateKeyPair('Ed25519')
  originA = peerIdFromPrivateKey(keyA).toString()
  originB = peerIdFromPrivateKey(keyB).toString()
})

function attestation (overrides: Partial<Attestation> = {}): Attestation {
  return {
    type: 'fdn/attestation',
    v: 1,
    cid: rawCid('hello'),
    size: 5,
    sha256: Buffer.from(sha256('hello')).toString('hex'),
    mediaType: 'text/plain',
    public: true,
    replicas: 2,
    kind: 'blob',
    origin: originA,
    time: TIME,
    ...overrides
  }
}

function release (overrides: Partial<Release> = {}): Release {
  return { type: 'fdn/release', v: 1, cid: rawCid('hello'), origin: originA, time: TIME, ...overrides }
}

function object (overrides: Partial<ManifestObject> = {}): ManifestObject {
  return {
    key: 'media/attachments/1.png',
    cid: dagPbCid('png'),
    size: 2_000_000,
    contentType: 'image/png',
    acl: 'public-read',
    etag: 'd41d8cd98f00b204e9800998ecf8427e',
    mtime: TIME,
    meta: { 'original-name': 'cat.png' },
    ...overrides
  }
}

function manifest (overrides: Partial<Manifest> = {}): Manifest {
  return {
    type: 'fdn/manifest',
    v: 1,
    origin: originA,
    tenant: 'social-example',
    version: 3,
    time: TIME,
    tenantRecord: { name: 'social-example', accessKeyId: 'AKIAEXAMPLE', secret: { v: 1, box: 'c2VhbGVk' }, quota: null, replicas: 2 },
    objects: [
      object({ headers: { cacheControl: 'max-age=31536000, immutable', contentDisposition: 'inline; filename="cat.png"' } }),
      object({ key: 'media/2.txt', cid: rawCid('two'), size: 3, contentType: 'text/plain', acl: 'private', etag: '0123456789abcdef0123456789abcdef-3', meta: {}, parts: 3 })
    ],
    ...overrides
  }
}

async function rejects (promise: Promise<unknown>, code: ErrorCode, pattern?: RegExp): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof FdnError, `expected an FdnError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (pattern != null) assert.match(err.message, pattern)
    return true
  })
}

/** A JSON round trip: what a peer receives. */
function wire<T> (value: T): T {
  return JSON.parse(JSON.stringify(value)) as T
}

/** The signed record with one payload field replaced (or removed when value is undefined), signature kept. */
function withPayload (signed: Signed<SwarmRecord>, field: string, value: unknown): unknown {
  const copy = wire(signed) as unknown as { payload: Record<string, unknown>, signature: string }
  if (value === undefined) delete copy.payload[field]
  else copy.payload[field] = value
  return copy
}

describe('signed records: sign and verify', () => {
  it('round-trips each record type, also through JSON', async () => {
    for (const payload of [attestation(), attestation({ kind: 'manifest', tenant: 'social-example', version: 7, public: false, cid: dagPbCid('m'), mediaType: 'application/json' }), release(), manifest()]) {
      const signed = await signRecord(keyA, payload)
      assert.match(signed.signature, /^[A-Za-z0-9_-]{86}$/)
      assert.deepEqual(await verifyRecord(signed, { type: payload.type }), payload)
      assert.deepEqual(await verifyRecord(wire(signed), { type: payload.type, origin: originA, maxAgeMs: 1000, now: NOW }), payload)
    }
  })

  it('refuses a tampered payload field', async () => {
    const signed = await signRecord(keyA, attestation())
    await rejects(verifyRecord(withPayload(signed, 'public', false), { type: 'fdn/attestation' }), 'forbidden')
    await rejects(verifyRecord(withPayload(signed, 'mediaType', 'text/html'), { type: 'fdn/attestation' }), 'forbidden')
    await rejects(verifyRecord(withPayload(signed, 'time', '2025-06-01T12:00:01.000Z'), { type: 'fdn/attestation' }), 'forbidden')
    const m = await signRecord(keyA, manifest())
    const tampered = wire(m)
    tampered.payload.objects[0]!.acl = 'private'
    await rejects(verifyRecord(tampered, { type: 'fdn/manifest' }), 'forbidden')
    const extended = wire(m)
    extended.payload.tenantRecord.quota = 1
    await rejects(verifyRecord(extended, { type: 'fdn/manifest' }), 'forbidden')
  })

  it('refuses a tampered signature', async () => {
    const signed = await signRecord(keyA, release())
    const bytes = Buffer.from(signed.signature, 'base64url')
    bytes[10]! ^= 0x01
    await rejects(verifyRecord({ ...signed, signature: bytes.toString('base64url') }, { type: 'fdn/release' }), 'forbidden')
    // another record's valid signature
    const other = await signRecord(keyA, release({ cid: rawCid('other') }))
    await rejects(verifyRecord({ ...signed, signature: other.signature }, { type: 'fdn/release' }), 'forbidden')
  })

  it('refuses a signature by another key whose origin claims the first', async () => {
    const payload = attestation({ origin: originA })
    const forged = Buffer.from(await keyB.sign(recordSigningBytes(payload))).toString('base64url')
    await rejects(verifyRecord({ payload, signature: forged }, { type: 'fdn/attestation' }), 'forbidden')
    await rejects(verifyRecord({ payload, signature: forged }, { type: 'fdn/attestation', origin: originA }), 'forbidden')
  })

  it('will not sign a record whose origin is not the key', async () => {
    await rejects(signRecord(keyB, attestation({ origin: originA })), 'invalid_request', /origin/)
    await rejects(signRecord(keyA, attestation({ size: -1 })), 'invalid_request')
  })

  it('refuses a record of another type than expected', async () => {
    const signed = await signRecord(keyA, release())
    await rejects(verifyRecord(signed, { type: 'fdn/attestation' }), 'invalid_request', /fdn\/release/)
    await rejects(verifyRecord(signed, { type: 'fdn/manifest' }), 'invalid_request')
  })

  it('checks expect.origin', async () => {
    const signed = await signRecord(keyA, release())
    assert.equal((await verifyRecord(signed, { type: 'fdn/release', origin: originA })).origin, originA)
    await rejects(verifyRecord(signed, { type: 'fdn/release', origin: originB }), 'forbidden', /expected/)
  })

  it('bounds |now - time| by maxAgeMs', async () => {
    const signed = await signRecord(keyA, release())
    const minute = 60_000
    assert.ok(await verifyRecord(signed, { type: 'fdn/release', maxAgeMs: minute, now: NOW + minute }))
    assert.ok(await verifyRecord(signed, { type: 'fdn/release', maxAgeMs: minute, now: NOW - minute }))
    await rejects(verifyRecord(signed, { type: 'fdn/release', maxAgeMs: minute, now: NOW + minute + 1 }), 'forbidden', /ms/)
    await rejects(verifyRecord(signed, { type: 'fdn/release', maxAgeMs: minute, now: NOW - minute - 1 }), 'forbidden', /ms/)
    // the default "now" is the clock: a record from 2025 is too old for a one-minute window today
    await rejects(verifyRecord(signed, { type: 'fdn/release', maxAgeMs: minute }), 'forbidden')
    // time zone offsets are honoured
    const offset = await signRecord(keyA, release({ time: '2025-06-01T14:00+02:00' }))
    assert.ok(await verifyRecord(offset, { type: 'fdn/release', maxAgeMs: 0, now: NOW }))
  })

  it('refuses extra fields in the payload and in the envelope', async () => {
    const signed = await signRecord(keyA, attestation())
    await rejects(verifyRecord(withPayload(signed, 'note', 'hi'), { type: 'fdn/attestation' }), 'invalid_request', /unknown field/)
    await rejects(verifyRecord({ ...signed, keyId: 'x' }, { type: 'fdn/attestation' }), 'invalid_request', /unknown field/)
    const m = wire(await signRecord(keyA, manifest()))
    ;(m.payload.objects[0] as unknown as Record<string, unknown>).owner = 'x'
    await rejects(verifyRecord(m, { type: 'fdn/manifest' }), 'invalid_request', /unknown field/)
    // an extra field signed by the origin is still refused (a signature cannot make a record well-formed)
    const payload = { ...release(), extra: 1 } as unknown as Release
    const signature = Buffer.from(await keyA.sign(recordSigningBytes(payload))).toString('base64url')
    await rejects(verifyRecord({ payload, signature }, { type: 'fdn/release' }), 'invalid_request')
  })

  it('refuses malformed envelopes and signatures', async () => {
    const signed = await signRecord(keyA, release())
    for (const bad of [null, 'x', 42, [], [signed], { payload: signed.payload }, { signature: signed.signature }]) {
      await rejects(verifyRecord(bad, { type: 'fdn/release' }), 'invalid_request')
    }
    const sig = signed.signature
    for (const signature of [sig.slice(1), `${sig}A`, `${sig}==`, `+${sig.slice(1)}`, `/${sig.slice(1)}`, 42, null, Buffer.from(sig, 'base64url').toString('base64'), '']) {
      await rejects(verifyRecord({ payload: signed.payload, signature }, { type: 'fdn/release' }), 'invalid_request')
    }
    // 86 characters whose last one carries bits beyond 64 bytes: not canonical
    const last = sig.at(-1)!
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    assert.equal(alphabet.indexOf(last) & 0x0f, 0)
    const noncanonical = alphabet[alphabet.indexOf(last) | 0x01]!
    await rejects(verifyRecord({ payload: signed.payload, signature: sig.slice(0, -1) + noncanonical }, { type: 'fdn/release' }), 'invalid_request', /canonical/)
  })

  describe('refuses malformed attestation fields', () => {
    const long = 'b' + 'a'.repeat(200)
    const cases: Array<[string, string, unknown]> = [
      ['type missing', 'type', undefined],
      ['v 2', 'v', 2],
      ['v "1"', 'v', '1'],
      ['cid missing', 'cid', undefined],
      ['cid garbage', 'cid', 'not-a-cid'],
      ['cid over 128 characters', 'cid', long],
      ['cid as CIDv0', 'cid', 'QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG'],
      ['cid in upper-case base32', 'cid', rawCid('hello').toUpperCase()],
      ['cid of an unsupported codec', 'cid', cidString(CID.createV1(0x71, Digest.create(0x12, sha256('x'))))],
      ['cid a number', 'cid', 5],
      ['size negative', 'size', -1],
      ['size fractional', 'size', 1.5],
      ['size unsafe', 'size', 2 ** 53],
      ['size a string', 'size', '5'],
      ['size NaN-ish null', 'size', null],
      ['sha256 upper case', 'sha256', 'A'.repeat(64)],
      ['sha256 short', 'sha256', 'a'.repeat(63)],
      ['sha256 not hex', 'sha256', 'g'.repeat(64)],
      ['sha256 disagreeing with the raw CID', 'sha256', 'a'.repeat(64)],
      ['mediaType empty', 'mediaType', ''],
      ['mediaType over 255', 'mediaType', `text/${'x'.repeat(251)}`],
      ['mediaType with a newline', 'mediaType', 'text/plain\r\nX-Evil: 1'],
      ['mediaType a number', 'mediaType', 1],
      ['public a string', 'public', 'yes'],
      ['public missing', 'public', undefined],
      ['replicas missing', 'replicas', undefined],
      ['replicas 0', 'replicas', 0],
      ['replicas 17', 'replicas', 17],
      ['replicas fractional', 'replicas', 1.5],
      ['replicas a string', 'replicas', '2'],
      ['kind unknown', 'kind', 'tree'],
      ['kind manifest without tenant/version', 'kind', 'manifest'],
      ['tenant on a blob', 'tenant', 'social-example'],
      ['version on a blob', 'version', 1],
      ['origin not a peer id', 'origin', 'alice'],
      ['origin empty', 'origin', ''],
      ['origin a number', 'origin', 1],
      ['time not a date', 'time', 'yesterday'],
      ['time impossible', 'time', '2025-13-45T00:00:00Z'],
      ['time without a zone', 'time', '2025-06-01T12:00:00'],
      ['time a date only', 'time', '2025-06-01'],
      ['time a number', 'time', NOW],
      ['time on 30 February', 'time', '2025-02-30T12:00:00Z'],
      ['time at 24:00', 'time', '2025-06-01T24:00:00Z'],
      ['time with seconds 60', 'time', '2025-06-01T12:00:60Z'],
      ['time with a zone of +25:00', 'time', '2025-06-01T12:00:00+25:00'],
      ['time with a space', 'time', '2025-06-01 12:00:00Z']
    ]
    for (const [name, field, value] of cases) {
      it(name, async () => {
        const signed = await signRecord(keyA, attestation())
        await rejects(verifyRecord(withPayload(signed, field, value), { type: 'fdn/attestation' }), 'invalid_request')
      })
    }

    it('origin of another key type or in non-canonical form', async () => {
      const secp = peerIdFromPrivateKey(await generateKeyPair('secp256k1')).toString()
      const signed = await signRecord(keyA, attestation())
      await rejects(verifyRecord(withPayload(signed, 'origin', secp), { type: 'fdn/attestation' }), 'invalid_request', /Ed25519/)
      const asCid = peerIdFromPrivateKey(keyA).toCID().toString()
      assert.notEqual(asCid, originA)
      await rejects(verifyRecord(withPayload(signed, 'origin', asCid), { type: 'fdn/attestation' }), 'invalid_request', /canonical/)
      const multibase = base58btc.encode(peerIdFromPrivateKey(keyA).toMultihash().bytes)
      await rejects(verifyRecord(withPayload(signed, 'origin', multibase), { type: 'fdn/attestation' }), 'invalid_request')
    })

    it('manifest attestations need a valid tenant and version', async () => {
      const base = attestation({ kind: 'manifest', tenant: 'social-example', version: 1, cid: dagPbCid('m') })
      assert.ok(await verifyRecord(await signRecord(keyA, base), { type: 'fdn/attestation' }))
      const signed = await signRecord(keyA, base)
      for (const [field, value] of [['tenant', undefined], ['version', undefined], ['tenant', 'Social'], ['tenant', 'a'.repeat(64)], ['tenant', 'ab'], ['tenant', 3], ['version', 0], ['version', -1], ['version', 1.5], ['version', '1']] as const) {
        await rejects(verifyRecord(withPayload(signed, field, value), { type: 'fdn/attestation' }), 'invalid_request', undefined)
      }
    })
  })

  it('accepts valid times of other forms', async () => {
    for (const time of ['2024-02-29T23:59:59.999999Z', '2025-06-01T12:00Z', '2025-06-01T12:00:00-05:30']) {
      assert.equal((await verifyRecord(await signRecord(keyA, release({ time })), { type: 'fdn/release' })).time, time)
    }
  })

  describe('refuses malformed releases and manifests', () => {
    it('release fields', async () => {
      const signed = await signRecord(keyA, release())
      for (const [field, value] of [['cid', 'x'], ['origin', 'x'], ['time', 'x'], ['v', 0], ['cid', undefined]] as const) {
        await rejects(verifyRecord(withPayload(signed, field, value), { type: 'fdn/release' }), 'invalid_request')
      }
    })

    const objectCases: Array<[string, Partial<Record<keyof ManifestObject, unknown>>]> = [
      ['empty key', { key: '' }],
      ['key over 1024 bytes', { key: 'é'.repeat(513) }],
      ['key with NUL', { key: 'a\0b' }],
      ['key a number', { key: 1 }],
      ['bad cid', { cid: 'nope' }],
      ['negative size', { size: -5 }],
      ['acl unknown', { acl: 'public-read-write' }],
      ['etag upper case', { etag: 'D41D8CD98F00B204E9800998ECF8427E' }],
      ['etag quoted', { etag: '"d41d8cd98f00b204e9800998ecf8427e"' }],
      ['etag with -0', { etag: 'd41d8cd98f00b204e9800998ecf8427e-0' }],
      ['contentType empty', { contentType: '' }],
      ['mtime not a date', { mtime: 'now' }],
      ['meta an array', { meta: [] }],
      ['meta a non-string value', { meta: { a: 1 } }],
      ['meta too large', { meta: { a: 'x'.repeat(16 * 1024) } }],
      ['headers an array', { headers: [] }],
      ['headers with a bad name', { headers: { 'cache control': 'x' } }],
      ['headers with CR LF', { headers: { cacheControl: 'x\r\nSet-Cookie: a=b' } }],
      ['headers with a number', { headers: { expires: 0 } }],
      ['parts 0', { parts: 0 }],
      ['parts 10001', { parts: 10_001 }],
      ['parts fractional', { parts: 2.5 }],
      ['meta too many entries', { meta: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`k${i}`, 'v'])) }]
    ]
    for (const [name, change] of objectCases) {
      it(`manifest object with ${name}`, async () => {
        const signed = wire(await signRecord(keyA, manifest()))
        Object.assign(signed.payload.objects[1]!, change)
        await rejects(verifyRecord(signed, { type: 'fdn/manifest' }), 'invalid_request', /objects\[1\]/)
      })
    }

    it('manifest fields', async () => {
      const signed = await signRecord(keyA, manifest())
      for (const [field, value] of [['tenant', 'NO'], ['version', 0], ['tenantRecord', []], ['tenantRecord', null], ['objects', {}], ['objects', undefined], ['time', '']] as const) {
        await rejects(verifyRecord(withPayload(signed, field, value), { type: 'fdn/manifest' }), 'invalid_request')
      }
    })

    it('duplicate keys', async () => {
      const signed = wire(await signRecord(keyA, manifest()))
      signed.payload.objects[1]!.key = signed.payload.objects[0]!.key
      await rejects(verifyRecord(signed, { type: 'fdn/manifest' }), 'invalid_request', /repeats/)
    })

    it('more than 1,000,000 objects', async () => {
      const signed = wire(await signRecord(keyA, manifest()))
      signed.payload.objects = new Array<ManifestObject>(1_000_001).fill(object())
      await rejects(verifyRecord(signed, { type: 'fdn/manifest' }), 'invalid_request', /1000000/)
    })

    it('lone surrogates', async () => {
      const signed = wire(await signRecord(keyA, manifest()))
      signed.payload.objects[0]!.key = 'a\ud800b'
      await rejects(verifyRecord(signed, { type: 'fdn/manifest' }), 'invalid_request')
    })
  })
})

describe('canonical encoding', () => {
  it('is RFC 8785 JCS behind the domain, independent of key order', async () => {
    const payload = release()
    const reordered = Object.fromEntries(Object.entries(payload).reverse()) as unknown as Release
    assert.deepEqual(Object.keys(reordered), Object.keys(payload).reverse())
    const bytes = recordSigningBytes(payload)
    assert.deepEqual(recordSigningBytes(reordered), bytes)
    assert.equal(new TextDecoder().decode(bytes),
      `${RECORD_DOMAIN}\n{"cid":"${payload.cid}","origin":"${originA}","time":"${TIME}","type":"fdn/release","v":1}`)
    // a signature made over one order verifies over the other
    const signed = await signRecord(keyA, reordered)
    assert.deepEqual(await verifyRecord({ signature: signed.signature, payload }, { type: 'fdn/release' }), payload)
  })

  it('sorts nested keys and uses JCS number and string forms', () => {
    const m = manifest({ tenantRecord: { z: 1e21, a: [1.5, 'é\u2028', true, null], m: { y: 1, b: 2 } } })
    const text = new TextDecoder().decode(recordSigningBytes(m))
    assert.ok(text.includes('"tenantRecord":{"a":[1.5,"é\u2028",true,null],"m":{"b":2,"y":1},"z":1e+21}'), text)
    assert.ok(text.includes('"meta":{"original-name":"cat.png"},"mtime"'))
  })
})

describe('manifest blobs', () => {
  it('encode, decode and verify round-trip', async () => {
    const signed = await signRecord(keyA, manifest())
    const bytes = encodeManifest(signed)
    const decoded = decodeManifest(bytes)
    assert.deepEqual(decoded, signed)
    assert.deepEqual(await verifyRecord(decoded, { type: 'fdn/manifest', origin: originA }), signed.payload)
  })

  it('encodes equal manifests to equal bytes, whatever the key order', async () => {
    const signed = await signRecord(keyA, manifest())
    const reordered = { signature: signed.signature, payload: Object.fromEntries(Object.entries(signed.payload).reverse()) as unknown as Manifest }
    assert.deepEqual(encodeManifest(reordered), encodeManifest(signed))
  })

  it('refuses non-JSON, invalid UTF-8 and oversize input', () => {
    assert.throws(() => decodeManifest(new TextEncoder().encode('{"payload":')), (err: unknown) => err instanceof FdnError && err.code === 'invalid_request')
    assert.throws(() => decodeManifest(new Uint8Array([0x7b, 0xff, 0x7d])), (err: unknown) => err instanceof FdnError && err.code === 'invalid_request' && /UTF-8/.test(err.message))
    // zero pages: the allocation is not touched
    assert.throws(() => decodeManifest(new Uint8Array(MAX_MANIFEST_BYTES + 1)), (err: unknown) => err instanceof FdnError && err.code === 'too_large')
  })

  it('verifies a large manifest in reasonable time', async () => {
    const objects = Array.from({ length: 50_000 }, (_, i) => object({ key: `media/${i}.png`, cid: rawCid(`o${i}`) }))
    const signed = await signRecord(keyA, manifest({ objects }))
    const decoded = decodeManifest(encodeManifest(signed))
    const started = performance.now()
    const payload = await verifyRecord(decoded, { type: 'fdn/manifest' })
    assert.equal(payload.objects.length, 50_000)
    assert.ok(performance.now() - started < 5000)
  })
})
