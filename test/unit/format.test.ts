import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { negotiateFormat } from '../../gateway/public/format.ts'
import { matchesIfNoneMatch } from '../../gateway/public/conditional.ts'
import { parseCid } from '../../protocol/cid.ts'
import { base58btc } from 'multiformats/bases/base58'
import { base16 } from 'multiformats/bases/base16'

describe('response format negotiation', () => {
  it('lets ?format= win over Accept', () => {
    assert.deepEqual(negotiateFormat({ format: 'raw' }, 'application/vnd.ipld.car'), { kind: 'raw' })
    assert.deepEqual(negotiateFormat({ format: 'car' }, undefined), { kind: 'car', car: { dups: false, scope: 'all' } })
  })

  it('reads IPLD types and CAR parameters from Accept', () => {
    assert.deepEqual(negotiateFormat({}, 'text/html, application/vnd.ipld.raw;q=0.9'), { kind: 'raw' })
    assert.deepEqual(negotiateFormat({ 'dag-scope': 'block' }, 'application/vnd.ipld.car; version=1; order=dfs; dups=y'), { kind: 'car', car: { dups: true, scope: 'block' } })
    assert.deepEqual(negotiateFormat({}, 'text/html,image/avif,*/*'), { kind: 'file' })
  })

  it('refuses what it cannot produce', () => {
    assert.throws(() => negotiateFormat({ format: 'tar' }, undefined), { code: 'invalid_request' })
    assert.throws(() => negotiateFormat({}, 'application/vnd.ipld.car; version=2'), { code: 'invalid_request' })
    assert.throws(() => negotiateFormat({ format: 'car', 'dag-scope': 'everything' }, undefined), { code: 'invalid_request' })
  })
})

describe('If-None-Match', () => {
  it('matches strong, weak, listed and * validators', () => {
    assert.equal(matchesIfNoneMatch('"a"', '"a"'), true)
    assert.equal(matchesIfNoneMatch('W/"a"', '"a"'), true)
    assert.equal(matchesIfNoneMatch('"b", "a"', '"a"'), true)
    assert.equal(matchesIfNoneMatch('*', '"a"'), true)
    assert.equal(matchesIfNoneMatch('"a.raw"', '"a"'), false)
    assert.equal(matchesIfNoneMatch(undefined, '"a"'), false)
  })
})

describe('CID parsing', () => {
  it('accepts CIDv0, base32 and base58 CIDv1 and normalises to v1', () => {
    const v1 = parseCid('QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG')
    assert.equal(v1.version, 1)
    assert.match(v1.toString(), /^bafybei/)
    assert.equal(parseCid(v1.toString()).toString(), v1.toString())
    assert.equal(parseCid(v1.toString(base58btc)).toString(), v1.toString())
    assert.equal(parseCid(v1.toString(base16)).toString(), v1.toString())
  })

  it('refuses malformed CIDs and codecs it cannot verify', () => {
    for (const bad of ['', 'hello', 'bafy', 'Qm123', 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzd!']) {
      assert.throws(() => parseCid(bad), { code: 'invalid_cid' }, bad)
    }
    // dag-cbor (0x71) is valid IPFS but not something a media node serves
    assert.throws(() => parseCid('bafyreidykglsfhoixmivffc5uwhcgshx4j465xwqntbmu43nb2dzqwfvae'), /codec 0x71/)
  })
})
