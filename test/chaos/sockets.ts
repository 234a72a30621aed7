/**
 * Who owns a loopback TCP connection, read from Linux's /proc: the link proxy
 * sees every dialer as 127.0.0.1, so it looks up which daemon process holds
 * the other end of an accepted connection (the socket's inode in
 * /proc/net/tcp, then the process whose /proc/<pid>/fd links to it). Needs
 * Linux and the right to read the daemons' fd tables (same user, or root).
 */
import { readdir, readFile, readlink } from 'node:fs/promises'

export interface TcpEntry {
  localPort: number
  remotePort: number
  /** Kernel state: 1 established, 10 listening… */
  state: number
  inode: string
}

const LOOPBACK_V4 = '0100007F'
const LOOPBACK_MAPPED = '0000000000000000FFFF00000100007F'

/** Established and listening loopback TCP sockets of this network namespace. */
export async function loopbackSockets (): Promise<TcpEntry[]> {
  const entries: TcpEntry[] = []
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    const text = await readFile(file, 'utf8').catch(() => '')
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/)
      if (fields.length < 10) continue
      const [localAddress, localPort] = (fields[1] ?? '').split(':')
      const [remoteAddress, remotePort] = (fields[2] ?? '').split(':')
      const loopback = (address: string | undefined): boolean => address === LOOPBACK_V4 || address === LOOPBACK_MAPPED
      if (!loopback(localAddress) || (!loopback(remoteAddress) && !/^0+$/.test(remoteAddress ?? ''))) continue
      entries.push({ localPort: parseInt(localPort ?? '', 16), remotePort: parseInt(remotePort ?? '', 16), state: parseInt(fields[3] ?? '', 16), inode: fields[9] ?? '' })
    }
  }
  return entries
}

/** The socket inodes each process holds. */
export async function socketInodes (pids: readonly number[]): Promise<Map<string, number>> {
  const owners = new Map<string, number>()
  await Promise.all(pids.map(async (pid) => {
    const fds = await readdir(`/proc/${pid}/fd`).catch(() => [])
    await Promise.all(fds.map(async (fd) => {
      const target = await readlink(`/proc/${pid}/fd/${fd}`).catch(() => '')
      const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1]
      if (inode != null) owners.set(inode, pid)
    }))
  }))
  return owners
}

/**
 * The process among `pids` that holds the client end of a loopback
 * connection from `clientPort` to `serverPort`, or undefined.
 */
export async function clientProcess (clientPort: number, serverPort: number, pids: readonly number[]): Promise<number | undefined> {
  const entry = (await loopbackSockets()).find(socket => socket.state === 1 && socket.localPort === clientPort && socket.remotePort === serverPort)
  if (entry == null) return undefined
  return (await socketInodes(pids)).get(entry.inode)
}

/** Established connections from one of `pids` straight to one of `ports` (which only the proxy should dial). */
export async function directConnections (ports: ReadonlySet<number>, pids: readonly number[]): Promise<number> {
  const clients = (await loopbackSockets()).filter(socket => socket.state === 1 && ports.has(socket.remotePort))
  if (clients.length === 0) return 0
  const owners = await socketInodes(pids)
  return clients.filter(socket => owners.has(socket.inode)).length
}
