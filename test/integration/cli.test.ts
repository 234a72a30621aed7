// The `fdn` CLI against a real daemon: init, add, status, discovery of the
// daemon, errors without one, --help, and the admin API's bearer token.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, readFile, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { adminFetch, blockFiles, runCli, startDaemon, tempDir } from '../helpers/daemon.ts'
import type { CliResult, RunningDaemon } from '../helpers/daemon.ts'

/** A real 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64')
const PEER_ID = /12D3KooW[1-9A-HJ-NP-Za-km-z]{44}/

/** The CID of a file of at most 1 MiB: one raw block named by its SHA-256. */
async function rawCid (bytes: Uint8Array): Promise<string> {
  return CID.createV1(0x55, await sha256.digest(bytes)).toString()
}

/** A loopback port nothing listens on. */
async function freePort (): Promise<number> {
  const server = createServer()
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as AddressInfo
  await new Promise(resolve => server.close(resolve))
  return port
}

function oneLine (stderr: string): string {
  const lines = stderr.trimEnd().split('\n')
  assert.equal(lines.length, 1, `expected exactly one line on stderr, got:\n${stderr}`)
  return lines[0] ?? ''
}

describe('fdn init', () => {
  it('creates the identity, a 0600 admin token and a config file, and says to back up identity.key', async () => {
    const dataDir = path.join(await tempDir(), 'node')
    const first = await runCli(['init'], { FDN_DATA: dataDir })
    assert.equal(first.code, 0, first.stderr)
    const peerId = PEER_ID.exec(first.stdout)?.[0]
    assert.ok(peerId != null, `no peer ID in:\n${first.stdout}`)
    assert.match(first.stdout, /back up/i)
    assert.ok(first.stdout.includes(path.join(dataDir, 'identity.key')), 'names the file to back up')
    for (const file of ['identity.key', 'admin.token']) {
      const info = await stat(path.join(dataDir, file))
      assert.equal(info.mode & 0o777, 0o600, `${file} mode ${(info.mode & 0o777).toString(8)}`)
      assert.ok(info.size > 0, `${file} is empty`)
    }
    const config: unknown = JSON.parse(await readFile(path.join(dataDir, 'config.json'), 'utf8'))
    assert.equal(typeof config, 'object')
    const key = await readFile(path.join(dataDir, 'identity.key'))
    const token = await readFile(path.join(dataDir, 'admin.token'), 'utf8')
    assert.ok(token.trim().length >= 32, 'the token is long enough to be a secret')

    // again, with --data instead of FDN_DATA and --json: the same node
    const second = await runCli(['init', '--data', dataDir, '--json'])
    assert.equal(second.code, 0, second.stderr)
    const result = JSON.parse(second.stdout) as { peerId: string, createdIdentity: boolean, dataDir: string }
    assert.equal(result.peerId, peerId)
    assert.equal(result.createdIdentity, false)
    assert.equal(result.dataDir, dataDir)
    assert.ok((await readFile(path.join(dataDir, 'identity.key'))).equals(key), 'identity.key unchanged')
    assert.equal(await readFile(path.join(dataDir, 'admin.token'), 'utf8'), token, 'admin.token unchanged')

    // the daemon started on that directory is that node
    const daemon = await startDaemon({ dataDir })
    try {
      const status = await runCli(['status', '--json'], { FDN_DATA: dataDir })
      assert.equal(status.code, 0, status.stderr)
      assert.equal((JSON.parse(status.stdout) as { peerId: string }).peerId, peerId)
    } finally {
      assert.equal(await daemon.stop(), 0)
    }
  })

  it('refuses a damaged identity.key with one line instead of replacing it', async () => {
    const dataDir = await tempDir()
    await writeFile(path.join(dataDir, 'identity.key'), 'not a key', { mode: 0o600 })
    const [init, start] = await Promise.all([
      runCli(['init'], { FDN_DATA: dataDir }),
      // bounded so a start that does not refuse fails the test; loading alone takes seconds on a busy machine
      runCli(['start'], { FDN_DATA: dataDir, FDN_HTTP_LISTEN: '127.0.0.1:0', FDN_ADMIN_LISTEN: '127.0.0.1:0' }, undefined, { timeoutMs: 30_000 })
    ])
    for (const result of [init, start]) {
      assert.notEqual(result.code, 0)
      assert.match(oneLine(result.stderr), /identity\.key is not a libp2p private key/)
    }
    assert.equal(await readFile(path.join(dataDir, 'identity.key'), 'utf8'), 'not a key')
  })
})

