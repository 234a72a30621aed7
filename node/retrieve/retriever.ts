import type { CID } from 'multiformats/cid'
import { cidString } from '../../protocol/cid.ts'
import type { CidString } from '../../protocol/cid.ts'
import { RAW_CODEC } from '../../protocol/cid-profile.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { RetrieveCounts } from '../../protocol/admin-api.ts'
import type { TenantName } from '../../protocol/names.ts'
import { cidInUrl, mediaFacts, normaliseUrl, parseDigestMultibase } from '../../protocol/retrieve-api.ts'
import type { RetrieveRequest, RetrieveResponse, RetrieveSource } from '../../protocol/retrieve-api.ts'
import { FetchError } from '../fetcher/errors.ts'
import { checkUrlForm } from '../fetcher/target.ts'
import { requireMedia } from './media-check.ts'
import type { SafeFetcher } from '../fetcher/safe-fetcher.ts'
import type { Logger } from '../log.ts'
import { holdMedia, keepUnowned, visibleTo } from '../objects/media-refs.ts'
import type { ObjectStore } from '../objects/object-store.ts'
import type { Tx } from '../store/index-db.ts'
import type { MediaStore } from '../store/media-store.ts'
import type { BlobRecord } from '../store/records.ts'
import type { NewBlob } from '../store/refs.ts'
import { SingleFlight } from './single-flight.ts'
import { recordOwner } from '../activitypub/owners.ts'
import { addRef } from '../store/refs.ts'
import { CACHE_HOLDER } from '../swarm/blob-cache.ts'

/** The swarm as the retrieve API uses it (node/swarm/swarm.ts). */
export interface SwarmLookup {
  /** Fetches a blob some peer holds into the cache; undefined when no peer has it. */
  fetchForRetrieve: (query: { cid: CID, sha256?: string } | { sha256: string }) => Promise<CidString | undefined>
  /** A blob just given a `cache` reference outside the swarm (a prefetch): the cache counts it and may evict it. */
  cached: (cid: CidString, size: number) => void
}

/** Who a retrieve is for: a tenant, or the node itself (a relayed post's prefetch, kept as cache). */
type Holder = TenantName | typeof NODE

/** The node as holder: sees only public blobs, keeps what it downloads as evictable cache. */
const NODE = '' as const

export interface RetrieverOptions {
  store: MediaStore
  objects: ObjectStore
  swarm: SwarmLookup
  fetcher: SafeFetcher
  /** Largest media downloaded from an origin (FDN_ORIGIN_MAX_SIZE). */
  maxSize: number
  /** The public base URL gateway links are made from. */
  publicUrl: () => string
  log: Logger
}

/** The blob's fields a response and a reference need. */
type Resolved = Pick<BlobRecord, 'cid' | 'size' | 'sha256' | 'md5' | 'mediaType'>

/** What a shared origin step gives each request that waited for it. */
interface Download {
  blob: Resolved
  /** 'local' when another download of the URL had finished meanwhile. */
  source: RetrieveSource
  /** The request whose tenant's references were recorded with the blob. */
  keptFor?: symbol
}
/**
 * Resolves a remote attachment for a tenant: from this node (its URL cache,
 * or a CID or digest the request names), from a swarm peer, or downloaded
 * once from the origin through the SSRF-safe fetcher. Concurrent requests
 * for the same URL share one download, and for the same CID or digest one
 * swarm fetch. What the node stores for the tenant (see docs/retrieve.md):
 * with `key` an object as a public-read PutObject; without, a `media`
 * reference when this request downloaded it from the origin; a blob that
 * was here or came from a peer already has its copies in the swarm.
 */
export class Retriever {
  private readonly options: RetrieverOptions
  private readonly downloads = new SingleFlight<string, Download>()
  private readonly lookups = new SingleFlight<string, CidString | undefined>()
  private readonly counts: RetrieveCounts = { local: 0, swarm: 0, origin: 0, failed: 0, originFetches: 0, originBytes: 0, originWireBytes: 0 }

  constructor (options: RetrieverOptions) {
    this.options = options
  }

  counters (): RetrieveCounts {
    return { ...this.counts }
  }

  async retrieve (tenant: TenantName, request: RetrieveRequest): Promise<RetrieveResponse> {
    return await this.counted(async () => await this.resolve(tenant, request, this.options.maxSize))
  }

