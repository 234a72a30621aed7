// URL refusals of the fetcher, made before anything is resolved or sent:
// schemes, credentials (and the tricks that hide them), ports, malformed
// URLs, and IP literals in every spelling WHATWG URL parsing normalises.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { FetchError, publicMessage } from '../../node/fetcher/errors.ts'
import type { FetchErrorCode } from '../../node/fetcher/errors.ts'
import { SafeFetcher } from '../../node/fetcher/safe-fetcher.ts'
import type { ResolvedAddress } from '../../node/fetcher/safe-fetcher.ts'
import { checkUrl, DEFAULT_PORTS, parsePorts } from '../../node/fetcher/target.ts'

const PORTS = new Set(DEFAULT_PORTS)

/** A fetcher whose resolver records what it is asked and answers a public address. */
function spyFetcher (options: ConstructorParameters<typeof SafeFetcher>[0] = {}): { fetcher: SafeFetcher, asked: string[] } {
  const asked: string[] = []
  const lookup = async (host: string): Promise<ResolvedAddress[]> => {
    asked.push(host)
    return [{ address: '192.0.2.1', family: 4 }]
  }
  return { fetcher: new SafeFetcher({ lookup, ...options }), asked }
}

async function refusal (fetcher: SafeFetcher, url: string): Promise<FetchError> {
  try {
    await fetcher.fetchMedia(url)
  } catch (err) {
    assert.ok(err instanceof FetchError, `${url}: ${String(err)}`)
    return err
  }
  assert.fail(`${url} was fetched`)
}

async function assertRefused (fetcher: SafeFetcher, url: string, code: FetchErrorCode, reason?: RegExp): Promise<void> {
  const err = await refusal(fetcher, url)
  assert.equal(err.code, code, `${url}: ${err.message}`)
  assert.match(err.message, /^cannot fetch /, url)
  if (reason != null) assert.match(err.message, reason, url)
}

