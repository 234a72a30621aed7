// The HTTP load generator: wrk (a Lua `done` hook prints exact totals as JSON),
// or autocannon from node_modules when wrk cannot be had.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import { run } from './proc.ts'

export interface LoadOptions {
  url: string
  connections: number
  threads: number
  durationSeconds: number
  /** Pin the load generator to these CPUs (through taskset). */
  cpu?: { taskset: string, list: string }
  /** Folder for the wrk Lua script. */
  workDir: string
}

export interface LoadResult {
  requests: number
  bytes: number
  seconds: number
  requestsPerSecond: number
  bytesPerSecond: number
  /** Connect, read, write errors, timeouts and non-2xx/3xx answers: should be 0. */
  errors: number
  latencyMs: { mean: number, p50: number, p99: number, max: number }
  /** The command line, for the report. */
  command: string
}

export interface LoadGenerator {
  kind: 'wrk' | 'autocannon'
  path: string
}

/** Prints one machine-readable line with the exact totals (wrk's own summary rounds them). */
export const WRK_LUA = `-- written by bench/wrk.ts
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"bytes":%d,"duration_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"latency_us":{"mean":%.1f,"p50":%d,"p99":%d,"max":%d}}\\n',
    summary.requests, summary.bytes, summary.duration,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency:percentile(50), latency:percentile(99), latency.max))
end
`

interface WrkJson {
  requests: number
  bytes: number
  duration_us: number
  errors: { connect: number, read: number, write: number, status: number, timeout: number }
  latency_us: { mean: number, p50: number, p99: number, max: number }
}

/** Reads the WRK_JSON line of a wrk run. */
export function parseWrk (stdout: string): Omit<LoadResult, 'command'> {
  const line = stdout.split('\n').find(l => l.startsWith('WRK_JSON '))
  if (line == null) throw new Error(`wrk printed no WRK_JSON line:\n${stdout}`)
  const json = JSON.parse(line.slice('WRK_JSON '.length)) as WrkJson
  const seconds = json.duration_us / 1e6
  const e = json.errors
  return {
    requests: json.requests,
    bytes: json.bytes,
    seconds,
    requestsPerSecond: json.requests / seconds,
    bytesPerSecond: json.bytes / seconds,
    errors: e.connect + e.read + e.write + e.status + e.timeout,
    latencyMs: {
      mean: json.latency_us.mean / 1000,
      p50: json.latency_us.p50 / 1000,
      p99: json.latency_us.p99 / 1000,
      max: json.latency_us.max / 1000
    }
  }
}

interface AutocannonJson {
  requests: { total: number }
  throughput: { total: number }
  duration: number
  errors: number
  timeouts: number
  non2xx: number
  latency: { average: number, p50: number, p99: number, max: number }
}

export function parseAutocannon (stdout: string): Omit<LoadResult, 'command'> {
  const json = JSON.parse(stdout) as AutocannonJson
  return {
    requests: json.requests.total,
    bytes: json.throughput.total,
    seconds: json.duration,
    requestsPerSecond: json.requests.total / json.duration,
    bytesPerSecond: json.throughput.total / json.duration,
    errors: json.errors + json.timeouts + json.non2xx,
    latencyMs: { mean: json.latency.average, p50: json.latency.p50, p99: json.latency.p99, max: json.latency.max }
  }
}

export async function load (generator: LoadGenerator, options: LoadOptions): Promise<LoadResult> {
  let args: string[]
  if (generator.kind === 'wrk') {
    const script = path.join(options.workDir, 'report.lua')
    await writeFile(script, WRK_LUA)
    args = [`-t${options.threads}`, `-c${options.connections}`, `-d${options.durationSeconds}s`, '--timeout', '30s', '-s', script, options.url]
  } else {
    args = ['-c', String(options.connections), '-w', String(options.threads), '-d', String(options.durationSeconds), '-t', '30', '-j', options.url]
  }
  const [command, argv] = options.cpu != null
    ? [options.cpu.taskset, ['-c', options.cpu.list, generator.path, ...args]]
    : [generator.path, args]
  const shown = [command, ...argv].map(a => a.startsWith(options.workDir) ? path.basename(a) : a).join(' ')
  const result = await run(command, argv, { timeoutMs: (options.durationSeconds + 60) * 1000 })
  if (result.code !== 0) throw new Error(`${shown} exited with ${result.code}: ${result.stderr}${result.stdout}`)
  const parsed = generator.kind === 'wrk' ? parseWrk(result.stdout) : parseAutocannon(result.stdout)
  return { ...parsed, command: shown }
}