describe('fdn add and fdn status against a running daemon', () => {
  let daemon: RunningDaemon
  let files: string
  const env = (): Record<string, string> => ({ FDN_DATA: daemon.dataDir })

  before(async () => {
    daemon = await startDaemon()
    files = await tempDir('fdn-files-')
  })
  after(async () => { assert.equal(await daemon.stop(), 0) })

  it('status of an empty node', async () => {
    const result = await runCli(['status', '--json'], env())
    assert.equal(result.code, 0, result.stderr)
    const status = JSON.parse(result.stdout) as Record<string, unknown> & { addresses: { http: string, admin: string, swarm: string[] } }
    assert.match(String(status.peerId), PEER_ID)
    assert.equal(status.addresses.http, daemon.http)
    assert.equal(status.addresses.admin, daemon.admin)
    assert.ok(status.addresses.swarm.length > 0 && status.addresses.swarm.every(address => address.endsWith(`/p2p/${String(status.peerId)}`)), status.addresses.swarm.join(', '))
    assert.equal(status.objects, 0)
    assert.equal(status.blobs, 0)
    assert.equal(status.logicalBytes, 0)
    assert.equal(status.physicalBytes, 0)
    const human = await runCli(['status'], env())
    assert.equal(human.code, 0, human.stderr)
    assert.ok(human.stdout.includes(String(status.peerId)))
  })

  it('prints the CID; detects the media type from the bytes, not the name; dedupes', async () => {
    const file = path.join(files, 'x.txt')
    await writeFile(file, PNG)
    const expected = await rawCid(PNG)

    const plain = await runCli(['add', file], env())
    assert.equal(plain.code, 0, plain.stderr)
    assert.equal(plain.stdout.split(/\s/)[0], expected)

    const before = JSON.parse((await runCli(['status', '--json'], env())).stdout) as Record<string, number>
    const again = await runCli(['add', '--json', file], env())
    assert.equal(again.code, 0, again.stderr)
    const added = JSON.parse(again.stdout) as Record<string, unknown>
    assert.equal(added.cid, expected)
    assert.equal(added.size, PNG.length)
    assert.equal(added.mediaType, 'image/png')
    assert.equal(added.created, false)
    const afterStatus = JSON.parse((await runCli(['status', '--json'], env())).stdout) as Record<string, number>
    assert.equal(afterStatus.blobs, before.blobs)
    assert.equal(afterStatus.physicalBytes, before.physicalBytes)
    assert.equal(afterStatus.logicalBytes, before.logicalBytes)

    const served = await fetch(`${daemon.http}/ipfs/${expected}`)
    assert.equal(served.status, 200)
    assert.equal(served.headers.get('content-type'), 'image/png')
    assert.ok(Buffer.from(await served.arrayBuffer()).equals(PNG))
  })

  it('adds from standard input with -', async () => {
    const bytes = randomBytes(5000)
    const result = await runCli(['add', '--json', '-'], env(), bytes)
    assert.equal(result.code, 0, result.stderr)
    const added = JSON.parse(result.stdout) as { cid: string, size: number, mediaType: string }
    assert.deepEqual({ cid: added.cid, size: added.size, mediaType: added.mediaType },
      { cid: await rawCid(bytes), size: 5000, mediaType: 'application/octet-stream' })
  })

  it('status counts blobs and bytes right, a multi-block file included', async () => {
    const sizes = [0, 1, 1024 * 1024 + 1, 3000]
    await Promise.all(sizes.map(async (size, i) => {
      const file = path.join(files, `f${i}.bin`)
      await writeFile(file, randomBytes(size))
      const result = await runCli(['add', '--json', file], env())
      assert.equal(result.code, 0, result.stderr)
      assert.equal((JSON.parse(result.stdout) as { size: number }).size, size)
    }))
    const status = JSON.parse((await runCli(['status', '--json'], env())).stdout) as Record<string, number>
    // PNG, the stdin file, and these four
    assert.equal(status.blobs, 6)
    assert.equal(status.objects, 0)
    assert.equal(status.logicalBytes, PNG.length + 5000 + sizes.reduce((a, b) => a + b, 0))
    const disk = await blockFiles(daemon.dataDir)
    // 1 MiB + 1 is two leaves and a root node: 7 blocks in all, more bytes than the files
    assert.equal(disk.count, 8)
    assert.equal(status.physicalBytes, disk.bytes)
    assert.ok(status.physicalBytes > status.logicalBytes)
  })

  it('a block two different files share is counted once in physicalBytes', async () => {
    const first = randomBytes(2 * 1024 * 1024 + 10)
    // the same first 1 MiB chunk, another tail: a truncated re-upload looks like this
    const second = Buffer.concat([first.subarray(0, 1024 * 1024), randomBytes(5000)])
    const a = path.join(files, 'first.bin')
    const b = path.join(files, 'second.bin')
    await writeFile(a, first)
    await writeFile(b, second)
    const before = JSON.parse((await runCli(['status', '--json'], env())).stdout) as Record<string, number>
    for (const file of [a, b]) assert.equal((await runCli(['add', file], env())).code, 0)
    const status = JSON.parse((await runCli(['status', '--json'], env())).stdout) as Record<string, number>
    assert.equal(status.blobs, (before.blobs ?? 0) + 2)
    assert.equal(status.logicalBytes, (before.logicalBytes ?? 0) + first.length + second.length)
    assert.equal(status.physicalBytes, (await blockFiles(daemon.dataDir)).bytes, 'physicalBytes is what the disk holds')
  })

  it('finds the daemon through FDN_ADMIN_LISTEN when $FDN_DATA has no daemon.json', async () => {
    const elsewhere = await tempDir()
    await copyFile(path.join(daemon.dataDir, 'admin.token'), path.join(elsewhere, 'admin.token'))
    const without = await runCli(['status', '--json'], { FDN_DATA: elsewhere })
    assert.equal(without.code, 3)
    const admin = new URL(daemon.admin)
    const result = await runCli(['status', '--json'], { FDN_DATA: elsewhere, FDN_ADMIN_LISTEN: admin.host })
    assert.equal(result.code, 0, result.stderr)
    assert.equal((JSON.parse(result.stdout) as { addresses: { admin: string } }).addresses.admin, daemon.admin)
    // a wildcard listen address is reached on loopback
    const wildcard = await runCli(['status', '--json'], { FDN_DATA: elsewhere, FDN_ADMIN_LISTEN: `0.0.0.0:${admin.port}` })
    assert.equal(wildcard.code, 0, wildcard.stderr)
  })

  it('a wrong admin token is one line and a non-zero exit', async () => {
    const elsewhere = await tempDir()
    await writeFile(path.join(elsewhere, 'admin.token'), 'wrong-token\n', { mode: 0o600 })
    const result = await runCli(['status'], { FDN_DATA: elsewhere, FDN_ADMIN_LISTEN: new URL(daemon.admin).host })
    assert.notEqual(result.code, 0)
    assert.match(oneLine(result.stderr), /token/)
  })

  it('a file that does not exist is one line and a non-zero exit', async () => {
    const result = await runCli(['add', path.join(files, 'nope.png')], env())
    assert.notEqual(result.code, 0)
    assert.match(oneLine(result.stderr), /no such file/)
  })

  it('verify and gc report on the store', async () => {
    const verify = await runCli(['verify', '--json'], env())
    assert.equal(verify.code, 0, verify.stderr)
    const report = JSON.parse(verify.stdout) as { blobs: number, blocks: number, ok: number, missing: unknown[], corrupt: unknown[] }
    // 8 blocks before, then 2 MiB + 10 (3 leaves and a root) and 1 MiB + 5000 (a shared leaf, its own tail and a root)
    assert.deepEqual({ ...report }, { blobs: 8, blocks: 15, ok: 15, missing: [], corrupt: [] })
    const gc = await runCli(['gc', '--json'], env())
    assert.equal(gc.code, 0, gc.stderr)
    assert.deepEqual(JSON.parse(gc.stdout), { blocksScanned: 14, blocksRemoved: 0, bytesFreed: 0 })
    // gc removed nothing anyone holds
    assert.equal((await blockFiles(daemon.dataDir)).count, 14)
    const again = await runCli(['verify'], env())
    assert.equal(again.code, 0, again.stderr)
  })
})

