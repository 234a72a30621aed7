import { describe, it, before } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { Ed25519PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import * as Digest from 'multiformats/hashes/digest'
import { cidString } from '../../protocol/cid.ts'
import type { CidString } from '../../protocol/cid.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { ErrorCode } from '../../protocol/errors.ts'
import { signRecord, verifyRecord } from '../../protocol/swarm-records.ts'
import type { Attestation, Release, Signed } from '../../protocol/swarm-records.ts'
import {
  FIND_PROTOCOL, MAX_CHECK_CIDS, MAX_MESSAGE_BYTES, RECOVER_PROTOCOL, REPLICATE_PROTOCOL,
  decodeFindRequest, decodeFindResponse, decodeRecoverRequest, decodeRecoverResponse, decodeReplicateRequest, decodeReplicateResponse, encodeMessage
} from '../../protocol/swarm-wire.ts'

function cid (text: string, codec = 0x55): CidString {
  return cidString(CID.createV1(codec, Digest.create(0x12, createHash('sha256').update(text).digest())))
}
const TIME = '2025-06-01T12:00:00.000Z'
const enc = (value: unknown): Uint8Array => new TextEncoder().encode(typeof value === 'string' ? value : JSON.stringify(value))

function refuses (fn: () => unknown, code: ErrorCode = 'invalid_request', pattern?: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FdnError, `expected an FdnError, got ${String(err)}`)
    assert.equal(err.code, code, err.message)
    if (pattern != null) assert.match(err.message, pattern)
    return true
  })
}

let key: Ed25519PrivateKey
let origin: string
let attestation: Signed<Attestation>
let release: Signed<Release>

before(async () => {
  key = await generateKeyPair('Ed25519')
  origin = peerIdFromPrivateKey(key).toString()
  attestation = await signRecord(key, {
    type: 'fdn/attestation', v: 1, cid: cid('blob', 0x70), size: 5_000_000, sha256: 'ab'.repeat(32), mediaType: 'video/mp4', public: false, replicas: 3, kind: 'blob', origin, time: TIME
  })
  release = await signRecord(key, { type: 'fdn/release', v: 1, cid: cid('blob', 0x70), origin, time: TIME })
})

