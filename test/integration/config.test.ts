// `fdn start` configuration: a bad value stops start-up with one line naming
// the setting; environment < $FDN_DATA/config.json < flags.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { readdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { adminFetch, runCli, startDaemon, tempDir } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'

const LOOPBACK = { FDN_HTTP_LISTEN: '127.0.0.1:0', FDN_ADMIN_LISTEN: '127.0.0.1:0' }

/** Runs `fdn start` expecting it to refuse: returns its one stderr line. */
async function refusedStart (env: Record<string, string>, args: string[] = [], config?: string): Promise<string> {
  const dataDir = await tempDir()
  if (config != null) await writeFile(path.join(dataDir, 'config.json'), config)
  const result = await runCli(['start', ...args], { FDN_DATA: dataDir, ...LOOPBACK, ...env }, undefined, { timeoutMs: 10_000 })
  assert.notEqual(result.code, 0, `start should fail (${JSON.stringify(env)} ${args.join(' ')}); output:\n${result.stdout}${result.stderr}`)
  assert.ok(result.code != null, 'start exited by itself rather than being killed by the timeout')
  const lines = result.stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `exactly one line on stderr, got:\n${result.stderr}`)
  assert.match(lines[0] ?? '', /^fdn: /)
  assert.ok(!(await readdir(dataDir)).includes('daemon.json'), 'no daemon.json of a daemon that never ran')
  return lines[0] ?? ''
}

describe('fdn start refuses bad configuration with one line naming the setting', () => {
  const cases: Array<{ name: string, env?: Record<string, string>, args?: string[], config?: string, names: RegExp }> = [
    { name: 'FDN_HTTP_LISTEN=nonsense', env: { FDN_HTTP_LISTEN: 'nonsense' }, names: /FDN_HTTP_LISTEN.*nonsense/ },
    { name: 'FDN_ADMIN_LISTEN port out of range', env: { FDN_ADMIN_LISTEN: '127.0.0.1:70000' }, names: /FDN_ADMIN_LISTEN.*70000/ },
    { name: 'FDN_MAX_OBJECT_SIZE=lots', env: { FDN_MAX_OBJECT_SIZE: 'lots' }, names: /FDN_MAX_OBJECT_SIZE.*lots/ },
    { name: 'FDN_MIN_FREE_SPACE negative', env: { FDN_MIN_FREE_SPACE: '-5MB' }, names: /FDN_MIN_FREE_SPACE/ },
    { name: 'FDN_SHUTDOWN_TIMEOUT=forever', env: { FDN_SHUTDOWN_TIMEOUT: 'forever' }, names: /FDN_SHUTDOWN_TIMEOUT.*forever/ },
    { name: 'FDN_LOG_LEVEL=loud', env: { FDN_LOG_LEVEL: 'loud' }, names: /FDN_LOG_LEVEL.*loud/ },
    { name: 'FDN_PUBLIC_URL not a URL', env: { FDN_PUBLIC_URL: 'ftp://x' }, names: /FDN_PUBLIC_URL/ },
    { name: 'unknown key in config.json', config: '{ "maxObjectSise": "1MB" }', names: /config\.json.*maxObjectSise/ },
    { name: 'bad value in config.json', config: '{ "maxObjectSize": "lots" }', names: /maxObjectSize.*config\.json.*lots/ },
    { name: 'config.json is not JSON', config: '{ maxObjectSize: 1', names: /config\.json.*not valid JSON/ },
    { name: 'config.json is not an object', config: '[1, 2]', names: /config\.json/ },
    { name: '--max-object-size lots', args: ['--max-object-size', 'lots'], names: /--max-object-size.*lots/ },
    { name: '--http-listen without a port', args: ['--http-listen', 'localhost'], names: /--http-listen.*localhost/ }
  ]
  for (const c of cases) {
    it(c.name, async () => {
      assert.match(await refusedStart(c.env ?? {}, c.args ?? [], c.config), c.names)
    })
  }

  it('an unknown flag is refused and named', async () => {
    const dataDir = await tempDir()
    const result = await runCli(['start', '--max-objekt-size', '1MB'], { FDN_DATA: dataDir, ...LOOPBACK }, undefined, { timeoutMs: 10_000 })
    assert.notEqual(result.code, 0)
    assert.ok(result.code != null)
    assert.match(result.stderr.split('\n')[0] ?? '', /--max-objekt-size/)
  })

  it('a listen address in use is one line naming it', async () => {
    const server = createServer()
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    try {
      const { port } = server.address() as AddressInfo
      const line = await refusedStart({ FDN_ADMIN_LISTEN: `127.0.0.1:${port}` })
      assert.match(line, new RegExp(`cannot listen.*127\\.0\\.0\\.1:${port}`))
    } finally {
      await new Promise(resolve => server.close(resolve))
    }
  })
})

