// Writes BENCHMARKS.md: targets with PASS/FAIL, machine, versions, exact commands and parameters.
import { writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { GatewayCase, GatewayReport } from './gateway.bench.ts'
import type { IngestReport, IngestRun } from './ingest.bench.ts'
import { ROOT } from './proc.ts'

export interface Environment {
  date: string
  cpu: string
  cores: number
  memory: number
  kernel: string
  os: string
  loadAverage: number[]
  loadAverageEnd: number[]
  versions: Record<string, string>
  commit: string
  command: string
  settings: Record<string, string>
  toolNotes: string[]
}

export type Verdict = 'PASS' | 'FAIL' | 'NOT MEASURED' | 'reported'

export interface SummaryRow {
  id: string
  benchmark: string
  fdn: string
  anchor: string
  ratio: string
  target: string
  verdict: Verdict
}

const MiB = 1048576

export function mib (bytes: number): string {
  return Number.isFinite(bytes) ? `${(bytes / MiB).toFixed(1)} MiB` : 'n/a'
}

function rate (value: number, metric: GatewayCase['metric']): string {
  return metric === 'requestsPerSecond' ? `${Math.round(value).toLocaleString('en-US')} req/s` : `${mib(value)}/s`
}

function percent (ratio: number | undefined): string {
  return ratio == null ? 'n/a' : `${(ratio * 100).toFixed(0)} %`
}

export function summarize (gateway: GatewayReport | undefined, ingest: IngestReport | undefined): SummaryRow[] {
  const rows: SummaryRow[] = []
  if (gateway != null) {
    for (const [i, c] of gateway.cases.entries()) {
      const fdn = c.best.fdn
      const nginx = c.best.nginx
      rows.push({
        id: String(i + 1),
        benchmark: `${c.title}, ${gateway.params.connections} connections (${c.metric === 'requestsPerSecond' ? 'requests/s' : 'bytes/s'})`,
        fdn: fdn != null ? rate(fdn[c.metric], c.metric) : 'not measured',
        anchor: nginx != null ? `nginx ${rate(nginx[c.metric], c.metric)}` : 'not measured',
        ratio: percent(c.ratio),
        target: `fdn ≥ ${c.target * 100} % of nginx`,
        verdict: c.ratio == null ? 'NOT MEASURED' : c.ratio >= c.target ? 'PASS' : 'FAIL'
      })
    }
  }
  if (ingest != null) {
    const size = mib(ingest.params.bytes)
    const anchor = ingest.openssl
    for (const [letter, method] of [['a', 'cli'], ['b', 'api']] as const) {
      const run = ingest.runs.find(r => r.method === method)
      const label = method === 'cli' ? '`fdn add`' : 'the admin API directly'
      const ratio = run != null && anchor != null ? run.bytesPerSecond / anchor.bytesPerSecond : undefined
      rows.push({
        id: `3${letter}`,
        benchmark: `ingest of ${size} through ${label} (throughput)`,
        fdn: run != null ? `${mib(run.bytesPerSecond)}/s` : 'not measured',
        anchor: anchor != null ? `openssl dgst -sha256 ${mib(anchor.bytesPerSecond)}/s` : 'not measured',
        ratio: percent(ratio),
        target: 'none (reported)',
        verdict: run == null || anchor == null ? 'NOT MEASURED' : 'reported'
      })
      rows.push({
        id: `3${letter}`,
        benchmark: `daemon peak RSS (VmHWM) during ingest through ${label}`,
        fdn: run != null ? mib(run.hwm) : 'not measured',
        anchor: '—',
        ratio: '—',
        target: `< ${mib(ingest.params.rssLimit)}`,
        verdict: run == null || !Number.isFinite(run.hwm) ? 'NOT MEASURED' : run.hwm < ingest.params.rssLimit ? 'PASS' : 'FAIL'
      })
    }
  }
  return rows
}

export async function writeReport (env: Environment, gateway: GatewayReport | undefined, ingest: IngestReport | undefined, rows: SummaryRow[], totalSeconds: number): Promise<string> {
  const lines: string[] = []
  const out = (...more: string[]): void => { lines.push(...more) }
  out('# fdn benchmarks', '',
    `Written by \`${env.command}\` (bench/run.ts) on ${env.date}, in ${totalSeconds.toFixed(0)} s. The figures hold for the machine below only;`,
    'every fdn figure sits beside its anchor, measured in the same run on the same machine. Re-run the command to refresh this file.', '',
    '## Results', '',
    '| # | benchmark | fdn | anchor | fdn / anchor | target | result |',
    '| --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map(r => `| ${r.id} | ${r.benchmark} | ${r.fdn} | ${r.anchor} | ${r.ratio} | ${r.target} | **${r.verdict}** |`),
    '')
  if (gateway == null) out('Gateway benchmarks (1, 2): not run in this invocation (BENCH_ONLY).', '')
  if (ingest == null) out('Ingest benchmark (3): not run in this invocation (BENCH_ONLY).', '')

  out('## Machine', '',
    `- CPU: ${env.cpu}, ${env.cores} logical cores; memory ${mib(env.memory)}`,
    `- OS: ${env.os}, kernel ${env.kernel}`,
    `- load average (1, 5, 15 min) at the start: ${env.loadAverage.map(n => n.toFixed(2)).join(', ')}; at the end: ${env.loadAverageEnd.map(n => n.toFixed(2)).join(', ')} (other work on the machine perturbs the figures; the interleaved rounds and best-of-N damp it)`,
    '', '## Versions', '',
    ...Object.entries(env.versions).map(([name, version]) => `- ${name}: ${version}`),
    `- fdn source: ${env.commit}`,
    '', '## How it was run', '',
    `- Command: \`${env.command}\` with ${Object.entries(env.settings).map(([k, v]) => `${k}=${v}`).join(', ')}.`,
    '- The fdn daemon is a real `node bin/fdn.ts start` process with `FDN_LOG_LEVEL=warn` (the default, `info`, logs one line per request),',
    '  `FDN_HTTP_LISTEN=127.0.0.1:0`, `FDN_ADMIN_LISTEN=127.0.0.1:0`, `FDN_MIN_FREE_SPACE=0`, a fresh data directory under bench/.work/ and',
    '  every other setting at its default (block cache 128MB). Everything listens on 127.0.0.1 only.')
  if (env.toolNotes.length > 0) out(...env.toolNotes.map(n => `- Tools: ${n}`))

  if (gateway != null) {
    const p = gateway.params
    const first = gateway.cases.flatMap(c => c.runs)[0]
    out('', '### Gateway (1, 2)', '',
      `- Fixtures: a valid ${gateway.cases[0]?.size ?? 0}-byte RGB PNG of random pixels (fdn detects ${gateway.cases[0]?.mediaType ?? '?'}), and a ${gateway.cases[1]?.size ?? 0}-byte file`,
      `  made of an MP4 \`ftyp\` box (isom) and one \`mdat\` box of random bytes (fdn detects ${gateway.cases[1]?.mediaType ?? '?'}); the 20 MiB file is a DAG of 21 blocks (1 MiB chunks).`,
      '- Each is added to fdn through the admin API, then fetched once from each server and compared byte for byte (this also warms fdn\'s block cache:',
      '  the measured GETs are "cached" — blocks come from fdn\'s verified-block memory cache, nginx reads through the page cache with sendfile).',
      `- Per case, ${p.rounds} round(s) of: nginx then fdn, each a ${p.warmupSeconds} s warm-up run (discarded) then a ${p.durationSeconds} s measured run;`,
      '  the best measured run of each server counts (all runs are listed below).',
      `- Load: ${first?.result.command.replace(/-s \S+ /, '-s report.lua ') ?? '(not run)'} — keep-alive, ${p.connections} connections; report.lua only prints wrk's exact totals.`,
      p.pin
        ? '- CPU pinning (taskset): the server under test (fdn\'s every thread; nginx master and worker) on CPU 0, the load generator on CPU 1, so each server gets one core, like nginx\'s single worker.'
        : '- No CPU pinning: servers and load generator share all cores.')
    if (gateway.nginxConfig != null) out('- nginx configuration (port chosen at run time):', '', '```nginx', gateway.nginxConfig.trimEnd(), '```')
    out('', '| case | round | server | requests/s | MiB/s | latency p50 | p99 | max | errors |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    for (const c of gateway.cases) {
      for (const r of c.runs) {
        const l = r.result.latencyMs
        out(`| ${c.id} | ${r.round} | ${r.server} | ${Math.round(r.result.requestsPerSecond)} | ${(r.result.bytesPerSecond / MiB).toFixed(1)} | ${l.p50.toFixed(2)} ms | ${l.p99.toFixed(2)} ms | ${l.max.toFixed(1)} ms | ${r.result.errors} |`)
      }
    }
    for (const c of gateway.cases) for (const n of c.notMeasured) out(`- ${c.id}: NOT MEASURED — ${n}`)
  }

  if (ingest != null) {
    out('', '### Ingest (3)', '',
      `- Input: ${ingest.params.bytes} bytes of AES-CTR keystream (incompressible, no two 1 MiB chunks alike), in bench/.work/, read from the page cache`,
      '  by every contender (openssl runs first, twice, and warms it).',
      `- Anchor: \`${ingest.openssl?.command ?? 'openssl dgst -sha256 <file>'}\`, best of 2, wall time of the process.`,
      '- Each fdn run gets a fresh daemon and data directory (so nothing is deduplicated and VmHWM covers only start-up and this upload).',
      '  Peak RSS is the daemon\'s VmHWM from /proc/<pid>/status after the upload; VmRSS is also sampled every 50 ms.',
      '- `fdn add` is timed from spawning the CLI to its exit (so it includes Node start-up; '
        + `a 1-byte \`fdn add\` took ${ingest.cliOverheadSeconds?.toFixed(2) ?? 'n/a'} s).`,
      '- Admin API: the bench itself POSTs the file to `/admin/v1/blobs` with node:http, streamed from disk, timed until the JSON answer.',
      '', '| run | command | seconds | MiB/s | vs openssl | idle RSS | sampled peak RSS | VmHWM | sha256 = openssl |', '| --- | --- | --- | --- | --- | --- | --- | --- | --- |')
    if (ingest.openssl != null) out(`| openssl | \`${ingest.openssl.command}\` | ${ingest.openssl.seconds.toFixed(2)} | ${(ingest.openssl.bytesPerSecond / MiB).toFixed(1)} | 100 % | — | — | — | — |`)
    for (const r of ingest.runs) out(ingestRow(r, ingest))
    for (const n of ingest.notMeasured) out(`- NOT MEASURED — ${n}`)
  }

  const notes = [...(gateway?.notes ?? []), ...(ingest?.notes ?? [])]
  if (notes.length > 0) out('', '## Notes', '', ...notes.map(n => `- ${n}`))
  out('')
  const file = path.join(ROOT, 'BENCHMARKS.md')
  await writeFile(file, lines.join('\n'))
  return file
}

function ingestRow (r: IngestRun, ingest: IngestReport): string {
  const vs = ingest.openssl != null ? `${((r.bytesPerSecond / ingest.openssl.bytesPerSecond) * 100).toFixed(0)} %` : 'n/a'
  return `| ${r.method === 'cli' ? 'fdn add' : 'admin API'} | \`${r.command}\` | ${r.seconds.toFixed(2)} | ${(r.bytesPerSecond / MiB).toFixed(1)} | ${vs} | ${mib(r.idleRss)} | ${mib(r.sampledPeakRss)} | ${mib(r.hwm)} | ${r.digestMatches ? 'yes' : 'NO'} |`
}
