// The swarm's configuration files: bootstrap.json (and FDN_BOOTSTRAP) and the
// pre-shared key of FDN_SWARM_KEY, including the key `fdn swarm-key` writes.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { chmod, readFile, stat, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { preSharedKey } from '@libp2p/pnet'
import { BOOTSTRAP_FILE, readBootstrapFile, resolveBootstrap } from '../../node/config/bootstrap.ts'
import { ConfigError } from '../../node/config/load.ts'
import { readSwarmKey } from '../../node/config/swarm-key.ts'
import { ROOT, runCli, tempDir } from '../helpers/daemon.ts'

const HEX = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90'

async function newPeerId (): Promise<string> {
  return peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
}

function isConfigError (pattern: RegExp): (err: unknown) => boolean {
  return (err: unknown) => err instanceof ConfigError && pattern.test(err.message) && !err.message.includes('\n')
}

/** libp2p accepts the key: its connection protector decodes it. */
function libp2pAccepts (psk: Uint8Array): boolean {
  const protector = preSharedKey({ psk })() as unknown as { psk: Uint8Array }
  return protector.psk.byteLength === 32
}

describe('bootstrap', () => {
  it('uses the setting when set, even an empty one', async () => {
    const id = await newPeerId()
    const peers = [`/ip4/127.0.0.1/tcp/4001/p2p/${id}`]
    assert.deepEqual(await resolveBootstrap({ bootstrap: peers }, '/nonexistent/bootstrap.json'), peers)
    assert.deepEqual(await resolveBootstrap({ bootstrap: [] }, '/nonexistent/bootstrap.json'), [])
  })

  it('falls back to bootstrap.json at the repository root', async () => {
    assert.equal(BOOTSTRAP_FILE, path.join(ROOT, 'bootstrap.json'))
    const shipped = JSON.parse(await readFile(BOOTSTRAP_FILE, 'utf8')) as { swarm: string, peers: string[] }
    assert.deepEqual(await resolveBootstrap({ bootstrap: undefined }), shipped.peers)
    assert.equal((await readBootstrapFile()).swarm, shipped.swarm)
  })

  it('reads the peers of a bootstrap file, canonical and deduplicated', async () => {
    const [a, b] = [await newPeerId(), await newPeerId()]
    const file = path.join(await tempDir(), 'bootstrap.json')
    await writeFile(file, JSON.stringify({ swarm: 'test', peers: [`/ip4/10.0.0.1/tcp/4001/p2p/${a}`, `/dns4/fdn.example.org/tcp/4001/p2p/${b}`, `/ip4/10.0.0.1/tcp/4001/p2p/${a}`] }))
    assert.deepEqual(await resolveBootstrap({ bootstrap: undefined }, file), [`/ip4/10.0.0.1/tcp/4001/p2p/${a}`, `/dns4/fdn.example.org/tcp/4001/p2p/${b}`])
  })

  it('refuses a bad bootstrap file with one line naming it', async () => {
    const id = await newPeerId()
    const dir = await tempDir()
    const file = path.join(dir, 'bootstrap.json')
    const cases: Array<[string, RegExp]> = [
      ['{ nope', /bootstrap\.json is not valid JSON/],
      ['[]', /bootstrap\.json must hold a JSON object/],
      [JSON.stringify({ peers: [] }), /bootstrap\.json: "swarm" must be/],
      [JSON.stringify({ swarm: 'x', peers: 'one' }), /bootstrap\.json: "peers" must be a list/],
      [JSON.stringify({ swarm: 'x', peers: [42] }), /bootstrap\.json: peers\[0\] must be a string/],
      [JSON.stringify({ swarm: 'x', peers: [`/ip4/10.0.0.1/tcp/4001/p2p/${id}`, '/ip4/10.0.0.2/tcp/4001'] }), /bootstrap\.json: peers\[1\]: expected a peer address ending in \/p2p\/<peer id>/],
      [JSON.stringify({ swarm: 'x', peers: ['/ip4/10.0.0.2/tcp/4001/p2p/nobody'] }), /bootstrap\.json: peers\[0\]: .*'nobody' is not a peer ID/],
      [JSON.stringify({ swarm: 'x', peers: ['10.0.0.2:4001'] }), /bootstrap\.json: peers\[0\]: expected a multiaddr/]
    ]
    for (const [text, pattern] of cases) {
      await writeFile(file, text)
      await assert.rejects(resolveBootstrap({ bootstrap: undefined }, file), isConfigError(new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`)), text)
      await assert.rejects(resolveBootstrap({ bootstrap: undefined }, file), isConfigError(pattern), text)
    }
    await assert.rejects(resolveBootstrap({ bootstrap: undefined }, path.join(dir, 'missing.json')), isConfigError(/missing\.json is missing: restore it, or set FDN_BOOTSTRAP/))
  })
})

describe('readSwarmKey', () => {
  it('returns the file as it is, with or without a final newline, LF or CRLF', async () => {
    const dir = await tempDir()
    for (const text of [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}`, `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n`, `/key/swarm/psk/1.0.0/\r\n/base16/\r\n${HEX.toUpperCase()}\r\n`]) {
      const file = path.join(dir, 'swarm.key')
      await writeFile(file, text)
      const key = await readSwarmKey(file)
      assert.ok(key instanceof Uint8Array)
      assert.equal(Buffer.from(key).toString('utf8'), text)
      assert.ok(libp2pAccepts(key), JSON.stringify(text))
    }
  })

  it('refuses a missing, unreadable or malformed key file with one line naming it', async () => {
    const dir = await tempDir()
    const file = path.join(dir, 'swarm.key')
    await assert.rejects(readSwarmKey(file), isConfigError(/^swarm key .*swarm\.key does not exist \(FDN_SWARM_KEY; make one with 'fdn swarm-key <file>'\)$/))
    await assert.rejects(readSwarmKey(dir), isConfigError(/^swarm key .* is not a file/))
    const cases: Array<[string, RegExp]> = [
      ['', /line 1 must be \/key\/swarm\/psk\/1\.0\.0\//],
      [`/key/swarm/psk/2.0.0/\n/base16/\n${HEX}`, /line 1 must be \/key\/swarm\/psk\/1\.0\.0\//],
      [`/key/swarm/psk/1.0.0/\n/base64/\n${HEX}`, /line 2 must be \/base16\//],
      ['/key/swarm/psk/1.0.0/\n/base16/\n', /line 3 must be the key in 64 hexadecimal digits/],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(2)}`, /line 3 must be the key in 64 hexadecimal digits/],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(2)}zz`, /line 3 must be the key in 64 hexadecimal digits/],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n\n`, /more than 3 lines/],
      [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\nextra`, /more than 3 lines/],
      ['x'.repeat(5000), /too large/]
    ]
    for (const [text, pattern] of cases) {
      await writeFile(file, text)
      await assert.rejects(readSwarmKey(file), isConfigError(/^swarm key .*swarm\.key is not a libp2p swarm key: /), JSON.stringify(text))
      await assert.rejects(readSwarmKey(file), isConfigError(pattern), JSON.stringify(text))
    }
    if (process.getuid?.() !== 0) {
      await writeFile(file, `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n`)
      await chmod(file, 0o000)
      await assert.rejects(readSwarmKey(file), isConfigError(/^cannot read swarm key .*swarm\.key: /))
    }
  })
})

describe('fdn swarm-key', () => {
  it('writes a new key with mode 0600 that readSwarmKey and libp2p accept, and never overwrites it', async () => {
    const dir = await tempDir()
    const file = path.join(dir, 'swarm.key')
    const made = await runCli(['swarm-key', file])
    assert.equal(made.code, 0, made.stderr)
    assert.match(made.stdout, new RegExp(`FDN_SWARM_KEY=${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`))
    assert.match(made.stdout, /cannot connect/)
    assert.equal((await stat(file)).mode & 0o777, 0o600)
    const key = await readSwarmKey(file)
    assert.ok(libp2pAccepts(key))
    const before = await readFile(file)

    const again = await runCli(['swarm-key', file])
    assert.equal(again.code, 1)
    assert.match(again.stderr, /^fdn: .*swarm\.key already exists: a swarm key is never overwritten/)
    assert.equal(again.stderr.trimEnd().split('\n').length, 1, again.stderr)
    assert.deepEqual(await readFile(file), before, 'the existing key is untouched')

    const other = path.join(dir, 'other.key')
    const json = await runCli(['swarm-key', other, '--json'])
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual(JSON.parse(json.stdout), { file: other, created: true })
    assert.notDeepEqual(await readFile(other), before, 'every key is new')
  })

  it('prints a key when no file is given', async () => {
    const printed = await runCli(['swarm-key'])
    assert.equal(printed.code, 0, printed.stderr)
    assert.match(printed.stdout, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    const file = path.join(await tempDir(), 'printed.key')
    await writeFile(file, printed.stdout)
    assert.ok(libp2pAccepts(await readSwarmKey(file)))

    const json = await runCli(['swarm-key', '--json'])
    assert.equal(json.code, 0, json.stderr)
    const { key } = JSON.parse(json.stdout) as { key: string }
    assert.match(key, /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
  })

  it('says why it cannot write', async () => {
    const result = await runCli(['swarm-key', path.join(await tempDir(), 'no', 'such', 'dir', 'swarm.key')])
    assert.equal(result.code, 1)
    assert.match(result.stderr, /^fdn: cannot write .*: its directory does not exist\n$/)
  })

  it('documents how to use the key in its help', async () => {
    const help = await runCli(['swarm-key', '--help'])
    assert.equal(help.code, 0)
    assert.match(help.stdout, /FDN_SWARM_KEY/)
    assert.match(help.stdout, /--json/)
  })
})