  /**
   * The node's own retrieve of a relayed post's attachment: the same steps,
   * but what it downloads is kept as cache (bounded, evictable, charged to no
   * tenant) and it sees only public blobs.
   */
  async prefetch (request: RetrieveRequest & { actor: string, status: string }, maxSize: number): Promise<RetrieveResponse> {
    const { key: _key, ...unkeyed } = request
    return await this.counted(async () => await this.resolve(NODE, unkeyed, Math.min(maxSize, this.options.maxSize)))
  }

  private async counted (work: () => Promise<RetrieveResponse>): Promise<RetrieveResponse> {
    try {
      const response = await work()
      this.counts[response.source]++
      return response
    } catch (err) {
      this.counts.failed++
      throw err instanceof FetchError ? new FdnError(err.code, err.message, { cause: err }) : err
    }
  }

  private async resolve (tenant: Holder, request: RetrieveRequest, maxSize: number): Promise<RetrieveResponse> {
    // what the URL says by itself is checked first, so a cached form of it cannot hide credentials or a bad scheme
    checkUrlForm(request.url)
    const url = normaliseUrl(request.url)
    const sha256 = request.digestMultibase != null ? parseDigestMultibase(request.digestMultibase) : undefined
    const named = cidInUrl(new URL(url))
    let source: RetrieveSource = 'local'
    let blob: Resolved | undefined = await this.visible(tenant, await this.cached(url, sha256) ?? await this.local(named, sha256))
    if (blob == null && (named != null || sha256 != null)) {
      const cid = await this.fromSwarm(named, sha256)
      if (cid != null) {
        blob = await this.options.store.db.get('blob', cid)
        source = 'swarm'
      }
    }
    if (blob == null) {
      const self = Symbol('request')
      const download = await this.downloads.run(url, async () => await this.fromOrigin(tenant, request, { url, sha256, named, maxSize }, self))
      blob = download.blob
      source = download.source
      if (download.keptFor === self) return this.response(blob, source, request)
    }
    const found = blob
    checkFound(found, sha256)
    await this.options.store.transact(async tx => {
      await this.keep(tx, tenant, request, { url, named }, found, source === 'origin')
    })
    return this.response(found, source, request)
  }

  /** A blob held here only privately by other tenants is not this tenant's to find: it is downloaded like a new one. */
  private async visible (tenant: Holder, blob: BlobRecord | undefined): Promise<BlobRecord | undefined> {
    return blob != null && await visibleTo(this.options.store.db, blob, tenant) ? blob : undefined
  }

  /** The URL cache's blob, if it is still here and matches the digest (a changed file at the same URL is retrieved again). */
  private async cached (url: string, sha256: string | undefined): Promise<BlobRecord | undefined> {
    const entry = await this.options.store.db.get('url', url)
    if (entry == null) return undefined
    const blob = await this.options.store.db.get('blob', entry.cid)
    return blob != null && (sha256 == null || blob.sha256 === sha256) ? blob : undefined
  }

  /** The blob the URL's CID or the digest names, when this node holds it. */
  private async local (named: CID | undefined, sha256: string | undefined): Promise<BlobRecord | undefined> {
    if (named != null) return await this.options.store.stat(named)
    if (sha256 == null) return undefined
    const cid = await this.options.store.db.get('digest', sha256)
    return cid == null ? undefined : await this.options.store.db.get('blob', cid)
  }

  private async fromSwarm (named: CID | undefined, sha256: string | undefined): Promise<CidString | undefined> {
    const query = named != null ? { cid: named, ...(sha256 != null ? { sha256 } : {}) } : { sha256: sha256! }
    const key = named != null ? named.toString() : `sha256:${sha256}`
    try {
      return await this.lookups.run(key, async () => await this.options.swarm.fetchForRetrieve(query))
    } catch (err) {
      // a peer that named the blob but did not deliver it (or delivered other bytes): the origin is still there
      this.options.log.info({ err, url: key }, 'retrieve: the swarm did not deliver; asking the origin')
      return undefined
    }
  }

