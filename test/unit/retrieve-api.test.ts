// The pure half of the retrieve API (protocol/retrieve-api.ts): request bodies
// and the error codes they give, FEP-ef61 digestMultibase in every multibase
// (and the multihashes refused), the raw CID a small file's digest names, CIDs
// inside gateway URLs (path and subdomain, CIDv0, garbage), and the form URLs
// are cached under.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { CID } from 'multiformats/cid'
import { base16 } from 'multiformats/bases/base16'
import { base32, base32upper } from 'multiformats/bases/base32'
import { base36 } from 'multiformats/bases/base36'
import { base58btc } from 'multiformats/bases/base58'
import { base64, base64url } from 'multiformats/bases/base64'
import * as Digest from 'multiformats/hashes/digest'
import { FdnError } from '../../protocol/errors.ts'
import {
  cidInUrl, digestMultibaseOf, MAX_API_URL_LENGTH, MAX_RETRIEVE_BODY, normaliseUrl, parseDigestMultibase, parseRetrieveRequest, rawCidOfSha256
} from '../../protocol/retrieve-api.ts'

const sha256 = (bytes: Uint8Array | string): string => createHash('sha256').update(bytes).digest('hex')
const PHOTO = sha256('a photo')
const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855'
/** The well-known raw CIDv1 of zero bytes. */
const EMPTY_RAW_CID = 'bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku'
/** A well-known CIDv0 (the empty UnixFS directory) and its CIDv1. */
const CID_V0 = 'QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn'
const CID_V0_AS_V1 = 'bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354'

/** The FdnError code `fn` throws (fails when it does not throw one). */
function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof FdnError, `expected an FdnError, got ${String(err)}`)
    assert.ok(err.message.length > 0, 'the error explains itself')
    return err.code
  }
  assert.fail('expected a refusal')
}

/** Base58btc written out here (Bitcoin alphabet), independent of the library under test. */
function base58 (bytes: Uint8Array): string {
  const alphabet = '123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz'
  let n = BigInt(`0x${Buffer.from(bytes).toString('hex') || '0'}`)
  let out = ''
  while (n > 0n) {
    out = alphabet[Number(n % 58n)] + out
    n /= 58n
  }
  for (const byte of bytes) {
    if (byte !== 0) break
    out = `1${out}`
  }
  return out
}

/** A sha2-256 multihash: 0x12, 32, digest. */
function multihash (hex: string, code = 0x12, length?: number): Uint8Array {
  const digest = Buffer.from(hex, 'hex')
  return Uint8Array.from([code, length ?? digest.length, ...digest])
}

