// The `fdn` executable (bin/fdn.js) as a user runs it: with the machine's own
// Node first on PATH (Node 20 here, which cannot run the TypeScript), from
// another directory, in a pipe its reader closes early, under signals as a
// service manager sends them; `npm run fdn` with paths relative to where it
// was typed; usage errors of every command exiting 2; the pretty log format.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { execFile, execFileSync, spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import type { Command } from 'commander'
import { CID } from 'multiformats/cid'
import { sha256 } from 'multiformats/hashes/sha2'
import { createProgram } from '../../node/cli/program.ts'
import { VERSION } from '../../node/version.ts'
import type { DaemonRecord } from '../../protocol/admin-api.ts'
import { ROOT, runCli, startDaemon, tempDir } from '../helpers/daemon.ts'
import type { CliResult, RunningDaemon } from '../helpers/daemon.ts'

const LAUNCHER = path.join(ROOT, 'bin/fdn.js')
/** A real 1×1 PNG. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==', 'base64')

/** PATH without the project's node_modules/.bin (which npm and the test runner put first), and the first `name` on it. */
const MACHINE_PATH = (process.env.PATH ?? '').split(path.delimiter).filter(dir => dir !== '' && !dir.includes('node_modules')).join(path.delimiter)
function onMachinePath (name: string): string | undefined {
  for (const dir of MACHINE_PATH.split(path.delimiter)) {
    const file = path.join(dir, name)
    try {
      accessSync(file, constants.X_OK)
      return file
    } catch {}
  }
  return undefined
}
const MACHINE_NODE = onMachinePath('node')
const MACHINE_NPM = onMachinePath('npm')
const MACHINE_NODE_VERSION = MACHINE_NODE == null ? undefined : execFileSync(MACHINE_NODE, ['--version'], { encoding: 'utf8' }).trim()
const noMachineNode = MACHINE_NODE == null ? 'no node on the machine\'s PATH outside node_modules' : false

/** The environment of a user's shell: the machine's PATH (its Node first), no npm variables. */
function userEnv (extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {}
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith('npm_') && name !== 'INIT_CWD' && !name.startsWith('FDN_')) env[name] = value
  return { ...env, PATH: MACHINE_PATH, FDN_LOG_LEVEL: 'warn', ...extra }
}

/** Runs `fdn` (the launcher, by its shebang) as a user's shell would. */
async function fdn (args: string[], options: { cwd?: string, env?: Record<string, string> } = {}): Promise<CliResult> {
  return await new Promise((resolve) => {
    execFile(LAUNCHER, args, { cwd: options.cwd, env: userEnv(options.env), encoding: 'utf8', timeout: 60_000, killSignal: 'SIGKILL' }, (error, stdout, stderr) => {
      resolve({ code: error == null ? 0 : (typeof error.code === 'number' ? error.code : null), stdout, stderr })
    })
  })
}

/** A shell pipeline `fdn ARGS | READER`: fdn's exit code and what it wrote to stderr, and what the reader printed. */
async function piped (args: string[], reader: string, env: Record<string, string>): Promise<{ code: number, stderr: string, read: string }> {
  const dir = await tempDir('fdn-pipe-')
  const script = `"$FDN" "$@" 2>"$DIR/stderr" | ${reader} >"$DIR/read"; echo "\${PIPESTATUS[0]}" >"$DIR/code"`
  execFileSync('/bin/bash', ['-c', script, 'pipeline', ...args], { env: { ...userEnv(env), FDN: LAUNCHER, DIR: dir }, timeout: 60_000 })
  const [code, stderr, read] = await Promise.all(['code', 'stderr', 'read'].map(async name => await readFile(path.join(dir, name), 'utf8')))
  await rm(dir, { recursive: true, force: true })
  return { code: Number(code), stderr: stderr ?? '', read: read ?? '' }
}

async function rawCid (bytes: Uint8Array): Promise<string> {
  return CID.createV1(0x55, await sha256.digest(bytes)).toString()
}

