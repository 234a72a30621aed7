import { actorDocument, actorKeyId, nodeinfoDocument, webfingerFor } from '../../protocol/activitypub.ts'
import type { ActivityPubCounts } from '../../protocol/admin-api.ts'
import type { CidString } from '../../protocol/cid.ts'
import type { ForwardedRequest, Deletion } from '../../protocol/swarm-records.ts'
import { FetchError } from '../fetcher/errors.ts'
import type { SafeFetcher } from '../fetcher/safe-fetcher.ts'
import type { Logger } from '../log.ts'
import type { ObjectStore } from '../objects/object-store.ts'
import type { Retriever } from '../retrieve/retriever.ts'
import type { MediaStore } from '../store/media-store.ts'
import { VERSION } from '../version.ts'
import { loadActorKey } from './actor-key.ts'
import { Deletions } from './deletions.ts'
import { Delivery } from './delivery.ts'
import { SignatureVerifier, signRequest } from './http-signatures.ts'
import { Inbox } from './inbox.ts'
import { KeyResolver } from './keys.ts'
import { verifyLdSignature } from './ld-signature.ts'
import { Prefetcher } from './prefetch.ts'
import { Relays } from './relays.ts'

const SOFTWARE = 'fdn'

/** The swarm as the actor uses it: forwarding Deletes, and receiving the ones peers forward. */
export interface DeletionSwarm {
  forwardDeletion: (request: ForwardedRequest, cids: readonly CidString[]) => Promise<{ peers: number, applied: number }>
  onDeletion: (handler: (deletion: Deletion, from: { peer: string, trusted: boolean }) => Promise<boolean>) => void
}

export interface NodeActorOptions {
  dataDir: string
  name: string
  /** The public base URL (no trailing slash); known once the listener is up when FDN_PUBLIC_URL is unset. */
  publicUrl: () => string
  store: MediaStore
  objects: ObjectStore
  retriever: Retriever
  fetcher: SafeFetcher
  swarm: DeletionSwarm
  prefetch: { maxSize: number, types: string[], budget: number, rate: number }
  tenants: () => Promise<number>
  log: Logger
}

/**
 * The node as an ActivityPub actor (docs/activitypub.md): its documents,
 * its inbox, the relays it follows and the prefetch of what they deliver,
 * and the Deletes it applies and passes to the swarm.
 */
export class NodeActor {
  readonly inbox: Inbox
  readonly relays: Relays
  private readonly prefetcher: Prefetcher
  private readonly options: NodeActorOptions
  private readonly publicKeyPem: string

  private constructor (options: NodeActorOptions, key: Awaited<ReturnType<typeof loadActorKey>>) {
    this.options = options
    this.publicKeyPem = key.publicKeyPem
    const { log } = options
    const keyId = (): string => actorKeyId(options.publicUrl())
    const delivery = new Delivery({
      fetcher: options.fetcher,
      sign: request => signRequest(request, { keyId: keyId(), privateKey: key.privateKey }),
      log
    })
    const keys = new KeyResolver({ fetchJson: delivery.fetchJson })
    const verifiers = {
      http: new SignatureVerifier({ keys, publicScheme: 'http' }),
      https: new SignatureVerifier({ keys, publicScheme: 'https' })
    }
    this.relays = new Relays({ store: options.store, delivery, actorId: () => `${options.publicUrl()}/actor`, log })
    this.prefetcher = new Prefetcher({
      download: async (attachment, owner, limits) => {
        const response = await options.retriever.prefetch({ url: attachment.url, ...(attachment.digestMultibase != null ? { digestMultibase: attachment.digestMultibase } : {}), ...owner }, limits.maxSize)
        return { size: response.source === 'origin' ? response.size : 0 }
      },
      maxSize: options.prefetch.maxSize,
      types: options.prefetch.types,
      dailyBudget: options.prefetch.budget,
      ratePerMinute: options.prefetch.rate,
      log
    })
    const deletions = new Deletions({ store: options.store, objects: options.objects, log })
    const prefetching = options.prefetch.budget > 0
    this.inbox = new Inbox({
      verify: async (request, scheme) => await verifiers[scheme].verify(request),
      deletions,
      relays: this.relays,
      prefetch: { offer: post => prefetching ? this.prefetcher.offer(post) : 0 },
      verifyLd: async activity => await verifyLdSignature(activity, keys),
      isGone: async uri => await isGone(delivery, uri),
      fetchObject: async uri => await delivery.fetchJson(uri, AbortSignal.timeout(10_000)),
      forward: async (request, cids) => await options.swarm.forwardDeletion(request, cids),
      log
    })
    options.swarm.onDeletion(async (deletion, from) => await this.inbox.receiveForwarded(deletion, from))
  }

  static async start (options: NodeActorOptions): Promise<NodeActor> {
    const key = await loadActorKey(options.dataDir)
    if (key.created) options.log.warn({ file: `${options.dataDir}/actor.pem` }, 'created the ActivityPub actor key: back it up with identity.key (other servers cache it)')
    return new NodeActor(options, key)
  }

  actor (): Record<string, unknown> {
    return actorDocument({ baseUrl: this.options.publicUrl(), name: this.options.name, publicKeyPem: this.publicKeyPem, software: SOFTWARE, version: VERSION })
  }

  webfinger (resource: string): Record<string, unknown> | undefined {
    return webfingerFor(resource, { baseUrl: this.options.publicUrl(), name: this.options.name })
  }

  async nodeinfo (): Promise<Record<string, unknown>> {
    return nodeinfoDocument({ software: SOFTWARE, version: VERSION, homepage: this.options.publicUrl(), tenants: await this.options.tenants() })
  }

  async counters (): Promise<ActivityPubCounts> {
    const relays = { accepted: 0, pending: 0, other: 0 }
    for (const relay of await this.relays.list()) {
      if (relay.state === 'accepted') relays.accepted++
      else if (relay.state === 'pending') relays.pending++
      else relays.other++
    }
    return { ...this.inbox.counters(), prefetch: this.prefetcher.counters(), relays }
  }

  /** Waits for queued prefetches to finish (tests, and a clean shutdown's log). */
  async prefetchIdle (): Promise<void> {
    await this.prefetcher.idle()
  }

  async stop (): Promise<void> {
    await this.prefetcher.stop()
  }
}

/** Whether an object's server answers 404 or 410 for it (any other failure proves nothing). */
async function isGone (delivery: Delivery, uri: string): Promise<boolean> {
  try {
    await delivery.fetchJson(uri, AbortSignal.timeout(10_000))
    return false
  } catch (err) {
    return err instanceof FetchError && err.code === 'http_status' && (err.status === 404 || err.status === 410)
  }
}
