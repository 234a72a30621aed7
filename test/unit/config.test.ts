import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { ConfigError, editDistance, loadConfig, unknownEnvironment } from '../../node/config/load.ts'
import { SETTINGS } from '../../node/config/settings.ts'
import { parseBoolean, parseDuration, parseListen, parsePath, parsePeerAddress, parsePeerAddresses, parsePeerIds, parseSize, parseSwarmAnnounce, parseSwarmListen } from '../../node/config/values.ts'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')

async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

describe('config values', () => {
  it('parses sizes in powers of 1024', () => {
    assert.equal(parseSize('512KB'), 512 * 1024)
    assert.equal(parseSize('20MB'), 20 * 1024 ** 2)
    assert.equal(parseSize('2GB'), 2 * 1024 ** 3)
    assert.equal(parseSize('1TB'), 1024 ** 4)
    assert.equal(parseSize('100'), 100)
    for (const bad of ['lots', '-1MB', '', '1.5.2GB']) assert.throws(() => parseSize(bad), /expected a size/, bad)
  })

  it('parses durations', () => {
    assert.equal(parseDuration('500ms'), 500)
    assert.equal(parseDuration('30s'), 30_000)
    assert.equal(parseDuration('5m'), 300_000)
    assert.equal(parseDuration('2h'), 7_200_000)
    for (const bad of ['soon', '30', '']) assert.throws(() => parseDuration(bad), /expected a duration/, bad)
  })

  it('parses listen addresses, IPv6 in brackets', () => {
    assert.deepEqual(parseListen('0.0.0.0:8080'), { host: '0.0.0.0', port: 8080 })
    assert.deepEqual(parseListen('[::1]:0'), { host: '::1', port: 0 })
    assert.deepEqual(parseListen('localhost:80'), { host: 'localhost', port: 80 })
    for (const bad of ['8080', 'host:', 'host:70000', '::1:80', 'nonsense']) assert.throws(() => parseListen(bad), /expected host:port/, bad)
  })
})

