/**
 * The fault schedule, drawn from the seed: one fault at a time, a few
 * seconds apart, each lifted after a few seconds (a killed node is started
 * again in the background: on a loaded machine that takes a while, and the
 * next faults need not wait for it; they go to nodes that are up). The first round has every
 * kind once (in a seeded order), so even a short run injects each; later
 * faults are drawn by weight. Kinds: SIGKILL and start again on the same data
 * directory, SIGSTOP/SIGCONT, the tmpfs node's disk filled to the last byte,
 * and link faults in the proxy (drop, delay, reset) on one link or on every
 * link of one node (a partition).
 */
import { setTimeout as sleep } from 'node:timers/promises'
import type { Cluster } from './cluster.ts'
import type { LinkFault } from './link-proxy.ts'
import type { Random } from './random.ts'
import { FAULT_KINDS } from './report.ts'
import type { FaultKind, FaultRecord } from './report.ts'

const LATER_WEIGHTS: Readonly<Record<FaultKind, number>> = {
  kill: 3,
  pause: 2,
  'disk-full': 1,
  'link-drop': 2,
  'link-delay': 2,
  'link-reset': 2
}

export interface FaultOptions {
  cluster: Cluster
  rng: Random
  /** No new fault starts after this (ms since the epoch); the last one is lifted soon after. */
  deadline: number
  record: (fault: FaultRecord) => void
  log: (line: string) => void
}

export async function runFaults (options: FaultOptions): Promise<void> {
  const { cluster, rng } = options
  const started = Date.now()
  const firstRound = rng.shuffle(FAULT_KINDS)
  const restarts: Array<Promise<void>> = []
  for (;;) {
    const gap = rng.int(2_000, 5_000)
    // each kind once first (one that cannot be injected now waits for a later turn), then by weight
    const later = rng.weighted(LATER_WEIGHTS)
    const diskReady = cluster.nodes.some(node => node.tmpfs != null && node.state === 'up')
    const kind = firstRound.find(pending => pending !== 'disk-full' || diskReady) ?? firstRound[0] ?? later
    const durationMs = kind === 'kill' ? rng.int(1_000, 6_000) : rng.int(3_000, 9_000)
    // drawn before the deadline check, so the schedule is the same whatever the run's length
    const drawn = rng.int(0, cluster.nodes.length - 1)
    const peer = rng.chance(0.5) ? rng.int(0, cluster.nodes.length - 2) : undefined
    const delayMs = rng.int(50, 800)
    if (Date.now() + gap >= options.deadline) break
    await sleep(gap)
    const fault: FaultRecord = { kind, at: 0, target: '', durationMs }
    if (kind === 'disk-full' && !await tmpfsNodeUp(cluster, options.deadline)) continue
    const up = cluster.nodes.filter(node => node.state === 'up').map(node => node.index)
    if (up.length < 2) continue
    // the drawn node, or the next one up
    const target = up.find(index => index >= drawn) ?? up[0]!
    fault.at = Math.round((Date.now() - started) / 1000)
    fault.target = `node ${target}`
    switch (kind) {
      case 'kill':
        await cluster.kill(target)
        await sleep(durationMs)
        restarts.push(cluster.restart(target))
        break
      case 'pause':
        cluster.pause(target)
        await sleep(durationMs)
        cluster.resume(target)
        break
      case 'disk-full': {
        const node = cluster.nodes.findIndex(member => member.tmpfs != null)
        fault.target = `node ${node}`
        const filled = await cluster.fillDisk()
        fault.detail = `${(filled / 1024 / 1024).toFixed(1)} MB written until the disk was full`
        await sleep(durationMs)
        await cluster.freeDisk()
        break
      }
      case 'link-drop':
      case 'link-delay':
      case 'link-reset': {
        const link: LinkFault = kind === 'link-drop' ? { kind: 'drop' } : kind === 'link-delay' ? { kind: 'delay', ms: delayMs } : { kind: 'reset' }
        // one link, or every link of the target (a partition)
        const others = cluster.nodes.map(node => node.index).filter(index => index !== target)
        const peers = peer != null ? [others[peer]!] : others
        fault.target = peer != null ? `link ${target}-${peers[0]}` : `node ${target} cut off`
        if (link.kind === 'delay') fault.detail = `${link.ms} ms per chunk`
        for (const other of peers) await cluster.proxy.setFault(target, other, link)
        await sleep(durationMs)
        for (const other of peers) await cluster.proxy.setFault(target, other, undefined)
        break
      }
    }
    if (firstRound.includes(kind)) firstRound.splice(firstRound.indexOf(kind), 1)
    options.record(fault)
    options.log(`fault ${kind} on ${fault.target} for ${durationMs} ms${fault.detail != null ? ` (${fault.detail})` : ''}`)
  }
  await Promise.all(restarts)
}

/** Waits (a bounded while) for the tmpfs node to be up: filling the disk of a node that is starting would only stop it starting. */
async function tmpfsNodeUp (cluster: Cluster, deadline: number): Promise<boolean> {
  const node = cluster.nodes.find(member => member.tmpfs != null)
  while (node != null && node.state !== 'up' && Date.now() < deadline) await sleep(500)
  return node?.state === 'up'
}

/** Lifts everything: links back, paused nodes resumed, the disk freed, stopped nodes started. */
export async function healAll (cluster: Cluster): Promise<void> {
  await cluster.proxy.clearFaults()
  for (const node of cluster.nodes) cluster.resume(node.index)
  await cluster.freeDisk()
  for (const node of cluster.nodes) if (node.daemon == null) await cluster.restart(node.index)
}
