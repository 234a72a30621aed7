import { setTimeout as sleep } from 'node:timers/promises'
import type { PeerId } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { CID } from 'multiformats/cid'
import type { RecoverEvent, RecoverReport } from '../../protocol/admin-api.ts'
import { FdnError } from '../../protocol/errors.ts'
import { parseObjectKey, parseTenantName } from '../../protocol/names.ts'
import { decodeManifest, verifyRecord } from '../../protocol/swarm-records.ts'
import type { Manifest, ManifestObject } from '../../protocol/swarm-records.ts'
import { decodeRecoverRequest, decodeRecoverResponse, RECOVER_PROTOCOL } from '../../protocol/swarm-wire.ts'
import type { RecoveredManifest, RecoverResponse } from '../../protocol/swarm-wire.ts'
import type { Logger } from '../log.ts'
import type { ObjectStore } from '../objects/object-store.ts'
import type { ObjectRecord, TenantRecord } from '../objects/types.ts'
import type { MediaStore } from '../store/media-store.ts'
import { addRef } from '../store/refs.ts'
import type { TenantRegistry } from '../tenants/registry.ts'
import type { PeerHealthMonitor } from './peer-health.ts'
import type { ServePolicy } from './serve-policy.ts'
import type { SwarmFetcher } from './swarm-fetch.ts'
import type { SwarmNode } from './swarm-node.ts'
import { ask, serve } from './wire.ts'

export interface RecoveryOptions {
  node: SwarmNode
  store: MediaStore
  objects: ObjectStore
  tenants: TenantRegistry
  fetcher: SwarmFetcher
  health: PeerHealthMonitor
  policy: ServePolicy
  maxObjectSize: number
  /** How long a blob's transfer may go without a block from any holder before it is given up. */
  fetchTimeoutMs: number
  log: Logger
}

/** How long a recovering node may copy back the private blobs it left with a holder. */
const GRANT_MS = 60 * 60 * 1000
/** Blobs fetched at once during a recovery. */
const CONCURRENCY = 8
/** Longest one ask of a trusted peer may take, and the least a first ask is given however short the wait. */
const ASK_TIMEOUT_MS = 15_000
const FIRST_ASK_MS = 2_000
/** Pause between asks of a trusted peer that has not answered yet. */
const RETRY_MS = 500

/**
 * `fdn recover` and its peer side. A node asks each trusted peer for the
 * newest manifests it holds for the asking node's own identity (Noise
 * authenticates the peer ID, and only manifests that identity signed are
 * listed, so a peer serves a recovery only to the node that published it),
 * takes the newest version of each tenant, verifies its signature against
 * its own key, restores the tenant and every object, and fetches and
 * verifies every blob it no longer holds.
 */
export class Recovery {
  private readonly options: RecoveryOptions
  private readonly self: string

  constructor (options: RecoveryOptions) {
    this.options = options
    this.self = options.node.peerId.toString()
  }

  async start (): Promise<void> {
    await serve(this.options.node, RECOVER_PROTOCOL, async (bytes, peer) => await this.answer(bytes, peer), { maxInboundStreams: 8, readTimeoutMs: 10_000 })
  }

  /** The peer side: the asking node's manifests held here, and a grant, to that node alone, to copy back the private blobs it left with us. */
  private async answer (bytes: Uint8Array, peer: PeerId): Promise<RecoverResponse> {
    try {
      decodeRecoverRequest(bytes)
    } catch (err) {
      return { ok: false, code: 'invalid_request', message: (err as Error).message }
    }
    const origin = peer.toString()
    if (!this.options.health.isTrusted(origin)) {
      this.options.log.info({ peer: origin }, 'refused a recovery request from an untrusted peer')
      return { ok: false, code: 'untrusted', message: `${origin} is not a trusted peer of this node` }
    }
    const manifests: RecoveredManifest[] = []
    for await (const [key, pointer] of this.options.store.db.entries('manifest', { gt: `${origin}/`, lt: `${origin}/\xff` })) {
      manifests.push({ tenant: key.slice(origin.length + 1), version: pointer.version, cid: pointer.cid })
    }
    for await (const [, attestation] of this.options.store.db.entries('attestation', { gt: `${origin}/`, lt: `${origin}/\xff` })) {
      if (!attestation.payload.public) this.options.policy.grant(attestation.payload.cid, origin, GRANT_MS)
    }
    this.options.log.info({ peer: origin, manifests: manifests.length }, 'serving a recovery')
    return { ok: true, manifests }
  }