describe('swarm wire messages', () => {
  it('names the protocols', () => {
    assert.equal(REPLICATE_PROTOCOL, '/fdn/replicate/1.0.0')
    assert.equal(RECOVER_PROTOCOL, '/fdn/recover/1.0.0')
    assert.equal(FIND_PROTOCOL, '/fdn/find/1.0.0')
    assert.equal(MAX_MESSAGE_BYTES, 65536)
  })

  it('round-trips every replicate request', async () => {
    const hold = decodeReplicateRequest(encodeMessage({ op: 'hold', attestation }))
    assert.deepEqual(hold, { op: 'hold', attestation })
    assert.equal(hold.op, 'hold')
    assert.deepEqual(await verifyRecord(hold.attestation, { type: 'fdn/attestation', origin }), attestation.payload)
    assert.deepEqual(decodeReplicateRequest(encodeMessage({ op: 'release', release })), { op: 'release', release })
    const cids = Array.from({ length: MAX_CHECK_CIDS }, (_, i) => cid(`c${i}`))
    const check = encodeMessage({ op: 'check', cids })
    assert.ok(check.length <= MAX_MESSAGE_BYTES)
    assert.deepEqual(decodeReplicateRequest(check), { op: 'check', cids })
    assert.deepEqual(decodeReplicateRequest(encodeMessage({ op: 'check', cids: [] })), { op: 'check', cids: [] })
  })

  it('round-trips replicate responses', () => {
    assert.deepEqual(decodeReplicateResponse(encodeMessage({ ok: true })), { ok: true })
    assert.deepEqual(decodeReplicateResponse(encodeMessage({ ok: true, held: [cid('a')] })), { ok: true, held: [cid('a')] })
    for (const code of ['untrusted', 'bad_signature', 'quota_exceeded', 'not_found', 'verify_failed', 'too_large', 'busy', 'invalid_request', 'internal'] as const) {
      assert.deepEqual(decodeReplicateResponse(encodeMessage({ ok: false, code, message: `no: ${code}` })), { ok: false, code, message: `no: ${code}` })
    }
  })

  it('round-trips find messages, by CID or by SHA-256', () => {
    const sha256 = 'ab'.repeat(32)
    assert.deepEqual(decodeFindRequest(encodeMessage({ op: 'find', cid: cid('a') })), { op: 'find', cid: cid('a') })
    assert.deepEqual(decodeFindRequest(encodeMessage({ op: 'find', sha256 })), { op: 'find', sha256 })
    assert.deepEqual(decodeFindResponse(encodeMessage({ ok: true })), { ok: true })
    assert.deepEqual(decodeFindResponse(encodeMessage({ ok: true, cid: cid('b', 0x70) })), { ok: true, cid: cid('b', 0x70) })
    assert.deepEqual(decodeFindResponse(encodeMessage({ ok: false, code: 'invalid_request', message: 'no' })), { ok: false, code: 'invalid_request', message: 'no' })
  })

  it('refuses malformed find messages', () => {
    refuses(() => decodeFindRequest(enc({ op: 'find' })), 'invalid_request', /lacks sha256/)
    refuses(() => decodeFindRequest(enc({ op: 'find', cid: cid('a'), sha256: 'ab'.repeat(32) })), 'invalid_request', /unknown field/)
    refuses(() => decodeFindRequest(enc({ op: 'find', sha256: 'AB'.repeat(32) })), 'invalid_request', /hex/)
    refuses(() => decodeFindRequest(enc({ op: 'find', sha256: 'ab'.repeat(31) })), 'invalid_request', /hex/)
    refuses(() => decodeFindRequest(enc({ op: 'find', cid: 'not-a-cid' })))
    refuses(() => decodeFindRequest(enc({ op: 'hold', cid: cid('a') })), 'invalid_request', /unknown op/)
    refuses(() => decodeFindResponse(enc({ ok: true, cid: 42 })))
    refuses(() => decodeFindResponse(enc({ ok: true, held: [] })), 'invalid_request', /unknown field/)
  })

  it('round-trips recover messages', () => {
    assert.deepEqual(decodeRecoverRequest(encodeMessage({ op: 'manifests' })), { op: 'manifests' })
    const manifests = [{ tenant: 'social-example', version: 12, cid: cid('m', 0x70) }, { tenant: 'other', version: 1, cid: cid('n') }]
    assert.deepEqual(decodeRecoverResponse(encodeMessage({ ok: true, manifests })), { ok: true, manifests })
    assert.deepEqual(decodeRecoverResponse(encodeMessage({ ok: true, manifests: [] })), { ok: true, manifests: [] })
    assert.deepEqual(decodeRecoverResponse(encodeMessage({ ok: false, code: 'untrusted', message: 'who are you' })), { ok: false, code: 'untrusted', message: 'who are you' })
  })

  it('only shape-checks signed records: a bad signature decodes, verifyRecord refuses it', async () => {
    const bytes = Buffer.from(attestation.signature, 'base64url')
    bytes[0]! ^= 0xff
    const forged = { ...attestation, signature: bytes.toString('base64url') }
    const decoded = decodeReplicateRequest(encodeMessage({ op: 'hold', attestation: forged }))
    assert.equal(decoded.op, 'hold')
    await assert.rejects(verifyRecord(decoded.op === 'hold' ? decoded.attestation : null, { type: 'fdn/attestation' }), (err: unknown) => err instanceof FdnError && err.code === 'forbidden')
  })

  it('refuses oversize messages, and encodeMessage will not make one', () => {
    const padded = (size: number): Uint8Array => {
      const json = JSON.stringify({ op: 'check', cids: [] })
      return enc(json + ' '.repeat(size - json.length))
    }
    assert.deepEqual(decodeReplicateRequest(padded(MAX_MESSAGE_BYTES)), { op: 'check', cids: [] })
    refuses(() => decodeReplicateRequest(padded(MAX_MESSAGE_BYTES + 1)), 'invalid_request', /exceeds/)
    refuses(() => decodeReplicateResponse(padded(MAX_MESSAGE_BYTES + 1)), 'invalid_request', /exceeds/)
    refuses(() => decodeRecoverRequest(padded(MAX_MESSAGE_BYTES + 1)), 'invalid_request', /exceeds/)
    refuses(() => decodeRecoverResponse(padded(MAX_MESSAGE_BYTES + 1)), 'invalid_request', /exceeds/)
    refuses(() => encodeMessage({ ok: false, code: 'internal', message: 'x'.repeat(MAX_MESSAGE_BYTES) }), 'too_large')
  })

  it('refuses non-JSON and non-objects', () => {
    for (const decode of [decodeReplicateRequest, decodeReplicateResponse, decodeRecoverRequest, decodeRecoverResponse]) {
      for (const bytes of [enc(''), enc('{'), enc('hold'), enc('null'), enc('[]'), enc('"op"'), enc('42'), new Uint8Array([0x7b, 0xc3, 0x28, 0x7d])]) {
        refuses(() => decode(bytes))
      }
    }
  })

  it('refuses unknown ops', () => {
    refuses(() => decodeReplicateRequest(enc({ op: 'delete', cids: [] })), 'invalid_request', /unknown op/)
    refuses(() => decodeReplicateRequest(enc({ cids: [] })), 'invalid_request', /unknown op/)
    refuses(() => decodeReplicateRequest(enc({ op: 'manifests' })), 'invalid_request', /unknown op/)
    refuses(() => decodeRecoverRequest(enc({ op: 'check', cids: [] })), 'invalid_request', /unknown op/)
    refuses(() => decodeRecoverRequest(enc({})), 'invalid_request', /unknown op/)
  })

  it('refuses wrong types and unknown fields in requests', () => {
    const bad: unknown[] = [
      { op: 'check', cids: 'bafy' },
      { op: 'check', cids: [1] },
      { op: 'check', cids: ['not-a-cid'] },
      { op: 'check', cids: [cid('a').toUpperCase()] },
      { op: 'check' },
      { op: 'check', cids: [], extra: true },
      { op: 'hold' },
      { op: 'hold', attestation: 'signed' },
      { op: 'hold', attestation: { payload: {}, signature: 'x' } },
      { op: 'hold', attestation: { ...attestation, payload: { ...attestation.payload, size: '5' } } },
      { op: 'hold', attestation: { ...attestation, payload: { ...attestation.payload, extra: 1 } } },
      { op: 'hold', attestation: { ...attestation, signature: 'short' } },
      { op: 'hold', release },
      { op: 'release', release: attestation },
      { op: 'release', release, cids: [] },
      { op: ['hold'], attestation }
    ]
    for (const message of bad) refuses(() => decodeReplicateRequest(enc(message)))
    refuses(() => decodeRecoverRequest(enc({ op: 'manifests', tenant: 'x' })), 'invalid_request', /unknown field/)
  })

  it('refuses more than 1000 cids', () => {
    const cids = Array.from({ length: MAX_CHECK_CIDS + 1 }, (_, i) => cid(`c${i}`))
    const bytes = enc({ op: 'check', cids })
    assert.ok(bytes.length <= MAX_MESSAGE_BYTES, 'the size limit must not be what refuses it')
    refuses(() => decodeReplicateRequest(bytes), 'invalid_request', /1000/)
    refuses(() => decodeReplicateResponse(enc({ ok: true, held: cids })), 'invalid_request', /1000/)
  })

  it('refuses malformed responses', () => {
    const bad: unknown[] = [
      {},
      { ok: 'true' },
      { ok: 1 },
      { ok: true, held: 'bafy' },
      { ok: true, held: [5] },
      { ok: true, extra: 1 },
      { ok: false },
      { ok: false, code: 'nope', message: 'x' },
      { ok: false, code: 'busy' },
      { ok: false, code: 'busy', message: 5 },
      { ok: false, code: 'busy', message: 'x', held: [] }
    ]
    for (const message of bad) refuses(() => decodeReplicateResponse(enc(message)))
    const badRecover: unknown[] = [
      { ok: true },
      { ok: true, manifests: {} },
      { ok: true, manifests: [{ tenant: 'Bad Name', version: 1, cid: cid('m') }] },
      { ok: true, manifests: [{ tenant: 'good', version: 0, cid: cid('m') }] },
      { ok: true, manifests: [{ tenant: 'good', version: 1.5, cid: cid('m') }] },
      { ok: true, manifests: [{ tenant: 'good', version: 1, cid: 'x' }] },
      { ok: true, manifests: [{ tenant: 'good', version: 1 }] },
      { ok: true, manifests: [{ tenant: 'good', version: 1, cid: cid('m'), extra: 1 }] },
      { ok: true, manifests: [], held: [] },
      { ok: false, code: 'forbidden', message: 'x' }
    ]
    for (const message of badRecover) refuses(() => decodeRecoverResponse(enc(message)))
  })
})
