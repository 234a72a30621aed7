import { readFile, rename, rm, writeFile } from 'node:fs/promises'
import type { Deletion, Signed } from '../../protocol/swarm-records.ts'
import type { Logger } from '../log.ts'

/** Deletions a trusted peer has not taken yet, and since when. */
export interface PendingDeletion {
  peer: string
  records: Array<Signed<Deletion>>
  since: number
}

/**
 * The forwarder's list of deletions still owed to trusted peers, kept in a
 * file of the data directory so a restart (or a crash) does not forget them:
 * a peer that was down when an owner's Delete came must still get it. Each
 * save replaces the file whole (written aside, then renamed), so a crash
 * leaves the old list or the new one. A file that cannot be read is logged
 * and treated as empty: what it held is lost, as before it existed.
 */
export class PendingDeletions {
  private readonly file: string
  private readonly log: Logger
  private saving: Promise<void> = Promise.resolve()

  constructor (file: string, log: Logger) {
    this.file = file
    this.log = log
  }

  async load (): Promise<PendingDeletion[]> {
    let text: string
    try {
      text = await readFile(this.file, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') this.log.warn({ err, file: this.file }, 'could not read the deletions owed to peers')
      return []
    }
    try {
      const entries = JSON.parse(text) as unknown
      if (!Array.isArray(entries)) throw new Error('not a list')
      return entries.filter(isPending)
    } catch (err) {
      this.log.warn({ err: (err as Error).message, file: this.file }, 'the list of deletions owed to peers is damaged: starting without it')
      return []
    }
  }

  /** Replaces the saved list; saves run one after another, the last one wins. */
  async save (entries: readonly PendingDeletion[]): Promise<void> {
    const snapshot = JSON.stringify(entries)
    this.saving = this.saving.then(async () => {
      if (entries.length === 0) {
        await rm(this.file, { force: true })
        return
      }
      const temp = `${this.file}.tmp`
      await writeFile(temp, snapshot, { mode: 0o600 })
      await rename(temp, this.file)
    }).catch((err: unknown) => { this.log.warn({ err, file: this.file }, 'could not save the deletions owed to peers') })
    await this.saving
  }
}

function isPending (value: unknown): value is PendingDeletion {
  const entry = value as Partial<PendingDeletion> | null
  return entry != null && typeof entry.peer === 'string' && typeof entry.since === 'number' && Array.isArray(entry.records)
}