describe('the fdn executable on the machine\'s Node', { skip: noMachineNode }, () => {
  let daemon: RunningDaemon
  let home: string

  before(async () => {
    home = await tempDir('fdn-user-')
    await mkdir(path.join(home, 'sub'))
    await writeFile(path.join(home, 'photo.png'), PNG)
    daemon = await startDaemon({ dataDir: path.join(home, 'data') })
  })
  after(async () => { assert.equal(await daemon?.stop(), 0) })

  it(`runs on the machine's ${MACHINE_NODE_VERSION ?? ''} with its own Node 24: fdn --version`, async () => {
    const shell = execFileSync('/usr/bin/env', ['node', '--version'], { env: userEnv(), encoding: 'utf8' }).trim()
    assert.equal(shell, MACHINE_NODE_VERSION, 'the shebang finds the machine\'s node')
    const result = await fdn(['--version'])
    assert.deepEqual(result, { code: 0, stdout: `${VERSION}\n`, stderr: '' })
  })

  it('fdn status --json | head -c 10 exits 0 with nothing on stderr, and so does a reader that reads nothing', async () => {
    const env = { FDN_DATA: daemon.dataDir }
    const head = await piped(['status', '--json'], 'head -c 10', env)
    assert.deepEqual(head, { code: 0, stderr: '', read: '{"version"' })
    // `true` exits at once: fdn's write meets a closed pipe (EPIPE) every time
    for (const args of [['status', '--json'], ['status'], ['swarm-key'], ['--help']]) {
      const closed = await piped(args, 'true', env)
      assert.deepEqual({ code: closed.code, stderr: closed.stderr }, { code: 0, stderr: '' }, `fdn ${args.join(' ')} | true`)
    }
  })

  it('cd sub && fdn add ../photo.png: paths are the user\'s, relative to where fdn runs', async () => {
    const expected = await rawCid(PNG)
    const sub = path.join(home, 'sub')
    const byFlag = await fdn(['add', '../photo.png', '--data', '../data'], { cwd: sub })
    assert.equal(byFlag.code, 0, byFlag.stderr)
    assert.equal(byFlag.stdout.split('\t')[0], expected)
    const byEnv = await fdn(['add', '--json', '../photo.png'], { cwd: sub, env: { FDN_DATA: '../data' } })
    assert.equal(byEnv.code, 0, byEnv.stderr)
    assert.equal((JSON.parse(byEnv.stdout) as { cid: string }).cid, expected)
    const missing = await fdn(['add', './photo.png', '--data', '../data'], { cwd: sub })
    assert.deepEqual({ code: missing.code, stderr: missing.stderr }, { code: 1, stderr: 'fdn: no such file: ./photo.png\n' })
  })

  it('npm run fdn -- add ./photo.png resolves paths against the directory npm was run in (INIT_CWD), not the package', { skip: MACHINE_NPM == null ? 'no npm on the machine' : false }, async () => {
    const result = await new Promise<CliResult>((resolve) => {
      execFile(MACHINE_NPM ?? 'npm', ['--prefix', ROOT, 'run', '--silent', 'fdn', '--', 'add', './photo.png', '--data', './data', '--json'], { cwd: home, env: userEnv(), encoding: 'utf8', timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error == null ? 0 : (typeof error.code === 'number' ? error.code : null), stdout, stderr })
      })
    })
    assert.equal(result.code, 0, result.stderr)
    assert.equal((JSON.parse(result.stdout) as { cid: string, created: boolean }).cid, await rawCid(PNG))
  })

  it('passes a usage error\'s exit code 2 on', async () => {
    const result = await fdn(['frob'])
    assert.equal(result.code, 2)
    assert.match(result.stderr, /unknown command 'frob'/)
  })
})