  /**
   * Waits up to `waitMs` for every trusted peer to answer (a node just
   * restarted may not have reached them yet), then recovers from those that
   * did. With none, nothing is recovered and the report says who was asked.
   */
  async recover (progress: (event: RecoverEvent) => void, options: { waitMs: number }): Promise<RecoverReport> {
    const started = Date.now()
    const report: RecoverReport = { answered: [], unanswered: [], manifests: [], tenantsRestored: 0, objectsRestored: 0, bytesRestored: 0, missing: [], peerErrors: [], durationMs: 0 }
    const peers = [...this.options.health.trusted]
    if (peers.length === 0) throw new FdnError('unavailable', 'this node has no trusted peers (FDN_TRUSTED_PEERS): there is nobody to recover from')
    const newest = new Map<string, RecoveredManifest & { from: string }>()
    const deadline = started + options.waitMs
    let asked = 0
    await Promise.all(peers.map(async peer => {
      const answer = await this.askManifests(peer, deadline)
      if ('manifests' in answer) {
        report.answered.push(peer)
        for (const manifest of answer.manifests) {
          const known = newest.get(manifest.tenant)
          if (known == null || known.version < manifest.version) newest.set(manifest.tenant, { ...manifest, from: peer })
        }
      } else {
        report.unanswered.push({ peer, reason: answer.reason })
      }
      progress({ type: 'progress', phase: 'manifests', done: ++asked, total: peers.length, bytes: 0 })
    }))
    if (report.answered.length === 0) {
      report.durationMs = Date.now() - started
      this.options.log.warn({ peers: report.unanswered }, 'recovery: no trusted peer answered')
      return report
    }
    const restored: Array<{ manifest: Manifest, from: string }> = []
    for (const pointer of newest.values()) {
      try {
        restored.push({ manifest: await this.loadManifest(pointer), from: pointer.from })
        report.manifests.push({ tenant: pointer.tenant, version: pointer.version, from: pointer.from })
      } catch (err) {
        report.peerErrors.push({ peer: pointer.from, reason: `manifest of '${pointer.tenant}': ${(err as Error).message}` })
      }
    }
    const work: Array<{ tenant: string, object: ManifestObject }> = []
    for (const { manifest } of restored) {
      await this.options.tenants.restore(manifest.tenantRecord as unknown as TenantRecord)
      report.tenantsRestored++
      for (const object of manifest.objects) work.push({ tenant: manifest.tenant, object })
    }
    let done = 0
    const holders = peers.map(peer => peerIdFromString(peer))
    const total = work.length
    // a second pass for what failed the first time (a holder busy, a provider record not found yet)
    const retry: Array<{ tenant: string, object: ManifestObject, reason: string }> = []
    for (const pass of [1, 2]) {
      const queue = pass === 1 ? work : retry.splice(0)
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        for (let item = queue.shift(); item != null; item = queue.shift()) {
          try {
            await this.restoreObject(item.tenant, item.object, holders)
            report.objectsRestored++
            report.bytesRestored += item.object.size
          } catch (err) {
            retry.push({ tenant: item.tenant, object: item.object, reason: (err as Error).message })
          }
          if (pass === 1) progress({ type: 'progress', phase: 'objects', done: ++done, total, bytes: report.bytesRestored })
        }
      }))
    }
    for (const item of retry) report.missing.push({ tenant: item.tenant, key: item.object.key, cid: item.object.cid, reason: item.reason })
    report.durationMs = Date.now() - started
    this.options.log.info({ tenants: report.tenantsRestored, objects: report.objectsRestored, missing: report.missing.length, unanswered: report.unanswered.length, ms: report.durationMs }, 'recovery finished')
    return report
  }

  /** The manifests a trusted peer holds for this node, asked again until it answers or `deadline` passes; or why not. */
  private async askManifests (peer: string, deadline: number): Promise<{ manifests: RecoveredManifest[] } | { reason: string }> {
    let reason = 'not asked'
    for (let first = true; first || Date.now() < deadline; first = false) {
      const left = deadline - Date.now()
      try {
        const answer = await ask(this.options.node, peerIdFromString(peer), RECOVER_PROTOCOL, { op: 'manifests' }, decodeRecoverResponse,
          AbortSignal.timeout(Math.min(ASK_TIMEOUT_MS, first ? Math.max(left, FIRST_ASK_MS) : left)))
        // a refusal is the peer's answer: asking again would get the same
        return answer.ok ? { manifests: answer.manifests } : { reason: `refused (${answer.code}): ${answer.message}` }
      } catch (err) {
        reason = (err as Error).message
      }
      await sleep(Math.min(RETRY_MS, Math.max(0, deadline - Date.now())))
    }
    return { reason: `no answer within the wait: ${reason}` }
  }

  /** Fetches a manifest from the peer that listed it and checks that this node signed it. */
  private async loadManifest (pointer: RecoveredManifest & { from: string }): Promise<Manifest> {
    const cid = CID.parse(pointer.cid)
    if (await this.options.store.stat(cid) == null) {
      await this.options.fetcher.fetch({
        cid,
        idleTimeoutMs: this.options.fetchTimeoutMs,
        providers: [peerIdFromString(pointer.from)],
        maxSize: this.options.maxObjectSize,
        commit: async (tx, blob) => {
          await addRef(tx, blob.record.cid, { kind: 'manifest', holder: pointer.tenant, public: false }, blob)
          const current = await tx.get('manifest', `${this.self}/${pointer.tenant}`)
          if (current == null || current.version < pointer.version) tx.put('manifest', `${this.self}/${pointer.tenant}`, { version: pointer.version, cid: pointer.cid })
        }
      })
    }
    const chunks: Uint8Array[] = []
    const blob = await this.options.store.stat(cid)
    if (blob == null) throw new FdnError('not_found', `manifest ${pointer.cid} is gone`)
    for await (const chunk of this.options.store.read(cid, { start: 0, end: blob.size })) chunks.push(chunk)
    const manifest = await verifyRecord(decodeManifest(Buffer.concat(chunks)), { type: 'fdn/manifest', origin: this.self })
    if (manifest.tenant !== pointer.tenant || manifest.version !== pointer.version) throw new FdnError('forbidden', 'the manifest is not the version the peer listed')
    return manifest
  }

  private async restoreObject (tenant: string, object: ManifestObject, holders: PeerId[]): Promise<void> {
    const record: ObjectRecord = {
      cid: object.cid,
      size: object.size,
      etag: object.etag,
      headers: { ...object.headers, contentType: object.contentType },
      metadata: object.meta,
      acl: object.acl,
      mtime: object.mtime,
      ...(object.parts != null ? { parts: object.parts } : {})
    }
    const cid = CID.parse(object.cid)
    if (await this.options.store.stat(cid) != null) {
      await this.options.objects.restore(parseTenantName(tenant), parseObjectKey(object.key), record)
      return
    }
    await this.options.fetcher.fetch({
      cid,
      idleTimeoutMs: this.options.fetchTimeoutMs,
      providers: holders.filter(peer => this.options.node.isConnected(peer)),
      maxSize: this.options.maxObjectSize,
      expect: { size: object.size },
      commit: async (tx, blob) => { await this.options.objects.restore(parseTenantName(tenant), parseObjectKey(object.key), record, { tx, blob }) }
    }).catch((err: unknown) => { throw new Error(`not fetched from any peer: ${(err as Error).message}`) })
  }
}

