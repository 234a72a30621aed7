/**
 * A stranger in the swarm: an extra fdn node that trusts no one and that no
 * one trusts, joined through the proxies from the start. Anyone may fetch
 * public blobs; a private blob must never reach it. It tries each private
 * blob right after the put was acknowledged (while replication to the
 * holders is under way, when a leak through a holder's grant would show),
 * and every private blob again at the end.
 */
import type { RunningDaemon } from '../helpers/daemon.ts'
import { sha256Hex } from '../helpers/bytes.ts'
import type { StatusResponse } from '../../protocol/admin-api.ts'
import type { Cluster } from './cluster.ts'
import type { ChaosReport, Violation } from './report.ts'

/** How long the stranger's gateway looks for a blob in the swarm before it gives up. */
const FETCH_TIMEOUT = '5s'
/** Fresh private blobs waiting for a probe; older ones are left to the final sweep. */
const QUEUE = 50

export class Stranger {
  private readonly cluster: Cluster
  private readonly report: ChaosReport
  private readonly violation: (violation: Violation) => void
  /** The story of the key that wrote a private blob, for the report. */
  private readonly history: (cid: string) => string | undefined
  private daemon: RunningDaemon | undefined
  private readonly queue: string[] = []
  private workers: Array<Promise<void>> = []
  private stopped = false

  constructor (cluster: Cluster, report: ChaosReport, violation: (violation: Violation) => void, history: (cid: string) => string | undefined) {
    this.cluster = cluster
    this.report = report
    this.violation = violation
    this.history = history
  }

  async start (): Promise<void> {
    this.daemon = await this.cluster.startExtraNode({ FDN_FETCH_TIMEOUT: FETCH_TIMEOUT })
    this.workers = [0, 1].map(async () => {
      while (!this.stopped) {
        const cid = this.queue.shift()
        if (cid == null) { await new Promise(resolve => setTimeout(resolve, 200)); continue }
        this.report.operations['stranger-probe'][await this.probe(cid) ? 'ok' : 'failed']++
      }
    })
  }

  /** Queues a private blob just acknowledged. */
  enqueue (cid: string): void {
    if (this.daemon == null || this.stopped) return
    this.queue.push(cid)
    if (this.queue.length > QUEUE) this.queue.shift()
  }

  /** GET /ipfs/{cid} of a private blob on the stranger's gateway; true when it was refused as it should be. */
  async probe (cid: string): Promise<boolean> {
    if (this.daemon == null) throw new Error('the stranger is not running')
    this.report.checked.strangerProbes++
    try {
      const response = await fetch(`${this.daemon.http}/ipfs/${cid}`, { signal: AbortSignal.timeout(30_000), redirect: 'manual' })
      await response.arrayBuffer().catch(() => {})
      if (response.status >= 200 && response.status < 400) {
        const history = this.history(cid)
        this.violation({ kind: 'private-blob-leaked', detail: `an untrusted peer got a private blob through the swarm (its gateway answered ${response.status})`, cid, ...(history != null ? { history } : {}) })
      }
      return response.status >= 400
    } catch {
      return false
    }
  }

  /** Whether the stranger fetches a public blob at all (else the privacy probes prove nothing): a few tries, its fetch timeout is short. */
  async fetches (cid: string, sha256: string): Promise<boolean> {
    if (this.daemon == null) return false
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        const response = await fetch(`${this.daemon.http}/ipfs/${cid}`, { signal: AbortSignal.timeout(30_000) })
        if (response.status === 200 && sha256Hex(Buffer.from(await response.arrayBuffer())) === sha256) return true
        await response.arrayBuffer().catch(() => {})
      } catch {}
      await new Promise(resolve => setTimeout(resolve, 2000))
    }
    return false
  }

  /** Peers the stranger is connected to, for the report (-1: it did not answer). */
  async connected (): Promise<number> {
    if (this.daemon == null) return -1
    try {
      const response = await fetch(`${this.daemon.admin}/admin/v1/status`, { headers: { authorization: `Bearer ${this.daemon.token}` }, signal: AbortSignal.timeout(15_000) })
      return ((await response.json()) as StatusResponse).swarm.connected
    } catch {
      return -1
    }
  }

  async stop (): Promise<void> {
    this.stopped = true
    await Promise.all(this.workers)
  }
}