describe('fdn start under the launcher, stopped as systemd and docker stop it', { skip: noMachineNode }, () => {
  interface Launched { process: ChildProcess, output: () => string, exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>, record: DaemonRecord }

  async function launch (): Promise<Launched> {
    const dataDir = await tempDir()
    const child = spawn(LAUNCHER, ['start'], {
      env: userEnv({ FDN_DATA: dataDir, FDN_HTTP_LISTEN: '127.0.0.1:0', FDN_ADMIN_LISTEN: '127.0.0.1:0', FDN_SWARM_LISTEN: '/ip4/127.0.0.1/tcp/0', FDN_MIN_FREE_SPACE: '0', FDN_LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>(resolve => child.once('exit', (code, signal) => { resolve({ code, signal }) }))
    const deadline = Date.now() + 30_000
    while (Date.now() < deadline) {
      if (child.exitCode != null) throw new Error(`fdn start exited with ${child.exitCode}:\n${output}`)
      const record = await readFile(path.join(dataDir, 'daemon.json'), 'utf8').then(text => JSON.parse(text) as DaemonRecord, () => undefined)
      if (record != null) return { process: child, output: () => output, exited, record }
      await sleep(50)
    }
    child.kill('SIGKILL')
    throw new Error(`fdn start did not become ready in 30 s:\n${output}`)
  }

  it('passes SIGTERM and SIGINT on to the node, which stops cleanly: exit 0', async () => {
    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      const launched = await launch()
      assert.notEqual(launched.record.pid, launched.process.pid, 'the node is a process of its own')
      assert.equal((await fetch(`${launched.record.http}/healthz`)).status, 200)
      launched.process.kill(signal)
      assert.deepEqual(await launched.exited, { code: 0, signal: null }, launched.output())
      assert.match(launched.output(), /"msg":"fdn node stopped"/)
      // stdout is no terminal: JSON logs, one object a line
      for (const line of launched.output().trimEnd().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line)
      assert.throws(() => { process.kill(launched.record.pid, 0) }, { code: 'ESRCH' }, 'the node is gone')
    }
  })

  it('dies of the signal that killed the node', async () => {
    const launched = await launch()
    process.kill(launched.record.pid, 'SIGKILL')
    assert.deepEqual(await launched.exited, { code: null, signal: 'SIGKILL' })
  })
})

describe('usage errors exit 2 in every command', () => {
  /** Every command a user can type, as its words: `tenant add`, `status`… */
  function commandPaths (command: Command, prefix: string[] = []): string[][] {
    return command.commands.flatMap(sub => {
      const words = [...prefix, sub.name()]
      return sub.commands.length > 0 ? [words, ...commandPaths(sub, words)] : [words]
    })
  }
  const program = createProgram({ startDaemon: async () => { throw new Error('not started in this test') } })
  const paths = commandPaths(program)

  async function usageErrors (cases: string[][], env: Record<string, string> = {}): Promise<void> {
    const results: Array<[string[], CliResult]> = []
    for (let i = 0; i < cases.length; i += 4) {
      const batch = cases.slice(i, i + 4)
      results.push(...(await Promise.all(batch.map(async args => await runCli(args, env)))).map((result, j) => [batch[j] ?? [], result] as [string[], CliResult]))
    }
    for (const [args, result] of results) {
      assert.equal(result.code, 2, `fdn ${args.join(' ')}: exit ${result.code}\n${result.stderr}`)
      assert.equal(result.stdout, '', `fdn ${args.join(' ')} printed to stdout`)
      assert.notEqual(result.stderr, '', `fdn ${args.join(' ')} says nothing`)
    }
  }

  it(`unknown options, of each of the ${paths.length} commands`, async () => {
    assert.ok(paths.some(words => words.join(' ') === 'tenant add') && paths.some(words => words.join(' ') === 'start'), paths.map(words => words.join(' ')).join(', '))
    await usageErrors(paths.map(words => [...words, '--no-such-option']))
  })

  it('missing and extra arguments, unknown commands, a command group without its command', async () => {
    const missing = paths.filter(words => {
      let command: Command = program
      for (const word of words) command = command.commands.find(sub => sub.name() === word) ?? command
      return command.registeredArguments.some(argument => argument.required)
    })
    assert.ok(missing.length >= 6, missing.map(words => words.join(' ')).join(', '))
    await usageErrors([
      ...missing,
      ['add', 'a', 'b'], ['status', 'extra'],
      ['frob'], ['tenant', 'frob'], ['tenant'], ['relay'],
      ['start', '--log-level']
    ])
  })

  it('bad values, checked by the command or refused by the daemon', async () => {
    const daemon = await startDaemon()
    try {
      await usageErrors([
        ['start', '--replicas', 'zero'], ['start', '--log-format', 'loud'], ['start', '--http-listen', 'nowhere'],
        ['recover', '--wait', 'soon'], ['relay', 'add', 'https://relay.example/inbox', '--wait', 'soon'],
        ['tenant', 'add', 'ok-name', '--replicas', '0'], ['tenant', 'set', 'ok-name'],
        ['tenant', 'add', 'Not_A_Name'], ['tenant', 'add', 'ok-name', '--quota', 'banana'],
        ['relay', 'add', 'not a url']
      ], { FDN_DATA: daemon.dataDir })
    } finally {
      assert.equal(await daemon.stop(), 0)
    }
  })
})

describe('human logs', () => {
  it('FDN_LOG_FORMAT=pretty: one readable line an event, local times, secrets still taken out', async () => {
    const daemon = await startDaemon({ env: { FDN_LOG_FORMAT: 'pretty', FDN_LOG_LEVEL: 'info' } })
    const signature = 'f3a1c9e8b2d74a6051e9c3b8a7d6e5f40123456789abcdef0123456789abcdef'
    assert.equal((await fetch(`${daemon.http}/healthz?X-Amz-Signature=${signature}`)).status, 200)
    const stoppedAt = new Date()
    assert.equal(await daemon.stop(), 0)
    const lines = daemon.output().trimEnd().split('\n')
    const event = /^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.\d{3} (TRACE|DEBUG|INFO |WARN |ERROR|FATAL) \S/
    for (const line of lines) assert.match(line, event)
    const started = lines.find(line => line.includes(' INFO  fdn node started '))
    assert.ok(started != null, lines.join('\n'))
    assert.match(started, / peerId=12D3KooW\w+ http=http:\/\/127\.0\.0\.1:\d+ /)
    const request = lines.find(line => line.includes(' INFO  request '))
    assert.match(request ?? '', / method=GET url="\/healthz\?X-Amz-Signature=\[redacted\]" status=200 ms=\d+/)
    assert.ok(!daemon.output().includes(signature))
    // local time, not UTC: the last line was written within a minute before the stop
    const last = event.exec(lines.at(-1) ?? '')?.[1] ?? ''
    const [date = '', time = ''] = last.split(' ')
    const [y, mo, d] = date.split('-').map(Number)
    const [h, mi, s] = time.split(':').map(Number)
    const written = new Date(y ?? 0, (mo ?? 1) - 1, d, h, mi, s)
    assert.ok(Math.abs(stoppedAt.getTime() - written.getTime()) < 60_000, `${last} is not the local time (${stoppedAt.toString()})`)
  })

  it('without FDN_LOG_FORMAT, logs are pretty on a terminal', { skip: onMachinePath('script') == null ? 'no script(1) for a terminal' : false }, async () => {
    const dataDir = await tempDir()
    // script(1) gives fdn a terminal; its output is what the terminal showed
    const command = `exec ${JSON.stringify(process.execPath)} ${JSON.stringify(path.join(ROOT, 'bin/fdn.ts'))} start`
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      env: userEnv({ FDN_DATA: dataDir, FDN_HTTP_LISTEN: '127.0.0.1:0', FDN_ADMIN_LISTEN: '127.0.0.1:0', FDN_SWARM_LISTEN: '/ip4/127.0.0.1/tcp/0', FDN_MIN_FREE_SPACE: '0', FDN_LOG_LEVEL: 'info' }),
      stdio: ['pipe', 'pipe', 'pipe']
    })
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString() })
    const exited = new Promise(resolve => child.once('exit', resolve))
    try {
      const deadline = Date.now() + 30_000
      while (!output.includes('fdn node started') && Date.now() < deadline && child.exitCode == null) await sleep(50)
      const record = JSON.parse(await readFile(path.join(dataDir, 'daemon.json'), 'utf8')) as DaemonRecord
      process.kill(record.pid, 'SIGTERM')
      await exited
    } finally {
      child.kill('SIGKILL')
    }
    // eslint-disable-next-line no-control-regex
    const plain = output.replace(/\u001b\[\d+m/g, '')
    assert.match(plain, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO  fdn node started /m)
    assert.ok(output.includes('\u001b[32mINFO \u001b[39m'), 'the level is coloured on a terminal')
    assert.ok(!output.includes('{"level"'), output)
  })
})