describe('swarm config values', () => {
  it('parses switches', () => {
    for (const yes of ['1', 'true', 'yes', 'TRUE', 'Yes']) assert.equal(parseBoolean(yes), true, yes)
    for (const no of ['0', 'false', 'no', 'False', 'NO']) assert.equal(parseBoolean(no), false, no)
    for (const bad of ['', 'on', 'off', 'y', '2', 'maybe']) assert.throws(() => parseBoolean(bad), /expected one of 1, 0, true, false, yes, no, got/, bad)
  })

  it('parses swarm listen addresses: TCP multiaddrs, at least one, deduplicated', () => {
    assert.deepEqual(parseSwarmListen('/ip4/0.0.0.0/tcp/4001'), ['/ip4/0.0.0.0/tcp/4001'])
    assert.deepEqual(parseSwarmListen('/ip4/127.0.0.1/tcp/0, /ip6/::/tcp/4001,/ip4/127.0.0.1/tcp/0'), ['/ip4/127.0.0.1/tcp/0', '/ip6/::/tcp/4001'])
    for (const bad of ['nonsense', '/ip4/999.1.1.1/tcp/4001', '/ip4/1.2.3.4/tcp/70000']) assert.throws(() => parseSwarmListen(bad), /expected a multiaddr such as/, bad)
    for (const bad of ['/ip4/0.0.0.0/udp/4001/quic-v1', '/ip4/0.0.0.0', '/dns4/example.org/tcp/4001', '/ip4/0.0.0.0/tcp/4001/ws']) {
      assert.throws(() => parseSwarmListen(bad), /expected a TCP listen multiaddr/, bad)
    }
    for (const empty of ['', ' , ']) assert.throws(() => parseSwarmListen(empty), /at least one/, empty)
  })

  it('parses swarm addresses to announce: TCP multiaddrs by address or name, without /p2p, deduplicated, none by default', () => {
    assert.deepEqual(parseSwarmAnnounce(''), [])
    assert.deepEqual(parseSwarmAnnounce('/ip4/203.0.113.7/tcp/4001, /dns4/fdn.example.org/tcp/4001,/ip4/203.0.113.7/tcp/4001'), ['/ip4/203.0.113.7/tcp/4001', '/dns4/fdn.example.org/tcp/4001'])
    assert.deepEqual(parseSwarmAnnounce('/ip6/2001:db8::1/tcp/4001'), ['/ip6/2001:db8::1/tcp/4001'])
    for (const bad of ['/ip4/203.0.113.7/udp/4001/quic-v1', '/ip4/203.0.113.7', '/ip4/203.0.113.7/tcp/4001/p2p/12D3KooWEpCnQRcHF1wd9DVhkSGzRnRJUDfhRE5URn5RoBEsHTJB']) {
      assert.throws(() => parseSwarmAnnounce(bad), /expected a TCP address to announce/, bad)
    }
    assert.throws(() => parseSwarmAnnounce('nonsense'), /expected a multiaddr such as/)
  })

  it('parses peer addresses, which must end in /p2p/<peer id>', async () => {
    const id = await newPeerId()
    assert.equal(parsePeerAddress(`/ip4/203.0.113.7/tcp/4001/p2p/${id}`), `/ip4/203.0.113.7/tcp/4001/p2p/${id}`)
    assert.equal(parsePeerAddress(`/dns4/fdn.example.org/tcp/4001/p2p/${id}`), `/dns4/fdn.example.org/tcp/4001/p2p/${id}`)
    assert.deepEqual(parsePeerAddresses(`/ip4/10.0.0.1/tcp/4001/p2p/${id},/ip4/10.0.0.1/tcp/4001/p2p/${id}, /ip6/::1/tcp/4001/p2p/${id}`),
      [`/ip4/10.0.0.1/tcp/4001/p2p/${id}`, `/ip6/::1/tcp/4001/p2p/${id}`])
    assert.deepEqual(parsePeerAddresses(''), [])
    assert.throws(() => parsePeerAddress('/ip4/203.0.113.7/tcp/4001'), /expected a peer address ending in \/p2p\/<peer id>/)
    assert.throws(() => parsePeerAddress('/ip4/203.0.113.7/tcp/4001/p2p/abc'), /'abc' is not a peer ID/)
    assert.throws(() => parsePeerAddress(`/ip4/203.0.113.7/udp/4001/quic-v1/p2p/${id}`), /expected a TCP peer address/)
    assert.throws(() => parsePeerAddress('not/a/multiaddr'), /expected a multiaddr such as/)
    assert.throws(() => parsePeerAddresses(`/ip4/10.0.0.1/tcp/4001/p2p/${id},/ip4/10.0.0.2/tcp/4001`), /got '\/ip4\/10\.0\.0\.2\/tcp\/4001'/)
  })

  it('parses peer IDs, canonical and deduplicated', async () => {
    const [a, b] = [await newPeerId(), await newPeerId()]
    assert.deepEqual(parsePeerIds(`${a}, ${b},${a}`), [a, b])
    assert.deepEqual(parsePeerIds(''), [])
    for (const bad of ['abc', '12D3KooWnotreally', `${a}x`, `/p2p/${a}`]) assert.throws(() => parsePeerIds(bad), /expected a peer ID such as 12D3KooW/, bad)
  })

  it('makes paths absolute', () => {
    assert.equal(parsePath('swarm.key'), path.resolve('swarm.key'))
    assert.throws(() => parsePath(' '), /expected a file path/)
  })
})

