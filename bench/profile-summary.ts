// Summarises a V8 .cpuprofile (from BENCH_CPU_PROF=1): self time by function and by
// package, and inclusive time of fdn's own functions.
// Usage: node bench/profile-summary.ts <file.cpuprofile> [top=25]
import { readFile } from 'node:fs/promises'

interface ProfileNode {
  id: number
  callFrame: { functionName: string, url: string, lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
  startTime: number
  endTime: number
}

export function where (url: string): string {
  if (url === '') return '(native/V8)'
  if (url.startsWith('node:')) return 'node internals'
  const modules = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (modules != null) return modules[1] ?? url
  const own = /\/(bin|node|gateway|protocol|bench|test)\/(.*)$/.exec(url)
  return own != null ? `fdn ${own[1]}/${own[2]}` : url
}

export function summarise (profile: Profile, top = 25): string {
  const byId = new Map(profile.nodes.map(n => [n.id, n]))
  const parent = new Map<number, number>()
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
  const self = new Map<number, number>()
  for (let i = 0; i < profile.samples.length; i++) {
    const id = profile.samples[i] ?? -1
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }
  const total = [...self.values()].reduce((a, b) => a + b, 0)
  const byFunction = new Map<string, number>()
  const byPackage = new Map<string, number>()
  const inclusive = new Map<string, number>()
  for (const [id, us] of self) {
    const node = byId.get(id)
    if (node == null) continue
    const f = node.callFrame
    const key = `${f.functionName === '' ? '(anonymous)' : f.functionName}  ${where(f.url)}:${f.lineNumber + 1}`
    byFunction.set(key, (byFunction.get(key) ?? 0) + us)
    byPackage.set(where(f.url), (byPackage.get(where(f.url)) ?? 0) + us)
    // inclusive time of each fdn function on the stack (counted once per sample)
    const seen = new Set<string>()
    for (let cur: number | undefined = id; cur != null; cur = parent.get(cur)) {
      const frame = byId.get(cur)?.callFrame
      if (frame == null || !where(frame.url).startsWith('fdn ')) continue
      const k = `${frame.functionName === '' ? '(anonymous)' : frame.functionName}  ${where(frame.url)}:${frame.lineNumber + 1}`
      if (seen.has(k)) continue
      seen.add(k)
      inclusive.set(k, (inclusive.get(k) ?? 0) + us)
    }
  }
  const table = (title: string, map: Map<string, number>, n: number): string[] => [
    title,
    ...[...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, us]) => `  ${((us / total) * 100).toFixed(1).padStart(5)} %  ${(us / 1000).toFixed(0).padStart(7)} ms  ${k}`)
  ]
  return [
    `profile: ${(total / 1e6).toFixed(1)} s sampled`,
    ...table('self time by package:', byPackage, 15),
    ...table('self time by function:', byFunction, top),
    ...table('inclusive time of fdn functions:', inclusive, 15)
  ].join('\n')
}

if (import.meta.main) {
  const file = process.argv[2]
  if (file == null) {
    process.stderr.write('usage: node bench/profile-summary.ts <file.cpuprofile> [top]\n')
    process.exit(1)
  }
  const profile = JSON.parse(await readFile(file, 'utf8')) as Profile
  process.stdout.write(`${summarise(profile, Number(process.argv[3] ?? 25))}\n`)
}
