import { close, fsync, open, write } from 'node:fs'
import { chmod, mkdir, rm } from 'node:fs/promises'
import path from 'node:path'

/**
 * How the store makes what it wrote survive a power loss or a kernel crash,
 * not only a crash of the process: the page cache holds written bytes for
 * seconds before the kernel writes them back. Passed to the store's
 * constructors (FDN_FSYNC picks FSYNC or NO_SYNC), so tests can watch what
 * is flushed.
 */
export interface Syncer {
  /** Whether writes are made durable: index batches go out with LevelDB's `sync`. */
  readonly durable: boolean
  /** Flushes an open file's bytes and size to the disk (fsync). */
  file: (fd: number) => Promise<void>
  /** Flushes a directory's entries (files created or renamed into it) to the disk. */
  directory: (dir: string) => Promise<void>
}

/** FDN_FSYNC=true: an acknowledged write is on the disk. */
export const FSYNC: Syncer = {
  durable: true,
  file: fsyncFd,
  directory: fsyncDirectory
}

/** FDN_FSYNC=false: the kernel writes back when it likes; a process crash loses nothing, a power loss the last seconds. */
export const NO_SYNC: Syncer = {
  durable: false,
  file: async () => {},
  directory: async () => {}
}

export function syncerFor (durable: boolean): Syncer {
  return durable ? FSYNC : NO_SYNC
}

async function fsyncFd (fd: number): Promise<void> {
  await new Promise<void>((resolve, reject) => { fsync(fd, err => { err == null ? resolve() : reject(err) }) })
}

async function fsyncDirectory (dir: string): Promise<void> {
  const fd = await new Promise<number>((resolve, reject) => { open(dir, 'r', (err, fd) => { err == null ? resolve(fd) : reject(err) }) })
  try {
    await fsyncFd(fd)
  } finally {
    await new Promise<void>(resolve => { close(fd, () => { resolve() }) })
  }
}

/** Makes `dir` and any missing parents, and flushes each new entry to the disk (always, as createDurableFile). */
export async function makeDurableDirectory (dir: string, options: { mode: number, syncer?: Syncer }): Promise<void> {
  const syncer = options.syncer ?? FSYNC
  const target = path.resolve(dir)
  const first = await mkdir(target, { recursive: true, mode: options.mode })
  if (first === undefined) return
  for (let made = target; made !== path.dirname(first); made = path.dirname(made)) await syncer.directory(path.dirname(made))
}

/**
 * Creates `file` (never replacing one: EEXIST if it is there) with `content`
 * and flushes it and its directory to the disk whatever FDN_FSYNC says: the
 * data directory's keys and config are written once, and a node that lost
 * its identity key to a power cut loses its name in the swarm. `mode`: the
 * file's exact mode (a secret's), whatever the umask; `syncer`: FSYNC unless
 * a test watches. A failed write leaves no file behind.
 */
export async function createDurableFile (file: string, content: Uint8Array | string, options: { mode?: number, syncer?: Syncer } = {}): Promise<void> {
  const syncer = options.syncer ?? FSYNC
  const bytes = typeof content === 'string' ? Buffer.from(content) : content
  const fd = await new Promise<number>((resolve, reject) => { open(file, 'wx', options.mode ?? 0o666, (err, fd) => { err == null ? resolve(fd) : reject(err) }) })
  try {
    for (let offset = 0; offset < bytes.length;) {
      offset += await new Promise<number>((resolve, reject) => {
        write(fd, bytes, offset, bytes.length - offset, null, (err, written) => { err == null ? resolve(written) : reject(err) })
      })
    }
    if (options.mode !== undefined) await chmod(file, options.mode)
    await syncer.file(fd)
  } catch (err) {
    await rm(file, { force: true }).catch(() => {})
    throw err
  } finally {
    await new Promise<void>(resolve => { close(fd, () => { resolve() }) })
  }
  await syncer.directory(path.dirname(file))
}