  /**
   * Downloads the URL once, verified against the digest and against the CID
   * the URL names (an `/ipfs/{cid}` URL is a promise of those bytes), and
   * keeps it for the tenant that started the download.
   */
  private async fromOrigin (tenant: Holder, request: RetrieveRequest, expected: { url: string, sha256: string | undefined, named: CID | undefined, maxSize: number }, self: symbol): Promise<Download> {
    const { url, sha256, named, maxSize } = expected
    // another request may have finished the same download between this one's cache check and now
    const done = await this.visible(tenant, await this.cached(url, sha256))
    if (done != null) return { blob: done, source: 'local' }
    const { fetcher, store } = this.options
    this.counts.originFetches++
    const media = await fetcher.fetchMedia(request.url, { maxBytes: maxSize })
    try {
      return await store.ingest(media.body, {
        maxSize,
        verify: (hashes) => {
          if (sha256 != null && hashes.sha256 !== sha256) {
            throw new FdnError('digest_mismatch', `the file at ${url} has SHA-256 ${hashes.sha256}, not the ${sha256} of its digestMultibase: nothing was kept`)
          }
        }
      }, async (tx, blob) => {
        const resolved = { ...blob.record }
        if (named != null) checkNamed(named, resolved, url)
        requireMedia(resolved.mediaType, 'the file')
        await this.keep(tx, tenant, request, { url, named }, resolved, true, blob)
        return { blob: resolved, source: 'origin' as const, keptFor: self }
      }).then(download => {
        if (tenant === NODE) this.options.swarm.cached(download.blob.cid, download.blob.size)
        return download
      })
    } finally {
      media.cancel()
      this.counts.originBytes += media.bytesReceived
      this.counts.originWireBytes += media.wireBytes
    }
  }

  /**
   * Records what a retrieve leaves behind, in one transaction: the object
   * under `key`, or the tenant's `media` reference when it was downloaded for
   * it (the node's own download: a cache reference); the URL cache entry;
   * the ActivityPub owner.
   *
   * The URL cache answers every tenant and the relay prefetch, so it learns
   * only what the URL itself proved: bytes this node downloaded from it, or
   * the CID an `/ipfs/{cid}` URL names. A blob found by the caller's digest
   * binds nothing but that caller's request: its digest is a claim about the
   * URL that no one checked, and would let one tenant choose what another
   * gets for a URL.
   */
  private async keep (tx: Tx, tenant: Holder, request: RetrieveRequest, source: { url: string, named: CID | undefined }, blob: Resolved, downloaded: boolean, newBlob?: NewBlob): Promise<void> {
    const { url, named } = source
    const within = newBlob != null ? { blob: newBlob } : {}
    if (tenant === NODE) {
      if (downloaded) await addRef(tx, blob.cid, { kind: 'cache', holder: CACHE_HOLDER, public: true }, newBlob)
    } else if (request.key != null) {
      await this.options.objects.link(tenant, request.key, blob, { contentType: blob.mediaType }, { tx, ...within })
    } else if (downloaded) {
      await holdMedia(tx, tenant, blob.cid, blob.size, { url, unowned: request.actor == null, ...within })
    } else if (request.actor == null) {
      await keepUnowned(tx, tenant, blob.cid)
    }
    const proven = downloaded || (named != null && cidString(named) === blob.cid)
    if (proven && (await tx.get('url', url))?.cid !== blob.cid) tx.put('url', url, { cid: blob.cid, at: new Date().toISOString() })
    if (request.actor != null) {
      await recordOwner(tx, { actor: request.actor, status: request.status ?? '', cid: blob.cid, tenant, url, ...(tenant !== NODE && request.key != null ? { key: request.key } : {}) })
    }
  }

  private response (blob: Resolved, source: RetrieveSource, request: RetrieveRequest): RetrieveResponse {
    return { ...mediaFacts(blob, this.options.publicUrl()), source, ...(request.key != null ? { key: request.key } : {}) }
  }
}

/** A blob found here or in the swarm must be media, and the file the digest names. */
function checkFound (blob: Resolved, sha256: string | undefined): void {
  requireMedia(blob.mediaType, 'the file')
  if (sha256 != null && blob.sha256 !== sha256) {
    throw new FdnError('digest_mismatch', `${blob.cid} has SHA-256 ${blob.sha256}, not the ${sha256} of the digestMultibase`)
  }
}

/**
 * The bytes of an `/ipfs/{cid}` URL must be that CID: a raw CID's multihash
 * is the file's SHA-256; a DAG must rebuild to the same root under fdn's CID
 * profile (a DAG chunked otherwise cannot be checked from the file, and is
 * refused rather than trusted).
 */
function checkNamed (named: CID, blob: Resolved, url: string): void {
  const raw = named.code === RAW_CODEC
  const matches = raw ? Buffer.from(named.multihash.digest).toString('hex') === blob.sha256 : cidString(named) === blob.cid
  if (matches) return
  throw new FdnError('digest_mismatch', raw
    ? `${url} names ${cidString(named)}, but its bytes have SHA-256 ${blob.sha256}: nothing was kept`
    : `${url} names ${cidString(named)}, but its bytes rebuild ${blob.cid} under fdn's CID profile (1 MiB raw leaves): nothing was kept`)
}