describe('fetcher URL checks', () => {
  it('takes http and https only', async () => {
    const { fetcher, asked } = spyFetcher()
    for (const url of ['file:///etc/passwd', 'gopher://example.org/', 'ftp://example.org/x', 'data:image/png;base64,iVBORw0KGgo=',
      'javascript:alert(1)', 'ws://example.org/', 'wss://example.org/', 'dict://example.org:11211/', 'ldap://example.org/', 'blob:https://example.org/x', 'mailto:a@example.org']) {
      await assertRefused(fetcher, url, 'scheme_not_allowed', /is not allowed \(only http and https\)/)
    }
    assert.deepEqual(asked, [], 'nothing resolved')
  })

  it('refuses credentials in the URL, however they are hidden', async () => {
    const { fetcher, asked } = spyFetcher()
    for (const url of ['http://user@example.org/', 'http://user:pass@example.org/', 'https://evil.com@127.0.0.1/', 'http://example.org:80@127.0.0.1/',
      'http://:@example.org/', 'http://@example.org/', 'http:evil@127.0.0.1/', 'http:\\\\evil@127.0.0.1/', ' http://a@example.org', 'http://a%40b@example.org/', 'HTTP://U@EXAMPLE.ORG/']) {
      await assertRefused(fetcher, url, 'userinfo_not_allowed', /credentials/)
    }
    assert.deepEqual(asked, [])
  })

  it('keeps an @ that is not in the authority', () => {
    assert.equal(checkUrl('http://example.org/a@b?c=@#@', PORTS).host, 'example.org')
    assert.equal(checkUrl('/@me/media.png', PORTS, new URL('http://example.org/')).url.href, 'http://example.org/@me/media.png')
    assert.throws(() => checkUrl('//evil@127.0.0.1/', PORTS, new URL('http://example.org/')), { code: 'userinfo_not_allowed' })
    assert.throws(() => checkUrl('//:@127.0.0.1/', PORTS, new URL('http://example.org/')), { code: 'userinfo_not_allowed' })
  })

  it('takes ports 80 and 443 by default, or the configured list', async () => {
    const { fetcher, asked } = spyFetcher()
    for (const url of ['http://example.org:8080/', 'https://example.org:8443/', 'http://example.org:22/', 'http://example.org:0/', 'http://example.org:6379/', 'http://169.254.169.254:8080/']) {
      await assertRefused(fetcher, url, 'port_not_allowed', /port \d+ is not allowed \(allowed: 80, 443\)/)
    }
    assert.deepEqual(asked, [])
    assert.equal(checkUrl('http://example.org:80/', PORTS).port, 80)
    assert.equal(checkUrl('https://example.org/', PORTS).port, 443)
    assert.equal(checkUrl('http://example.org:443/', PORTS).port, 443)
    assert.equal(checkUrl('http://example.org:8080/', new Set([8080])).port, 8080)
    assert.throws(() => checkUrl('http://example.org/', new Set([8080])), { code: 'port_not_allowed' })
  })

  it('refuses malformed URLs', async () => {
    const { fetcher } = spyFetcher()
    for (const url of ['', 'not a url', 'example.org/image.png', '/relative.png', 'http://', 'http://[fe80::1%25eth0]/', 'http://exa mple.org/', 'http://[::1/', 'http://1.2.3.4.5/',
      'http://0x100.0.0.0/', 'http://example.org:99999/', `http://example.org/${'a'.repeat(9000)}`]) {
      await assertRefused(fetcher, url, 'bad_url')
    }
  })

  it('checks IP literals in every spelling the URL parser normalises, without resolving them', async () => {
    const { fetcher, asked } = spyFetcher()
    const loopback = ['http://127.0.0.1/', 'http://2130706433/', 'http://0x7f.1/', 'http://0x7f000001/', 'http://017700000001/', 'http://0177.0.0.01/', 'http://127.1/',
      'http://127.0.0.1./', 'http://%31%32%37.0.0.1/', 'http://127。0。0。1/', 'http://[::1]/', 'http://[::ffff:127.0.0.1]/', 'http://[::ffff:7f00:1]/', 'http://[0:0:0:0:0:ffff:7f00:1]/']
    for (const url of loopback) await assertRefused(fetcher, url, 'address_not_allowed', /loopback/)
    const others: Array<[string, RegExp]> = [
      ['http://169.254.169.254/latest/meta-data/', /link-local/],
      ['http://0xa9fea9fe/', /link-local/],
      ['http://2852039166/', /link-local/],
      ['http://[::ffff:169.254.169.254]/', /IPv4-mapped for 169\.254\.169\.254/],
      ['http://0/', /unspecified/],
      ['http://0.0.0.0/', /unspecified/],
      ['http://[::]/', /unspecified/],
      ['http://10.0.0.1/', /private/],
      ['http://192.168.1.1/', /private/],
      ['http://172.20.0.1/', /private/],
      ['http://100.100.100.200/', /carrier-grade NAT/],
      ['http://[fd00::1]/', /unique-local/],
      ['http://[fe80::1]/', /link-local/],
      ['http://224.0.0.251/', /multicast/],
      ['http://255.255.255.255/', /broadcast/],
      ['http://[64:ff9b::a9fe:a9fe]/', /NAT64 for 169\.254\.169\.254/]
    ]
    for (const [url, reason] of others) await assertRefused(fetcher, url, 'address_not_allowed', reason)
    assert.deepEqual(asked, [], 'an IP literal is never resolved')
  })

  it('checks every address a name resolves to', async () => {
    const answers: Record<string, ResolvedAddress[]> = {
      'mixed.example': [{ address: '93.184.215.14', family: 4 }, { address: '10.0.0.5', family: 4 }],
      'v6-loopback.example': [{ address: '2606:4700::1', family: 6 }, { address: '::1', family: 6 }],
      'mapped.example': [{ address: '::ffff:169.254.169.254', family: 6 }],
      'empty.example': [],
      'garbage.example': [{ address: 'localhost', family: 4 }]
    }
    const fetcher = new SafeFetcher({ lookup: async host => answers[host] ?? [] })
    await assertRefused(fetcher, 'http://mixed.example/', 'address_not_allowed', /mixed\.example resolves to 10\.0\.0\.5, a private address/)
    await assertRefused(fetcher, 'http://v6-loopback.example/', 'address_not_allowed', /resolves to ::1, the loopback address/)
    await assertRefused(fetcher, 'http://mapped.example/', 'address_not_allowed', /IPv4-mapped for 169\.254\.169\.254/)
    await assertRefused(fetcher, 'http://empty.example/', 'dns_failed', /resolves to no address/)
    await assertRefused(fetcher, 'http://garbage.example/', 'dns_failed', /not an IPv4 address/)
  })

  it('says to someone outside the node only that a host is refused, not what it resolves to', async () => {
    const fetcher = new SafeFetcher({ lookup: async host => host === 'intranet.example' ? [{ address: '10.0.0.5', family: 4 }] : [] })
    const refused = await refusal(fetcher, 'http://intranet.example/x.png')
    assert.match(refused.message, /resolves to 10\.0\.0\.5/, 'the node\'s own log says why')
    assert.equal(publicMessage(refused), 'cannot fetch http://intranet.example/x.png: its host is not at a public address (refused unless FDN_FETCH_ALLOW covers it)')
    const unresolved = await refusal(fetcher, 'http://nothing.example/')
    assert.equal(publicMessage(unresolved), 'cannot fetch http://nothing.example/: its host does not resolve to a usable address')
    const port = await refusal(fetcher, 'http://intranet.example:22/')
    assert.equal(publicMessage(port), port.message, 'what the URL says by itself is told as it is')
  })

  it('reports a name that does not resolve (system resolver)', async () => {
    await assertRefused(new SafeFetcher(), 'http://no-such-host.invalid/', 'dns_failed', /no-such-host\.invalid does not resolve/)
  })

  it('refuses localhost with the system resolver and no allow list', async () => {
    await assertRefused(new SafeFetcher(), 'http://localhost/', 'address_not_allowed', /localhost resolves to (127\.0\.0\.1|::1), (a|the) loopback address/)
  })

  it('validates its options', () => {
    assert.throws(() => new SafeFetcher({ allowedPorts: [0] }), /expected ports from 1 to 65535, got '0'/)
    assert.throws(() => new SafeFetcher({ allowedPorts: [65536] }), /got '65536'/)
    assert.throws(() => new SafeFetcher({ timeoutMs: 0 }), /timeoutMs: expected a positive whole number/)
    assert.throws(() => new SafeFetcher({ connectTimeoutMs: -1 }), /connectTimeoutMs/)
    assert.throws(() => new SafeFetcher({ maxBytes: 1.5 }), /maxBytes/)
    assert.throws(() => new SafeFetcher({ maxRedirects: -1 }), /maxRedirects/)
    assert.deepEqual(parsePorts('80, 443,8443,80'), [80, 443, 8443])
    for (const bad of ['', '0', '70000', 'http', '80;443']) assert.throws(() => parsePorts(bad), /expected comma-separated ports/, bad)
  })

  it('names the URL and the reason in the message, shortened when huge', async () => {
    const { fetcher } = spyFetcher()
    const err = await refusal(fetcher, `gopher://example.org/${'x'.repeat(500)}`)
    assert.ok(err.message.length < 300, err.message)
    assert.match(err.message, /^cannot fetch gopher:\/\/example\.org\/x+…: the scheme 'gopher' is not allowed/)
    assert.equal(err.reason, "the scheme 'gopher' is not allowed (only http and https)")
    assert.equal(err.name, 'FetchError')
  })
})
