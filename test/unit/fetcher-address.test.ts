// The SSRF guard's address classification: every refused range (IPv4, IPv6,
// addresses embedding IPv4), the public addresses that pass, and the allow
// list (FDN_FETCH_ALLOW) that exempts ranges.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { AddressPolicy, classifyAddress, parseAllowEntry, parseFetchAllow } from '../../node/fetcher/address-policy.ts'
import { SafeFetcher } from '../../node/fetcher/safe-fetcher.ts'

/** [address, words the reason must contain] */
const REFUSED: Array<[string, RegExp]> = [
  // IPv4 loopback, private, link-local, CGNAT
  ['127.0.0.1', /loopback/],
  ['127.255.255.254', /loopback/],
  ['10.0.0.1', /private/],
  ['10.255.255.255', /private/],
  ['172.16.0.1', /private/],
  ['172.31.255.255', /private/],
  ['192.168.0.1', /private/],
  ['192.168.255.255', /private/],
  ['169.254.169.254', /link-local/],
  ['169.254.0.1', /link-local/],
  ['100.64.0.1', /carrier-grade NAT/],
  ['100.127.255.255', /carrier-grade NAT/],
  // multicast, unspecified, broadcast, reserved
  ['224.0.0.1', /multicast/],
  ['239.255.255.250', /multicast/],
  ['0.0.0.0', /unspecified/],
  ['0.1.2.3', /unspecified/],
  ['255.255.255.255', /broadcast/],
  ['240.0.0.1', /reserved/],
  ['250.1.2.3', /reserved/],
  // documentation, benchmarking, protocol assignments
  ['192.0.2.1', /documentation/],
  ['198.51.100.7', /documentation/],
  ['203.0.113.200', /documentation/],
  ['198.18.0.1', /benchmarking/],
  ['198.19.255.255', /benchmarking/],
  ['192.0.0.8', /IETF protocol assignment/],
  ['192.88.99.1', /6to4 relay/],
  // IPv6
  ['::1', /loopback/],
  ['::', /unspecified/],
  ['fe80::1', /link-local/],
  ['febf:ffff::1', /link-local/],
  ['fc00::1', /unique-local/],
  ['fd12:3456:789a::1', /unique-local/],
  ['ff02::1', /multicast/],
  ['ff0e::1', /multicast/],
  ['fec0::1', /site-local/],
  ['2001:db8::1', /documentation/],
  ['3fff::1', /documentation/],
  ['2001::1', /IETF protocol assignment/], // Teredo
  ['2001:2::1', /IETF protocol assignment/], // benchmarking
  ['100::1', /discard-only/],
  ['64:ff9b:1::1', /local-use NAT64/],
  ['::7f00:1', /IPv4-compatible/],
  ['::ffff:0:7f00:1', /IPv4-translated/],
  ['4000::1', /not global unicast/],
  ['1::1', /not global unicast/],
  // IPv6 carrying an IPv4 address: the embedded address is judged
  ['::ffff:127.0.0.1', /IPv4-mapped for 127\.0\.0\.1, a loopback/],
  ['::ffff:7f00:1', /IPv4-mapped for 127\.0\.0\.1, a loopback/],
  ['::ffff:169.254.169.254', /IPv4-mapped for 169\.254\.169\.254, a link-local/],
  ['::ffff:10.1.2.3', /IPv4-mapped for 10\.1\.2\.3, a private/],
  ['::ffff:0.0.0.0', /IPv4-mapped for 0\.0\.0\.0, an unspecified/],
  ['64:ff9b::a9fe:a9fe', /NAT64 for 169\.254\.169\.254, a link-local/],
  ['2002:7f00:1::1', /6to4 for 127\.0\.0\.1, a loopback/],
  ['2002:c0a8:101::1', /6to4 for 192\.168\.1\.1, a private/],
  // zone IDs, as a resolver may return them
  ['fe80::1%eth0', /link-local/]
]

const PUBLIC = [
  '1.1.1.1', '8.8.8.8', '93.184.215.14', '100.63.255.255', '100.128.0.0', '172.15.255.255', '172.32.0.0',
  '192.167.255.255', '192.169.0.0', '169.253.255.255', '198.17.255.255', '198.20.0.0', '223.255.255.255', '9.255.255.255', '11.0.0.0',
  '2606:4700:4700::1111', '2a00:1450:4001:80b::200e', '2001:4860:4860::8888', '2620:4f:8000::1',
  '::ffff:1.1.1.1', '::ffff:8.8.8.8', '64:ff9b::808:808', '2002:808:808::1'
]