describe('retrieve API: request bodies', () => {
  it('accepts a URL alone, and every optional field', () => {
    assert.deepEqual(parseRetrieveRequest({ url: 'https://mastodon.example/media/a.png' }), { url: 'https://mastodon.example/media/a.png' })
    const digest = digestMultibaseOf(PHOTO)
    const full = {
      url: 'https://mastodon.example/system/media_attachments/files/1/original/a.png',
      key: 'cache/media_attachments/files/1/original/a.png',
      actor: 'https://mastodon.example/users/alice',
      status: 'https://mastodon.example/users/alice/statuses/1',
      digestMultibase: digest
    }
    assert.deepEqual(parseRetrieveRequest(full), full)
  })

  it('leaves the scheme, credentials, port and address to the fetcher (only the form is checked here)', () => {
    for (const url of ['file:///etc/passwd', 'gopher://127.0.0.1:70/_x', 'http://user:pass@example.org/a.png', 'http://127.0.0.1:22/', 'http://[::1]/']) {
      assert.equal(parseRetrieveRequest({ url }).url, url)
    }
  })

  it('refuses a body that is not an object', () => {
    for (const body of [null, undefined, 'https://example.org/a.png', 42, true, ['https://example.org/a.png']]) {
      assert.equal(codeOf(() => parseRetrieveRequest(body)), 'invalid_request', JSON.stringify(body))
    }
  })

  it('refuses a missing, empty, non-string, relative or overlong url (invalid_request)', () => {
    const bad: unknown[] = [{}, { url: '' }, { url: 42 }, { url: null }, { url: ['https://example.org/'] }, { url: '/media/a.png' }, { url: 'example.org/a.png' },
      { url: 'http://' }, { url: `https://example.org/${'a'.repeat(MAX_API_URL_LENGTH)}` }]
    for (const body of bad) assert.equal(codeOf(() => parseRetrieveRequest(body)), 'invalid_request', JSON.stringify(body).slice(0, 80))
    // the longest URL allowed is allowed
    const longest = `https://example.org/${'a'.repeat(MAX_API_URL_LENGTH - 'https://example.org/'.length)}`
    assert.equal(longest.length, MAX_API_URL_LENGTH)
    assert.equal(parseRetrieveRequest({ url: longest }).url, longest)
  })

  it('refuses an unknown field, whatever its value (invalid_request)', () => {
    for (const field of ['URL', 'cid', 'bucket', '__proto__', 'digest', 'tenant']) {
      const body = JSON.parse(`{"url":"https://example.org/a.png",${JSON.stringify(field)}:"x"}`) as unknown
      assert.equal(codeOf(() => parseRetrieveRequest(body)), 'invalid_request', field)
    }
  })

  it('checks the key like an S3 object key: a string, not empty, no NUL, at most 1024 bytes (key_too_long)', () => {
    const url = 'https://example.org/a.png'
    assert.equal(codeOf(() => parseRetrieveRequest({ url, key: 42 })), 'invalid_request')
    assert.equal(codeOf(() => parseRetrieveRequest({ url, key: null })), 'invalid_request')
    assert.equal(codeOf(() => parseRetrieveRequest({ url, key: '' })), 'invalid_request')
    assert.equal(codeOf(() => parseRetrieveRequest({ url, key: 'a\0b' })), 'invalid_request')
    assert.equal(codeOf(() => parseRetrieveRequest({ url, key: 'é'.repeat(513) })), 'key_too_long')
    assert.equal(parseRetrieveRequest({ url, key: 'é'.repeat(512) }).key, 'é'.repeat(512))
    assert.equal(parseRetrieveRequest({ url, key: 'a b/ü/../x?y#z' }).key, 'a b/ü/../x?y#z')
  })

  it('refuses an actor or a status that is not an absolute URL (invalid_request)', () => {
    const url = 'https://example.org/a.png'
    for (const field of ['actor', 'status']) {
      for (const value of ['', 'alice', 42, null, '/users/alice']) {
        assert.equal(codeOf(() => parseRetrieveRequest({ url, [field]: value })), 'invalid_request', `${field}: ${JSON.stringify(value)}`)
      }
    }
  })

  it('refuses a digestMultibase that is not a string or not a sha2-256 multibase multihash (invalid_digest)', () => {
    const url = 'https://example.org/a.png'
    for (const value of [42, null, true, {}, '', 'z', PHOTO, `z${PHOTO}`, '!abc', base58btc.encode(multihash(sha256('x'), 0x13, 32))]) {
      assert.equal(codeOf(() => parseRetrieveRequest({ url, digestMultibase: value })), 'invalid_digest', JSON.stringify(value))
    }
  })

  it('has the limits the contract names', () => {
    assert.equal(MAX_RETRIEVE_BODY, 16 * 1024)
    assert.equal(MAX_API_URL_LENGTH, 4096)
  })
})

