import { readFile, rm, writeFile, rename } from 'node:fs/promises'
import path from 'node:path'
import type { DaemonRecord } from '../protocol/admin-api.ts'

export const DAEMON_FILE = 'daemon.json'

/** Tells CLI commands where the running daemon's admin API is. */
export async function writeDaemonRecord (dataDir: string, record: DaemonRecord): Promise<void> {
  const file = path.join(dataDir, DAEMON_FILE)
  await writeFile(`${file}.tmp`, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 })
  await rename(`${file}.tmp`, file)
}

export async function readDaemonRecord (dataDir: string): Promise<DaemonRecord | undefined> {
  try {
    return JSON.parse(await readFile(path.join(dataDir, DAEMON_FILE), 'utf8')) as DaemonRecord
  } catch {
    return undefined
  }
}

export async function removeDaemonRecord (dataDir: string): Promise<void> {
  await rm(path.join(dataDir, DAEMON_FILE), { force: true })
}