describe('CLI without a daemon', () => {
  it('says so in one line and exits non-zero, for every daemon command', async () => {
    const dataDir = await tempDir()
    assert.equal((await runCli(['init'], { FDN_DATA: dataDir })).code, 0)
    const file = path.join(dataDir, 'config.json')
    const commands = [['status'], ['status', '--json'], ['add', file], ['verify'], ['gc']]
    const results = await Promise.all(commands.map(async args => await runCli(args, { FDN_DATA: dataDir })))
    for (const [i, result] of results.entries()) {
      const args = commands[i]?.join(' ')
      assert.equal(result.code, 3, `${args}: ${result.stderr}`)
      assert.match(oneLine(result.stderr), /^fdn: no fdn daemon is running/, args)
      assert.equal(result.stdout, '')
    }
    // nothing listens at FDN_ADMIN_LISTEN
    const port = await freePort()
    const nothing = await runCli(['status'], { FDN_DATA: dataDir, FDN_ADMIN_LISTEN: `127.0.0.1:${port}` })
    assert.equal(nothing.code, 3)
    assert.match(oneLine(nothing.stderr), new RegExp(`^fdn: no fdn daemon answers at http://127\\.0\\.0\\.1:${port}`))
  })

  it('a daemon.json left by a killed daemon gives the same clear error', async () => {
    const daemon = await startDaemon()
    await daemon.kill()
    const record = await readFile(path.join(daemon.dataDir, 'daemon.json'), 'utf8').catch(() => undefined)
    assert.ok(record != null, 'SIGKILL leaves daemon.json behind')
    const result = await runCli(['status'], { FDN_DATA: daemon.dataDir })
    assert.equal(result.code, 3)
    assert.match(oneLine(result.stderr), /no fdn daemon answers at/)
  })

  it('a data directory that was never initialised', async () => {
    const dataDir = path.join(await tempDir(), 'missing')
    const result = await runCli(['status'], { FDN_DATA: dataDir })
    assert.notEqual(result.code, 0)
    assert.match(oneLine(result.stderr), /daemon/)
    // and the CLI did not create it
    await assert.rejects(stat(dataDir))
  })
})

