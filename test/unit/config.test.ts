import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { ConfigError, loadConfig, unknownEnvironment } from '../../node/config/load.ts'
import { parseDuration, parseListen, parseSize } from '../../node/config/values.ts'

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

describe('loadConfig', () => {
  it('uses the embedded defaults', async () => {
    const data = await mkdtemp(path.join(tmpdir(), 'fdn-config-'))
    const config = loadConfig({ env: { FDN_DATA: data }, flags: {} })
    assert.equal(config.data, data)
    assert.deepEqual(config.httpListen, { host: '0.0.0.0', port: 8080 })
    assert.deepEqual(config.adminListen, { host: '127.0.0.1', port: 8081 })
    assert.equal(config.maxObjectSize, 2 * 1024 ** 3)
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
    assert.deepEqual(unknownEnvironment({ FDN_DATA: 'x', FDN_REPLICAZ: '3', HOME: '/root' }), ['FDN_REPLICAZ'])
  })
})