describe('retrieve API: digestMultibase', () => {
  it('writes a digest as base58btc (z…) of the sha2-256 multihash, as FEP-ef61 attachments carry it', () => {
    for (const hex of [PHOTO, EMPTY_SHA256, '00'.repeat(32), 'ff'.repeat(32)]) {
      const text = digestMultibaseOf(hex)
      assert.equal(text, `z${base58(multihash(hex))}`)
      assert.equal(parseDigestMultibase(text), hex, 'round trip')
    }
    // a multihash starting 0x12 0x20 is 'Qm…' in base58btc
    assert.match(digestMultibaseOf(PHOTO), /^zQm[1-9A-HJ-NP-Za-km-z]{44}$/)
  })

  it('reads the same digest in any multibase', () => {
    const bytes = multihash(PHOTO)
    const spellings = [base58btc.encode(bytes), base16.encode(bytes), base32.encode(bytes), base32upper.encode(bytes), base36.encode(bytes), base64.encode(bytes), base64url.encode(bytes)]
    assert.equal(new Set(spellings.map(text => text[0])).size, spellings.length, 'every spelling has its own prefix')
    for (const text of spellings) assert.equal(parseDigestMultibase(text), PHOTO, text)
    // written by hand: 'f' + hex of the multihash
    assert.equal(parseDigestMultibase(`f1220${PHOTO}`), PHOTO)
  })

  it('refuses another hash function, a wrong length, a truncated multihash, garbage (invalid_digest)', () => {
    const refused = [
      base58btc.encode(Digest.create(0x13, Buffer.alloc(64, 7)).bytes), // sha2-512
      base58btc.encode(Digest.create(0x00, Buffer.from('hello')).bytes), // identity
      base58btc.encode(Digest.create(0x1e, Buffer.alloc(32, 7)).bytes), // blake3
      base58btc.encode(Digest.create(0xb220, Buffer.alloc(32, 7)).bytes), // blake2b-256
      base58btc.encode(Digest.create(0x12, Buffer.alloc(16, 7)).bytes), // sha2-256 code, 16 bytes
      base58btc.encode(multihash(PHOTO).subarray(0, 20)), // truncated
      base58btc.encode(Buffer.concat([multihash(PHOTO), Buffer.from([1])])), // a byte too many
      base58btc.encode(Buffer.from(PHOTO, 'hex')), // a bare digest, no multihash header
      `f1220${PHOTO.slice(0, -1)}`, // odd hex
      'z0OIl', // not base58
      '', 'z', '!', ' zQm', `${digestMultibaseOf(PHOTO)} `
    ]
    for (const text of refused) {
      assert.equal(codeOf(() => parseDigestMultibase(text)), 'invalid_digest', JSON.stringify(text))
    }
  })
})

describe('retrieve API: the raw CID of a digest', () => {
  it('is the CIDv1 raw block whose multihash is the SHA-256 (a file of at most one chunk)', () => {
    assert.equal(rawCidOfSha256(EMPTY_SHA256), EMPTY_RAW_CID)
    const cid = CID.parse(rawCidOfSha256(PHOTO))
    assert.equal(cid.version, 1)
    assert.equal(cid.code, 0x55)
    assert.equal(cid.multihash.code, 0x12)
    assert.equal(Buffer.from(cid.multihash.digest).toString('hex'), PHOTO)
    assert.match(rawCidOfSha256(PHOTO), /^bafkrei[a-z2-7]{52}$/)
    // the digestMultibase names the same digest as the CID
    assert.equal(parseDigestMultibase(digestMultibaseOf(PHOTO)), Buffer.from(cid.multihash.digest).toString('hex'))
  })
})