describe('configuration precedence: environment < config.json < flags', () => {
  /** Whether the daemon takes an upload of `size` bytes (201) or refuses it as too large (413). */
  async function accepts (daemon: RunningDaemon, size: number): Promise<boolean> {
    const response = await adminFetch(daemon, '/admin/v1/blobs', { method: 'POST', body: randomBytes(size) })
    const body = await response.json() as { error?: { code: string } }
    if (response.status === 413) {
      assert.equal(body.error?.code, 'too_large')
      return false
    }
    assert.equal(response.status, 201, JSON.stringify(body))
    return true
  }

  it('maxObjectSize from each source, the stronger one winning', async () => {
    const dataDir = await tempDir()
    const env = { FDN_MAX_OBJECT_SIZE: '1KB' }

    let daemon = await startDaemon({ dataDir, env })
    try {
      assert.equal(await accepts(daemon, 1024), true, 'env: 1 KiB fits')
      assert.equal(await accepts(daemon, 1025), false, 'env: 1 KiB + 1 does not')
    } finally { assert.equal(await daemon.stop(), 0) }

    await writeFile(path.join(dataDir, 'config.json'), JSON.stringify({ maxObjectSize: '2KB' }))
    daemon = await startDaemon({ dataDir, env })
    try {
      assert.equal(await accepts(daemon, 2048), true, 'config.json overrides the environment')
      assert.equal(await accepts(daemon, 2049), false, 'config.json: 2 KiB + 1 does not fit')
    } finally { assert.equal(await daemon.stop(), 0) }

    daemon = await startDaemon({ dataDir, env, args: ['--max-object-size', '3072'] })
    try {
      assert.equal(await accepts(daemon, 3072), true, 'the flag overrides config.json')
      assert.equal(await accepts(daemon, 3073), false, 'flag: 3 KiB + 1 does not fit')
    } finally { assert.equal(await daemon.stop(), 0) }
  })

  it('a bad environment value does not matter when config.json sets the setting, but a bad flag does', async () => {
    const dataDir = await tempDir()
    await writeFile(path.join(dataDir, 'config.json'), JSON.stringify({ maxObjectSize: 2048 }))
    const daemon = await startDaemon({ dataDir, env: { FDN_MAX_OBJECT_SIZE: 'lots' } })
    try {
      assert.equal(await accepts(daemon, 2049), false)
    } finally { assert.equal(await daemon.stop(), 0) }
    const result = await runCli(['start', '--max-object-size', 'plenty'], { FDN_DATA: dataDir, ...LOOPBACK }, undefined, { timeoutMs: 10_000 })
    assert.notEqual(result.code, 0)
    assert.match(result.stderr, /^fdn: [^\n]*--max-object-size[^\n]*plenty[^\n]*\n$/)
  })

  it('the listen addresses come from flags over the environment', async () => {
    const daemon = await startDaemon({ env: { FDN_HTTP_LISTEN: 'nonsense' }, args: ['--http-listen', '127.0.0.1:0'] })
    try {
      const response = await fetch(`${daemon.http}/healthz`)
      assert.equal(response.status, 200)
      await response.arrayBuffer()
    } finally { assert.equal(await daemon.stop(), 0) }
  })
})