describe('--help', () => {
  it('works for the program and every command', async () => {
    const top = await runCli(['--help'])
    assert.equal(top.code, 0, top.stderr)
    const commands = ['init', 'start', 'add', 'status', 'verify', 'gc']
    for (const command of commands) assert.match(top.stdout, new RegExp(`^\\s+${command}\\b`, 'm'), `--help lists ${command}`)
    const results = await Promise.all([...commands.map(async command => await runCli([command, '--help'])), runCli(['help', 'add'])])
    for (const [i, command] of commands.entries()) {
      const result = results[i] as CliResult
      assert.equal(result.code, 0, `${command} --help: ${result.stderr}`)
      assert.match(result.stdout, new RegExp(`^Usage: fdn ${command}`, 'm'))
      assert.match(result.stdout, /--help/)
    }
    const start = results[1] as CliResult
    for (const text of ['--http-listen', 'FDN_HTTP_LISTEN', '--admin-listen', '--max-object-size', 'FDN_MAX_OBJECT_SIZE', '--data']) {
      assert.ok(start.stdout.includes(text), `start --help mentions ${text}`)
    }
    const help = results[commands.length] as CliResult
    assert.equal(help.code, 0)
    assert.match(help.stdout, /Usage: fdn add/)
  })
})

describe('admin API authentication', () => {
  let daemon: RunningDaemon
  before(async () => { daemon = await startDaemon() })
  after(async () => { await daemon.stop() })

  it('answers 401 JSON without the right bearer token, and stores nothing', async () => {
    const attempts: Array<Record<string, string>> = [
      {},
      { authorization: 'Bearer wrong' },
      { authorization: `Bearer ${daemon.token}x` },
      { authorization: 'Bearer ' },
      { authorization: `Basic ${Buffer.from(`admin:${daemon.token}`).toString('base64')}` },
      { authorization: daemon.token }
    ]
    for (const headers of attempts) {
      for (const [method, route] of [['GET', '/admin/v1/status'], ['POST', '/admin/v1/blobs'], ['POST', '/admin/v1/gc'], ['POST', '/admin/v1/verify']] as const) {
        const response = await fetch(`${daemon.admin}${route}`, { method, headers, ...(route === '/admin/v1/blobs' ? { body: randomBytes(2000) } : {}) })
        assert.equal(response.status, 401, `${method} ${route} with ${JSON.stringify(headers)}`)
        assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
        const body = await response.json() as { error: { code: string, message: string } }
        assert.equal(body.error.code, 'unauthorized')
        assert.ok(body.error.message.length > 0)
        assert.ok(!JSON.stringify(body).includes(daemon.token), 'the token never leaks')
      }
    }
    assert.equal((await blockFiles(daemon.dataDir)).count, 0)
    const status = await (await adminFetch(daemon, '/admin/v1/status')).json() as { blobs: number }
    assert.equal(status.blobs, 0)
  })

  it('the admin API is not on the public listener', async () => {
    // on the public listener /admin/… is an S3 path (bucket "admin", a reserved name), and a bearer token no S3 credential
    const response = await fetch(`${daemon.http}/admin/v1/status`, { headers: { authorization: `Bearer ${daemon.token}` } })
    assert.equal(response.status, 400)
    const body = await response.text()
    assert.match(body, /<Code>InvalidArgument<\/Code>/)
    assert.doesNotMatch(body, /peerId/)
  })
})

describe('fdn init makes a data directory usable by start', () => {
  it('start on a directory made by init keeps its files', async () => {
    const dataDir = path.join(await tempDir(), 'a', 'b')
    await mkdir(path.dirname(dataDir), { recursive: true })
    const init = await runCli(['init', '--json'], { FDN_DATA: dataDir })
    assert.equal(init.code, 0, init.stderr)
    const token = await readFile(path.join(dataDir, 'admin.token'), 'utf8')
    const daemon = await startDaemon({ dataDir })
    assert.equal(daemon.token, token.trim())
    assert.equal(await daemon.stop(), 0)
  })
})