describe('fetcher address classification', () => {
  it('refuses every non-public range, naming why', () => {
    for (const [address, reason] of REFUSED) {
      const found = classifyAddress(address)
      assert.notEqual(found, undefined, `${address} must be refused`)
      assert.match(found ?? '', reason, address)
    }
  })

  it('passes public IPv4, IPv6 and embedded public IPv4 addresses', () => {
    for (const address of PUBLIC) assert.equal(classifyAddress(address), undefined, address)
  })

  it('refuses the edges of each range and passes just outside them', () => {
    assert.notEqual(classifyAddress('172.16.0.0'), undefined)
    assert.notEqual(classifyAddress('172.31.255.255'), undefined)
    assert.equal(classifyAddress('172.32.0.0'), undefined)
    assert.notEqual(classifyAddress('100.64.0.0'), undefined)
    assert.equal(classifyAddress('100.128.0.0'), undefined)
    assert.equal(classifyAddress('223.255.255.255'), undefined)
    assert.notEqual(classifyAddress('224.0.0.0'), undefined)
    assert.equal(classifyAddress('1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff'), 'a reserved address (not global unicast)')
    assert.equal(classifyAddress('2000::'), undefined)
    assert.notEqual(classifyAddress('2001:1ff:ffff::'), undefined)
    assert.equal(classifyAddress('2001:200::1'), undefined)
  })

  it('only takes IP literals as net.isIP reads them', () => {
    for (const bad of ['localhost', '0x7f.1', '2130706433', '127.1', '1.2.3.4.5', '']) {
      assert.throws(() => classifyAddress(bad), /not an IP address/, bad)
    }
  })
})

describe('fetcher allow list (FDN_FETCH_ALLOW)', () => {
  it('exempts listed ranges and only them', () => {
    const policy = new AddressPolicy(['127.0.0.1/32', '10.1.0.0/16', 'fd00::/8'])
    assert.deepEqual(policy.check('127.0.0.1'), { allowed: true, address: '127.0.0.1', listed: true })
    assert.equal(policy.check('127.0.0.2').allowed, false)
    assert.equal(policy.check('10.1.255.255').allowed, true)
    assert.equal(policy.check('10.2.0.1').allowed, false)
    assert.equal(policy.check('fd12::1').allowed, true)
    assert.equal(policy.check('fc00::1').allowed, false)
    assert.equal(policy.check('::1').allowed, false, 'an IPv4 loopback entry does not allow IPv6 loopback')
    assert.equal(policy.check('169.254.169.254').allowed, false)
    assert.deepEqual(policy.check('8.8.8.8'), { allowed: true, address: '8.8.8.8', listed: false })
  })

  it('an IPv4 entry covers the IPv4-mapped form of its addresses, not NAT64 or 6to4 forms', () => {
    const policy = new AddressPolicy(['127.0.0.1/32'])
    assert.equal(policy.check('::ffff:127.0.0.1').allowed, true)
    assert.equal(policy.check('::ffff:127.0.0.2').allowed, false)
    assert.equal(policy.check('64:ff9b::7f00:1').allowed, false)
    assert.equal(policy.check('2002:7f00:1::1').allowed, false)
  })

  it('a refusal names the reason', () => {
    const verdict = new AddressPolicy().check('169.254.169.254')
    assert.equal(verdict.allowed, false)
    assert.match(verdict.allowed ? '' : verdict.reason, /link-local/)
  })

  it('parses CIDR ranges and single addresses, canonically', () => {
    assert.equal(parseAllowEntry('127.0.0.1/32'), '127.0.0.1/32')
    assert.equal(parseAllowEntry(' 10.0.0.0/8 '), '10.0.0.0/8')
    assert.equal(parseAllowEntry('192.0.2.7'), '192.0.2.7/32')
    assert.equal(parseAllowEntry('::1'), '::1/128')
    assert.equal(parseAllowEntry('FD00:0::/8'), 'fd00::/8')
    assert.equal(parseAllowEntry('0.0.0.0/0'), '0.0.0.0/0')
    assert.deepEqual(parseFetchAllow('127.0.0.1/32, 10.0.0.0/8,,127.0.0.1/32 '), ['127.0.0.1/32', '10.0.0.0/8'])
    assert.deepEqual(parseFetchAllow(''), [])
  })

  it('refuses a bad entry with a message naming it', () => {
    for (const bad of ['10.0.0.0/33', '::/129', '0x7f.1/8', '127.1/32', 'localhost', '10.0.0.0/', '10.0.0.0/8/8', '10.0.0.0/-1', '10.0.0.0/ 8', 'fe80::1%eth0/64', '1.2.3.4.5', '']) {
      assert.throws(() => parseAllowEntry(bad), (err: Error) => err.message.includes(`got '${bad}'`) && /expected a CIDR range/.test(err.message), bad)
    }
    assert.throws(() => parseFetchAllow('10.0.0.0/8,nonsense'), /got 'nonsense'/)
  })

  it('the fetcher validates its allow option', () => {
    assert.throws(() => new SafeFetcher({ allow: ['127.0.0.1/32', '300.0.0.0/8'] }), /^Error: allow: expected a CIDR range .* got '300\.0\.0\.0\/8'$/)
    assert.deepEqual(new SafeFetcher({ allow: ['127.0.0.1', '127.0.0.1/32'] }).policy.allow, ['127.0.0.1/32'])
  })
})