describe('loadConfig', () => {
  it('uses the embedded defaults', async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'fdn-config-'))
    const config = loadConfig({ env: { FDN_DATA: data }, flags: {} })
    assert.equal(config.data, data)
    assert.deepEqual(config.httpListen, { host: '0.0.0.0', port: 8080 })
    assert.deepEqual(config.adminListen, { host: '127.0.0.1', port: 8081 })
    assert.equal(config.maxObjectSize, 2 * 1024 ** 3)
    assert.deepEqual(config.swarmListen, ['/ip4/0.0.0.0/tcp/4001'])
    assert.deepEqual(config.swarmAnnounce, [])
    assert.equal(config.bootstrap, undefined, 'undefined: the peers of bootstrap.json')
    assert.equal(config.swarmKey, undefined)
    assert.deepEqual(config.trustedPeers, [])
    assert.equal(config.cacheSize, 10 * 1024 ** 3)
    assert.equal(config.fetchTimeout, 30_000)
    assert.equal(config.noFetch, false)
    assert.equal(config.peerQuota, 100 * 1024 ** 3)
    assert.equal(config.repairGrace, 600_000)
    assert.equal(config.repairInterval, 30_000)
    assert.equal(config.repairRate, 10)
  })

  it('reads the swarm settings from the environment, config.json (lists and switches too) and flags', async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'fdn-config-'))
    const [a, b] = [await newPeerId(), await newPeerId()]
    const env = {
      FDN_DATA: data,
      FDN_SWARM_LISTEN: '/ip4/127.0.0.1/tcp/0',
      FDN_BOOTSTRAP: `/ip4/127.0.0.1/tcp/4001/p2p/${a}`,
      FDN_SWARM_KEY: 'swarm.key',
      FDN_TRUSTED_PEERS: `${a},${b},${a}`,
      FDN_CACHE_SIZE: '1GB',
      FDN_FETCH_TIMEOUT: '5s',
      FDN_NO_FETCH: 'yes',
      FDN_PEER_QUOTA: '5GB',
      FDN_REPAIR_GRACE: '1m',
      FDN_REPAIR_INTERVAL: '500ms',
      FDN_REPAIR_RATE: '100'
    }
    const fromEnv = loadConfig({ env, flags: {} })
    assert.deepEqual(fromEnv.swarmListen, ['/ip4/127.0.0.1/tcp/0'])
    assert.deepEqual(fromEnv.bootstrap, [`/ip4/127.0.0.1/tcp/4001/p2p/${a}`])
    assert.equal(fromEnv.swarmKey, path.resolve('swarm.key'))
    assert.deepEqual(fromEnv.trustedPeers, [a, b])
    assert.equal(fromEnv.cacheSize, 1024 ** 3)
    assert.equal(fromEnv.fetchTimeout, 5000)
    assert.equal(fromEnv.noFetch, true)
    assert.equal(fromEnv.peerQuota, 5 * 1024 ** 3)
    assert.equal(fromEnv.repairGrace, 60_000)
    assert.equal(fromEnv.repairInterval, 500)
    assert.equal(fromEnv.repairRate, 100)

    await writeFile(path.join(data, 'config.json'), JSON.stringify({ trustedPeers: [b], noFetch: false, bootstrap: [], swarmListen: ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0'] }))
    const fromFile = loadConfig({ env, flags: {} })
    assert.deepEqual(fromFile.trustedPeers, [b])
    assert.equal(fromFile.noFetch, false)
    assert.deepEqual(fromFile.bootstrap, [], 'an empty list in config.json means no bootstrap peers')
    assert.deepEqual(fromFile.swarmListen, ['/ip4/127.0.0.1/tcp/0', '/ip6/::1/tcp/0'])

    const fromFlags = loadConfig({ env, flags: { noFetch: 'true', trustedPeers: '' } })
    assert.equal(fromFlags.noFetch, true)
    assert.deepEqual(fromFlags.trustedPeers, [])
  })

  it('names a bad swarm setting and its source in one line', async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'fdn-config-'))
    const id = await newPeerId()
    const cases: Array<[Record<string, string>, RegExp]> = [
      [{ FDN_SWARM_LISTEN: '/ip4/0.0.0.0/udp/4001' }, /^invalid FDN_SWARM_LISTEN \(environment\): expected a TCP listen multiaddr/],
      [{ FDN_SWARM_LISTEN: 'tcp://0.0.0.0:4001' }, /^invalid FDN_SWARM_LISTEN \(environment\): expected a multiaddr/],
      [{ FDN_BOOTSTRAP: '/ip4/203.0.113.7/tcp/4001' }, /^invalid FDN_BOOTSTRAP \(environment\): expected a peer address ending in \/p2p\/<peer id>/],
      [{ FDN_BOOTSTRAP: `/ip4/203.0.113.7/tcp/4001/p2p/${id}x` }, /^invalid FDN_BOOTSTRAP \(environment\): .*is not a peer ID/],
      [{ FDN_TRUSTED_PEERS: `${id},nobody` }, /^invalid FDN_TRUSTED_PEERS \(environment\): expected a peer ID such as 12D3KooW…, got 'nobody'$/],
      [{ FDN_NO_FETCH: 'maybe' }, /^invalid FDN_NO_FETCH \(environment\): expected one of 1, 0, true, false, yes, no/],
      [{ FDN_CACHE_SIZE: 'huge' }, /^invalid FDN_CACHE_SIZE \(environment\): expected a size/],
      [{ FDN_FETCH_TIMEOUT: '30' }, /^invalid FDN_FETCH_TIMEOUT \(environment\): expected a duration/],
      [{ FDN_PEER_QUOTA: '-1GB' }, /^invalid FDN_PEER_QUOTA \(environment\): expected a size/],
      [{ FDN_REPAIR_GRACE: 'later' }, /^invalid FDN_REPAIR_GRACE \(environment\): expected a duration/],
      [{ FDN_REPAIR_INTERVAL: '-5s' }, /^invalid FDN_REPAIR_INTERVAL \(environment\): expected a duration/],
      [{ FDN_REPAIR_RATE: '0' }, /^invalid FDN_REPAIR_RATE \(environment\): expected a whole number from 1 to 10000/],
      [{ FDN_REPAIR_RATE: '10001' }, /^invalid FDN_REPAIR_RATE \(environment\): expected a whole number from 1 to 10000/]
    ]
    for (const [vars, message] of cases) {
      assert.throws(() => loadConfig({ env: { FDN_DATA: data, ...vars }, flags: {} }),
        (err: Error) => err instanceof ConfigError && message.test(err.message) && !err.message.includes('\n'), JSON.stringify(vars))
    }
    assert.throws(() => loadConfig({ env: { FDN_DATA: data }, flags: { noFetch: 'sometimes' } }), { message: /^invalid --fetch-disabled \(flag\): expected one of/ })
    await writeFile(path.join(data, 'config.json'), JSON.stringify({ trustedPeers: [1, 2] }))
    assert.throws(() => loadConfig({ env: { FDN_DATA: data }, flags: {} }), /setting 'trustedPeers' must be a string, a number, true\/false or a list of strings/)
    await writeFile(path.join(data, 'config.json'), JSON.stringify({ trustedPeers: ['nobody'] }))
    assert.throws(() => loadConfig({ env: { FDN_DATA: data }, flags: {} }), { message: /^invalid trustedPeers \(.*config\.json\): expected a peer ID/ })
  })

  it('layers environment < config file < flags', async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'fdn-config-'))
    const env = { FDN_DATA: data, FDN_MAX_OBJECT_SIZE: '1MB', FDN_BLOCK_CACHE: '1MB', FDN_LOG_LEVEL: 'debug' }
    await writeFile(path.join(data, 'config.json'), JSON.stringify({ maxObjectSize: '2MB', blockCache: 4096 }))
    const config = loadConfig({ env, flags: { maxObjectSize: '3MB' } })
    assert.equal(config.maxObjectSize, 3 * 1024 ** 2, 'flag beats file')
    assert.equal(config.blockCache, 4096, 'file beats environment')
    assert.equal(config.logLevel, 'debug', 'environment beats default')
  })

  it('names the setting and its source in one line when a value is bad', async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'fdn-config-'))
    assert.throws(() => loadConfig({ env: { FDN_DATA: data, FDN_HTTP_LISTEN: 'nonsense' }, flags: {} }),
      (err: Error) => err instanceof ConfigError && /^invalid FDN_HTTP_LISTEN \(environment\): expected host:port/.test(err.message) && !err.message.includes('\n'))
    assert.throws(() => loadConfig({ env: { FDN_DATA: data }, flags: { logLevel: 'loud' } }), { message: /^invalid --log-level \(flag\): expected one of/ })
    await writeFile(path.join(data, 'config.json'), JSON.stringify({ maxObjectSise: '1MB' }))
    assert.throws(() => loadConfig({ env: { FDN_DATA: data }, flags: {} }), /unknown setting 'maxObjectSise'/)
    await writeFile(path.join(data, 'config.json'), '{ not json')
    assert.throws(() => loadConfig({ env: { FDN_DATA: data }, flags: {} }), /is not valid JSON/)
  })

  it('reports FDN_* variables that name no setting', () => {
    assert.deepEqual(unknownEnvironment({ FDN_DATA: 'x', FDN_REPLICAZ: '3', HOME: '/root' }), [{ variable: 'FDN_REPLICAZ', suggestion: 'FDN_REPLICAS' }])
    const swarm = ['FDN_SWARM_LISTEN', 'FDN_SWARM_ANNOUNCE', 'FDN_BOOTSTRAP', 'FDN_SWARM_KEY', 'FDN_TRUSTED_PEERS', 'FDN_CACHE_SIZE', 'FDN_FETCH_TIMEOUT', 'FDN_NO_FETCH', 'FDN_PEER_QUOTA', 'FDN_REPAIR_GRACE', 'FDN_REPAIR_INTERVAL', 'FDN_REPAIR_RATE']
    assert.deepEqual(unknownEnvironment(Object.fromEntries(swarm.map(name => [name, 'x']))), [])
  })

  it('suggests the setting a misspelt FDN_* variable most likely means, and none for a name far from all', () => {
    const suggested = (name: string): string | undefined => unknownEnvironment({ [name]: 'x' })[0]?.suggestion
    assert.equal(suggested('FDN_LOG_LEVL'), 'FDN_LOG_LEVEL') // a dropped letter
    assert.equal(suggested('FDN_TRUSTED_PERES'), 'FDN_TRUSTED_PEERS') // two letters swapped
    assert.equal(suggested('FDN_LOGLEVEL'), 'FDN_LOG_LEVEL')
    assert.equal(suggested('FDN_log_level'), 'FDN_LOG_LEVEL')
    assert.equal(suggested('FDN_HTTP_LISTN'), 'FDN_HTTP_LISTEN')
    assert.equal(suggested('FDN_MAX_OBJ_SIZE'), 'FDN_MAX_OBJECT_SIZE')
    assert.equal(suggested('FDN_ADMIN_TOKEN'), undefined)
    assert.equal(suggested('FDN_FOO'), undefined)
    assert.equal(editDistance('ca', 'abc'), 3)
    assert.equal(editDistance('abcd', 'acbd'), 1)
    assert.equal(editDistance('', 'abc'), 3)
  })
})

describe('docs/configuration.md', () => {
  it('has a row for every setting with its key, variable, flag and default', async () => {
    const doc = await readFile(path.join(ROOT, 'docs/configuration.md'), 'utf8')
    for (const setting of SETTINGS) {
      const row = doc.split('\n').find(line => line.startsWith('| ') && line.includes(`| \`${setting.env}\` |`))
      assert.ok(row != null, `no row for ${setting.env}`)
      const cells = row.split(' | ').map(cell => cell.trim())
      assert.equal(cells[0], setting.key === 'data' ? '| —' : `| \`${setting.key}\``, `key of ${setting.env}`)
      assert.equal(cells[2], `\`${setting.flag}\``, `flag of ${setting.env}`)
      if (setting.default != null && setting.default !== '') assert.equal(cells[3], `\`${setting.default}\``, `default of ${setting.env}`)
    }
  })
})
