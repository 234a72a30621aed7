// `npm run simulate`, small: 3 real nodes, 9 instances, 15 posts. The goals of
// issue 5 must hold (transfer ≤ (servers + 1) × media + 5 %, storage ≤
// replicas × media + 5 %), and the flags must be checked.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { ROOT } from '../helpers/daemon.ts'

const SIMULATE = path.join(ROOT, 'bench/simulate.ts')

interface Run {
  code: number | null
  stdout: string
  stderr: string
}

async function simulate (args: string[], timeoutMs = 120_000): Promise<Run> {
  return await new Promise((resolve) => {
    execFile(process.execPath, [SIMULATE, ...args], { encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGTERM', maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      resolve({ code: error == null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr })
    })
  })
}

test('a small simulation meets both goals and prints the JSON object last', async () => {
  const servers = 3
  const instances = 9
  const posts = 15
  const run = await simulate(['--servers', String(servers), '--instances', String(instances), '--posts', String(posts), '--json'])
  assert.equal(run.code, 0, `exit ${run.code}\nstdout:\n${run.stdout}\nstderr:\n${run.stderr}`)
  const lines = run.stdout.trim().split('\n')
  const result = JSON.parse(lines.at(-1)!) as {
    servers: number
    instances: number
    posts: number
    replicas: number
    mediaBytes: number
    v1: { transferBytes: number, storageBytes: number }
    fdn: { transferBytes: number, originBytes: number, swarmBytes: number, storageBytes: number }
    sources: { local: number, swarm: number, origin: number, failed: number }
    goals: Record<'transfer' | 'storage' | 'correct', { pass: boolean }>
  }
  assert.deepEqual([result.servers, result.instances, result.posts, result.replicas], [servers, instances, posts, 2])
  for (const field of ['mediaBytes', 'v1.transferBytes', 'v1.storageBytes', 'fdn.transferBytes', 'fdn.originBytes', 'fdn.swarmBytes', 'fdn.storageBytes']) {
    const value = field.split('.').reduce<unknown>((object, key) => (object as Record<string, unknown>)[key], result)
    assert.ok(typeof value === 'number' && Number.isFinite(value) && value >= 0, `${field} is ${String(value)}`)
  }
  const media = result.mediaBytes
  assert.ok(media > 0)
  assert.equal(result.v1.transferBytes, 2 * instances * media)
  assert.equal(result.v1.storageBytes, instances * media)
  assert.equal(result.fdn.transferBytes, result.fdn.originBytes + result.fdn.swarmBytes)
  // the goals, checked here from the figures themselves
  assert.ok(result.fdn.transferBytes <= (servers + 1) * media * 1.05, `transfer ${result.fdn.transferBytes} > (servers + 1) × ${media} + 5 %`)
  assert.ok(result.fdn.storageBytes <= result.replicas * media * 1.05, `storage ${result.fdn.storageBytes} > replicas × ${media} + 5 %`)
  // every attachment left its origin at least once, and every copy was kept
  assert.ok(result.fdn.originBytes >= media, `origins sent ${result.fdn.originBytes} < ${media}`)
  assert.ok(result.fdn.storageBytes >= result.replicas * media * 0.99, `storage ${result.fdn.storageBytes} < replicas × ${media}`)
  assert.equal(result.sources.failed, 0)
  assert.ok(result.sources.origin > 0 && result.sources.swarm > 0 && result.sources.local > 0, JSON.stringify(result.sources))
  assert.deepEqual(Object.values(result.goals).map(goal => goal.pass), [true, true, true])
})

test('--help describes the flags and exits 0', async () => {
  const run = await simulate(['--help'], 30_000)
  assert.equal(run.code, 0, run.stderr)
  for (const flag of ['--servers', '--instances', '--posts', '--replicas', '--seed', '--json']) assert.match(run.stdout, new RegExp(flag))
})

test('a bad flag is one line on stderr and exit status 2', async () => {
  for (const args of [['--servers', '0'], ['--servers', '4', '--instances', '3'], ['--posts', 'many'], ['--no-such-flag']]) {
    const run = await simulate(args, 30_000)
    assert.equal(run.code, 2, `${args.join(' ')}: exit ${run.code}\n${run.stderr}`)
    assert.equal(run.stdout, '')
    const lines = run.stderr.trim().split('\n')
    assert.equal(lines.length, 1, `${args.join(' ')}: ${run.stderr}`)
    assert.match(lines[0]!, /^error: /)
  }
})
