/**
 * What the chaos run must undo whatever happens: daemons, servers, tmpfs
 * mounts and temporary directories. Steps run last-in first-out, once, each
 * bounded in time, on success, on error and on SIGINT/SIGTERM. A run killed
 * outright (SIGKILL) leaves its directory behind with `owner.json`; the next
 * run sweeps it: it ends the daemons that run left (the processes whose
 * FDN_DATA is inside that directory), unmounts its tmpfs and removes it.
 */
import { execFile } from 'node:child_process'
import { readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)
export const RUN_PREFIX = 'fdn-chaos-'
const STEP_TIMEOUT_MS = 30_000

export class Cleanup {
  private readonly steps: Array<{ name: string, fn: () => Promise<void> }> = []
  private running: Promise<string[]> | undefined

  add (name: string, fn: () => Promise<void>): void {
    this.steps.push({ name, fn })
  }

  /** Runs every step once (later calls wait for the first); returns the steps that failed. */
  async run (): Promise<string[]> {
    this.running ??= (async () => {
      const failed: string[] = []
      for (const step of this.steps.reverse()) {
        let timer: NodeJS.Timeout | undefined
        try {
          await Promise.race([step.fn(), new Promise((_resolve, reject) => { timer = setTimeout(() => { reject(new Error('timed out')) }, STEP_TIMEOUT_MS) })])
        } catch (err) {
          failed.push(`${step.name}: ${(err as Error).message}`)
        } finally {
          clearTimeout(timer)
        }
      }
      return failed
    })()
    return await this.running
  }
}

export interface OwnerRecord {
  /** The chaos run's own pid. */
  pid: number
}

export async function writeOwner (runDir: string, record: OwnerRecord): Promise<void> {
  await writeFile(path.join(runDir, 'owner.json'), JSON.stringify(record))
}

export function alive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export async function unmount (mountPoint: string): Promise<void> {
  await run('umount', [mountPoint]).catch(async () => await run('umount', ['-l', mountPoint]))
}

/** Mount points at or under `dir`. */
export async function mountsUnder (dir: string): Promise<string[]> {
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '')
  return mounts.split('\n').map(line => (line.split(' ')[1] ?? '').replace(/\\040/g, ' ')).filter(point => point === dir || point.startsWith(`${dir}/`))
}

/** SIGKILLs the processes whose FDN_DATA is inside `dir`: the daemons a run started, whether it knew their pids or not. */
export async function killDaemonsUnder (dir: string): Promise<number> {
  let killed = 0
  for (const entry of await readdir('/proc').catch(() => [])) {
    const pid = Number(entry)
    if (!Number.isInteger(pid) || pid === process.pid) continue
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '')
    if (!environ.split('\0').some(variable => variable.startsWith(`FDN_DATA=${dir}/`))) continue
    try {
      process.kill(pid, 'SIGKILL')
      killed++
    } catch {}
  }
  return killed
}

/** Cleans up after chaos runs that were killed without cleaning up. Returns the directories removed. */
export async function sweepStaleRuns (): Promise<string[]> {
  const swept: string[] = []
  const entries = await readdir(tmpdir()).catch(() => [])
  for (const name of entries) {
    if (!name.startsWith(RUN_PREFIX)) continue
    const dir = path.join(tmpdir(), name)
    let owner: OwnerRecord
    try {
      owner = JSON.parse(await readFile(path.join(dir, 'owner.json'), 'utf8')) as OwnerRecord
    } catch {
      continue
    }
    if (owner.pid === process.pid || alive(owner.pid)) continue
    await killDaemonsUnder(dir)
    for (const point of (await mountsUnder(dir)).reverse()) await unmount(point).catch(() => {})
    if ((await mountsUnder(dir)).length === 0) {
      await rm(dir, { recursive: true, force: true })
      swept.push(dir)
    }
  }
  return swept
}