describe('retrieve API: a CID inside a URL', () => {
  const cid = rawCidOfSha256(PHOTO)
  const found = (url: string): string | undefined => cidInUrl(new URL(url))?.toString()

  it('finds /ipfs/{cid} on any host, with a path, a query or a fragment after it', () => {
    for (const url of [
      `https://ipfs.io/ipfs/${cid}`,
      `http://127.0.0.1:9/ipfs/${cid}`,
      `https://media.example/ipfs/${cid}/photo.png`,
      `https://media.example/ipfs/${cid}?filename=a.png`,
      `https://media.example/ipfs/${cid}#x`,
      `http://[::1]:8080/ipfs/${cid}`
    ]) assert.equal(found(url), cid, url)
  })

  it('finds {cid}.ipfs.{host} of a subdomain gateway', () => {
    assert.equal(found(`https://${cid}.ipfs.dweb.link/`), cid)
    assert.equal(found(`https://${cid}.ipfs.media.example/photo.png`), cid)
    assert.equal(found(`https://${cid.toUpperCase()}.ipfs.dweb.link/`), cid, 'host names are lower-cased')
  })

  it('reads a CIDv0 and other bases as the canonical CIDv1', () => {
    const v0 = cidInUrl(new URL(`https://ipfs.io/ipfs/${CID_V0}`))
    assert.ok(v0 != null)
    assert.equal(v0.version, 1)
    assert.equal(v0.code, 0x70)
    assert.equal(v0.toString(), CID_V0_AS_V1)
    const parsed = CID.parse(cid)
    assert.equal(found(`https://ipfs.io/ipfs/${parsed.toString(base58btc)}`), cid, 'base58btc CIDv1')
    assert.equal(found(`https://ipfs.io/ipfs/${parsed.toString(base36)}`), cid, 'base36 CIDv1')
  })

  it('finds none in a plain URL, a garbage segment, another namespace or a CID it cannot verify', () => {
    for (const url of [
      'https://mastodon.example/system/media_attachments/files/1/original/a.png',
      'https://media.example/ipfs/',
      'https://media.example/ipfs/notacid',
      `https://media.example/ipfs/${cid.slice(0, -2)}`,
      `https://media.example/ipfs/${cid}x`,
      `https://media.example/ipns/${cid}`,
      `https://media.example/media/ipfs/${cid}`,
      `https://media.example/a.png?u=/ipfs/${cid}`,
      'https://media.example/ipfs/bafkqaaa', // identity hash: holds its bytes, nothing to fetch
      'https://media.example/ipfs/bafyreigbtj4x7ip5legnfznufuopl4sg4knzc2cof6duas4b3q2fy6swua', // dag-cbor: not a codec of this node
      'https://notacid.ipfs.dweb.link/',
      'https://ipfs.media.example/',
      `https://x.${cid}.ipfs.dweb.link/`
    ]) assert.equal(found(url), undefined, url)
  })
})

describe('retrieve API: URL normalisation', () => {
  it('drops the fragment and the default port, lower-cases scheme and host, resolves dot segments', () => {
    assert.equal(normaliseUrl('HTTP://Media.Example.ORG:80/a/./b/../c.png#frag'), 'http://media.example.org/a/c.png')
    assert.equal(normaliseUrl('https://media.example:443/x.png'), 'https://media.example/x.png')
    assert.equal(normaliseUrl('https://MEDIA.example/x.png#'), 'https://media.example/x.png')
    assert.equal(normaliseUrl('https://BÜCHER.example/x.png'), 'https://xn--bcher-kva.example/x.png')
  })

  it('keeps what the server sees: a non-default port, the path case, the query', () => {
    assert.equal(normaliseUrl('https://media.example:8443/X.PNG?size=2&a=1#y'), 'https://media.example:8443/X.PNG?size=2&a=1')
    assert.equal(normaliseUrl('http://media.example:443/x.png'), 'http://media.example:443/x.png')
    assert.notEqual(normaliseUrl('https://media.example/x.png?a=1'), normaliseUrl('https://media.example/x.png?a=2'))
  })

  it('gives one form to spellings of the same URL', () => {
    const forms = ['https://media.example/x.png', 'HTTPS://MEDIA.EXAMPLE/x.png', 'https://media.example:443/x.png', 'https://media.example/x.png#top', 'https://media.example/./x.png']
    assert.equal(new Set(forms.map(normaliseUrl)).size, 1)
  })

  it('throws on what is not a URL', () => {
    assert.throws(() => normaliseUrl('not a url'))
    assert.throws(() => normaliseUrl('/relative'))
  })
})
