// Finds (or installs, with apt-get) the anchors and the load generator: nginx,
// wrk (autocannon from node_modules as a fallback), openssl, taskset.
import { access, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { ROOT, run, step, which } from './proc.ts'

export interface Tool {
  path: string
  version: string
}

export interface Tools {
  nginx: (Tool & { configure: string }) | undefined
  loadgen: (Tool & { kind: 'wrk' | 'autocannon' }) | undefined
  openssl: Tool | undefined
  taskset: string | undefined
  /** Why a tool is missing, or how it was obtained. */
  notes: string[]
}

export interface ToolOptions {
  /** May the bench run apt-get (root only)? */
  install: boolean
  /** Tools to treat as absent and not install (BENCH_PRETEND_MISSING, to try the not-measured paths). */
  pretendMissing: string[]
}

export async function findTools (options: ToolOptions): Promise<Tools> {
  const notes: string[] = []
  const find = async (name: string): Promise<string | undefined> => options.pretendMissing.includes(name) ? undefined : await which(name)
  let nginxPath = await find('nginx')
  let wrkPath = await find('wrk')
  const missing: Array<{ binary: string, packages: string[] }> = []
  if (nginxPath == null && !options.pretendMissing.includes('nginx')) missing.push({ binary: 'nginx', packages: ['nginx-light', 'nginx'] })
  if (wrkPath == null && !options.pretendMissing.includes('wrk')) missing.push({ binary: 'wrk', packages: ['wrk'] })
  for (const name of options.pretendMissing) notes.push(`${name}: treated as missing (BENCH_PRETEND_MISSING)`)
  if (missing.length > 0) {
    if (!options.install) {
      notes.push(`not installing ${missing.map(m => m.binary).join(', ')}: BENCH_INSTALL=0`)
    } else {
      for (const { binary, packages } of missing) {
        const installed = await aptInstall(packages, notes)
        if (installed != null) notes.push(`${binary}: installed Debian package ${installed} with apt-get`)
      }
      nginxPath ??= await find('nginx')
      wrkPath ??= await find('wrk')
    }
  }

  let nginx: Tools['nginx']
  if (nginxPath != null) {
    const v = await run(nginxPath, ['-V'])
    const text = `${v.stderr}${v.stdout}`
    nginx = { path: nginxPath, version: /nginx version: (\S+)/.exec(text)?.[1] ?? 'unknown', configure: text }
  } else {
    notes.push('nginx not found and not installable: the nginx anchors are NOT MEASURED')
  }

  let loadgen: Tools['loadgen']
  if (wrkPath != null) {
    const v = await run(wrkPath, ['-v'])
    loadgen = { kind: 'wrk', path: wrkPath, version: /wrk (\S+)/.exec(`${v.stdout}${v.stderr}`)?.[1] ?? 'unknown' }
  } else {
    const autocannon = path.join(ROOT, 'node_modules', '.bin', 'autocannon')
    try {
      if (options.pretendMissing.includes('autocannon')) throw new Error('pretend')
      await access(autocannon)
      const pkg = JSON.parse(await readFile(path.join(ROOT, 'node_modules', 'autocannon', 'package.json'), 'utf8')) as { version: string }
      loadgen = { kind: 'autocannon', path: autocannon, version: pkg.version }
      notes.push('wrk unavailable: using autocannon from node_modules (single-threaded JS client; figures are not comparable with wrk runs)')
    } catch {
      notes.push('no load generator: wrk is not installable and autocannon is not in node_modules: the gateway benchmarks are NOT MEASURED')
    }
  }

  let openssl: Tool | undefined
  const opensslPath = await find('openssl')
  if (opensslPath != null) {
    const v = await run(opensslPath, ['version'])
    openssl = { path: opensslPath, version: v.stdout.trim() }
  } else {
    notes.push('openssl not found: the ingest anchor is NOT MEASURED')
  }

  return { nginx, loadgen, openssl, taskset: await which('taskset'), notes }
}

/** Installs the first installable package of `candidates`; runs `apt-get update` once if none is found. */
async function aptInstall (candidates: string[], notes: string[]): Promise<string | undefined> {
  const apt = await which('apt-get')
  if (apt == null) {
    notes.push(`apt-get not found: cannot install ${candidates.join(' or ')}`)
    return undefined
  }
  if (process.getuid?.() !== 0) {
    notes.push(`not root: cannot apt-get install ${candidates.join(' or ')}`)
    return undefined
  }
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  // a package's maintainer scripts must not start a system nginx on port 80: without a
  // policy-rc.d (Docker images ship one) a temporary one forbids service starts
  const policy = '/usr/sbin/policy-rc.d'
  let ownPolicy = false
  try {
    await access(policy)
  } catch {
    await writeFile(policy, '#!/bin/sh\n# written by fdn bench/tools.ts during apt-get install; removed after\nexit 101\n', { mode: 0o755 })
    ownPolicy = true
  }
  try {
    return await aptInstallWith(apt, env, candidates, notes)
  } finally {
    if (ownPolicy) await rm(policy, { force: true })
  }
}

async function aptInstallWith (apt: string, env: NodeJS.ProcessEnv, candidates: string[], notes: string[]): Promise<string | undefined> {
  for (const attempt of ['cached lists', 'after apt-get update']) {
    if (attempt !== 'cached lists') {
      step('apt-get update')
      const update = await run(apt, ['update'], { env, timeoutMs: 180_000 })
      if (update.code !== 0) {
        notes.push(`apt-get update failed: ${lastLine(update.stderr)}`)
        return undefined
      }
    }
    for (const pkg of candidates) {
      step(`apt-get install -y --no-install-recommends ${pkg} (${attempt})`)
      // service start-up is left to policy-rc.d; nginx is started by the bench on its own config only
      const result = await run(apt, ['install', '-y', '--no-install-recommends', pkg], { env, timeoutMs: 300_000 })
      if (result.code === 0) return pkg
      notes.push(`apt-get install ${pkg} (${attempt}) failed: ${lastLine(result.stderr)}`)
    }
  }
  return undefined
}

function lastLine (text: string): string {
  const lines = text.trim().split('\n')
  return lines[lines.length - 1] ?? ''
}
