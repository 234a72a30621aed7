import { setTimeout as sleep } from 'node:timers/promises'
import { adminFetch, blockFiles, runCli, startDaemon, tempDir } from './daemon.ts'
import type { RunningDaemon } from './daemon.ts'
import type { BlobView, StatusResponse } from '../../protocol/admin-api.ts'

export interface SwarmMember {
  peerId: string
  dataDir: string
  env: Record<string, string>
  daemon: RunningDaemon
}

/** A new data directory with its identity made, and the identity's peer ID. */
export async function initNode (): Promise<{ dataDir: string, peerId: string }> {
  const dataDir = await tempDir('fdn-swarm-')
  const init = await runCli(['init', '--json'], { FDN_DATA: dataDir })
  if (init.code !== 0) throw new Error(`fdn init: ${init.stderr}`)
  return { dataDir, peerId: (JSON.parse(init.stdout) as { peerId: string }).peerId }
}

export async function status (daemon: RunningDaemon): Promise<StatusResponse> {
  const response = await adminFetch(daemon, '/admin/v1/status')
  if (!response.ok) throw new Error(`status: ${response.status} ${await response.text()}`)
  return await response.json() as StatusResponse
}

/**
 * `count` real daemons on loopback that all trust each other: the first
 * starts alone, the others bootstrap to it. Resolves once every node sees
 * every other as a healthy trusted peer.
 */
export async function startSwarm (count: number, env: Record<string, string> = {}): Promise<SwarmMember[]> {
  const nodes = await Promise.all(Array.from({ length: count }, async () => await initNode()))
  const trusted = nodes.map(node => node.peerId).join(',')
  const members: SwarmMember[] = []
  let bootstrap = ''
  try {
    for (const node of nodes) {
      const nodeEnv = { FDN_TRUSTED_PEERS: trusted, ...env, ...(bootstrap !== '' ? { FDN_BOOTSTRAP: bootstrap } : {}) }
      const daemon = await startDaemon({ dataDir: node.dataDir, env: nodeEnv })
      if (bootstrap === '') bootstrap = (await status(daemon)).addresses.swarm[0]
      members.push({ ...node, env: nodeEnv, daemon })
    }
    await waitFor(async () => {
      const all = await Promise.all(members.map(async member => await status(member.daemon)))
      return all.every(s => s.swarm.trustedHealthy === count - 1)
    }, 30_000, 'every node to see the others as healthy trusted peers')
  } catch (err) {
    await Promise.all(members.map(async member => await member.daemon.kill()))
    throw err
  }
  return members
}

export async function waitFor (check: () => Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await check()) return
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}

/** What a node keeps: its block files and its blob count. */
export interface Stored { blocks: { count: number, bytes: number }, blobs: number }

/** What the node keeps now (no waiting): to compare with `quiet`'s after an operation that must keep nothing. */
export async function stored (daemon: RunningDaemon): Promise<Stored> {
  return { blocks: await blockFiles(daemon.dataDir), blobs: (await status(daemon)).blobs }
}

/**
 * What the node keeps once it is quiet: a tenant's manifest is published (a
 * new blob) about a second after the tenant's objects change, so this waits
 * until none is pending and two samples half a second apart agree.
 */
export async function quiet (daemon: RunningDaemon, timeoutMs = 20_000): Promise<Stored> {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    const s = await status(daemon)
    const now = { blocks: await blockFiles(daemon.dataDir), blobs: s.blobs }
    if (s.replication.pending === 0 && JSON.stringify(now) === last) return now
    if (Date.now() > deadline) throw new Error(`the node did not settle in ${timeoutMs} ms: ${JSON.stringify(now)}, ${s.replication.pending} pending`)
    last = s.replication.pending === 0 ? JSON.stringify(now) : ''
    await sleep(500)
  }
}

/** The admin API's view of a blob on a member, or undefined when it does not hold it. */
export async function blobView (member: SwarmMember, cid: string): Promise<BlobView | undefined> {
  const response = await adminFetch(member.daemon, `/admin/v1/blobs/${cid}`)
  if (response.status === 404) return undefined
  if (response.status !== 200) throw new Error(`GET /admin/v1/blobs/${cid}: ${response.status} ${await response.text()}`)
  return await response.json() as BlobView
}
