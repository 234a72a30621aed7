import { parseActorName, parseBoolean, parseChoice, parseMediaTypes, parseCount, parseDomain, parseDuration, parseListen, parsePath, parsePeerAddresses, parsePeerIds, parseSize, parseSwarmAnnounce, parseSwarmListen, parseUrl } from './values.ts'
import type { ListenAddress } from './values.ts'
import { parseFetchAllow } from '../fetcher/address-policy.ts'
import { parsePorts } from '../fetcher/target.ts'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
export type LogLevel = typeof LOG_LEVELS[number]
/** `auto`: `pretty` when stdout is a terminal, else `json`. */
export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const
export type LogFormat = typeof LOG_FORMATS[number]

/** The daemon's resolved configuration. */
export interface Config {
  data: string
  httpListen: ListenAddress
  adminListen: ListenAddress
  /** Base URL the node's public links are made from; defaults to the HTTP listener. */
  publicUrl: URL | undefined
  s3Domain: string | undefined
  aliasMode: 'serve' | 'redirect'
  /** libp2p listen multiaddrs, TCP only, canonical form, at least one. */
  swarmListen: string[]
  /** Multiaddrs (no `/p2p`) peers are told to dial instead of the listen addresses; empty: the listen addresses. */
  swarmAnnounce: string[]
  /** Peers dialled at start (`…/p2p/<peer id>`); undefined: the `peers` of bootstrap.json (see `resolveBootstrap`). */
  bootstrap: string[] | undefined
  /** Absolute path of a libp2p PSK v1 file making a private swarm (see `readSwarmKey`); undefined: public swarm. */
  swarmKey: string | undefined
  /** Peer IDs (canonical, deduplicated) that may ask this node to hold data for them; empty for none. */
  trustedPeers: string[]
  replicas: number
  /** Bytes one trusted peer may make this node hold. */
  peerQuota: number
  /** Milliseconds a holder may stay unreachable before its copies are made elsewhere. */
  repairGrace: number
  /** Milliseconds between checks of the holders. */
  repairInterval: number
  /** Most re-replications started per second. */
  repairRate: number
  /** Bytes of blobs fetched from peers kept as cache (least recently used evicted). */
  cacheSize: number
  /** Milliseconds a gateway request waits for the swarm. */
  fetchTimeout: number
  /** true: never fetch from the swarm; serve only what this node holds. */
  noFetch: boolean
  /** CIDR ranges the outbound fetcher may reach although they are not public (loopback, LAN). */
  fetchAllow: string[]
  /** Ports an origin URL may name. */
  fetchPorts: number[]
  /** Milliseconds to resolve and connect to an origin (TLS included). */
  originConnectTimeout: number
  /** Milliseconds one download from an origin may take, redirects and body included. */
  originTimeout: number
  /** Largest media downloaded from an origin. */
  originMaxSize: number
  /** The ActivityPub actor's preferredUsername (WebFinger `acct:{name}@{host}`). */
  actorName: string
  /** Largest attachment a relayed post's prefetch downloads. */
  prefetchMaxSize: number
  /** Media types (`image`, `video/mp4`…) relayed attachments are prefetched for. */
  prefetchTypes: string[]
  /** Bytes prefetched per day at most (0 turns prefetching off). */
  prefetchBudget: number
  /** Prefetch downloads started per minute at most. */
  prefetchRate: number
  uploadExpiry: number
  maxObjectSize: number
  /** Uploads (request bodies read into the node) running at once; more are answered 503 SlowDown. */
  uploadsMax: number
  /** The same, for one tenant. */
  uploadsPerTenant: number
  /** Milliseconds a request body (and the request's headers) may leave the node waiting: then 400 RequestTimeout. */
  bodyTimeout: number
  /** Bytes per second a request body must average over each `bodyTimeout` of waiting (0: no minimum). */
  bodyMinRate: number
  blockCache: number
  minFreeSpace: number
  /** true: blocks and index batches are flushed to the disk before a write is acknowledged. */
  fsync: boolean
  shutdownTimeout: number
  logLevel: LogLevel
  logFormat: LogFormat
}

export interface SettingSpec {
  key: keyof Config
  env: string
  flag: string
  default: string | undefined
  describe: string
  parse: (raw: string) => unknown
  /** A switch: its flag may be given without a value, meaning true. */
  toggle?: boolean
}

/** A duration that arms a timer: at least 100 ms. */
function parseTimeout (raw: string): number {
  const value = parseDuration(raw)
  if (value < 100) throw new Error(`expected a duration of at least 100ms, got '${raw}'`)
  return value
}

/** Every setting, its environment variable, its flag and its default. docs/configuration.md mirrors this table. */
export const SETTINGS: readonly SettingSpec[] = [
  { key: 'data', env: 'FDN_DATA', flag: '--data', default: './data', describe: 'data directory (identity, admin token, blocks, index)', parse: raw => raw },
  { key: 'httpListen', env: 'FDN_HTTP_LISTEN', flag: '--http-listen', default: '0.0.0.0:8080', describe: 'public listener: gateway and public reads', parse: parseListen },
  { key: 'adminListen', env: 'FDN_ADMIN_LISTEN', flag: '--admin-listen', default: '127.0.0.1:8081', describe: 'admin listener: admin API used by the CLI', parse: parseListen },
  { key: 'publicUrl', env: 'FDN_PUBLIC_URL', flag: '--public-url', default: undefined, describe: 'URL clients reach the public listener at', parse: parseUrl },
  { key: 's3Domain', env: 'FDN_S3_DOMAIN', flag: '--s3-domain', default: undefined, describe: 'domain for virtual-host S3 requests ({bucket}.{domain})', parse: parseDomain },
  { key: 'aliasMode', env: 'FDN_ALIAS_MODE', flag: '--alias-mode', default: 'serve', describe: 'public reads of /{bucket}/{key}: serve the bytes, or redirect to /ipfs/{cid}', parse: parseChoice(['serve', 'redirect'] as const) },
  { key: 'swarmListen', env: 'FDN_SWARM_LISTEN', flag: '--swarm-listen', default: '/ip4/0.0.0.0/tcp/4001', describe: 'swarm listener: comma-separated TCP multiaddrs', parse: parseSwarmListen },
  { key: 'swarmAnnounce', env: 'FDN_SWARM_ANNOUNCE', flag: '--swarm-announce', default: '', describe: 'addresses peers are told to dial instead of the listen addresses (port forwarding, NAT, proxies): comma-separated TCP multiaddrs without /p2p', parse: parseSwarmAnnounce },
  { key: 'bootstrap', env: 'FDN_BOOTSTRAP', flag: '--bootstrap', default: undefined, describe: 'peers dialled at start: comma-separated multiaddrs ending in /p2p/<peer id> (default: the peers of bootstrap.json)', parse: parsePeerAddresses },
  { key: 'swarmKey', env: 'FDN_SWARM_KEY', flag: '--swarm-key', default: undefined, describe: "libp2p pre-shared key file (make one with 'fdn swarm-key'): only nodes with the same key can connect", parse: parsePath },
  { key: 'trustedPeers', env: 'FDN_TRUSTED_PEERS', flag: '--trusted-peers', default: '', describe: 'comma-separated peer IDs that may ask this node to hold copies for them (and hold its copies)', parse: parsePeerIds },
  { key: 'replicas', env: 'FDN_REPLICAS', flag: '--replicas', default: '2', describe: 'copies of each blob in the swarm, the origin included, default for new tenants', parse: parseCount(1, 16) },
  { key: 'peerQuota', env: 'FDN_PEER_QUOTA', flag: '--peer-quota', default: '100GB', describe: 'bytes one trusted peer may make this node hold', parse: parseSize },
  { key: 'repairGrace', env: 'FDN_REPAIR_GRACE', flag: '--repair-grace', default: '10m', describe: 'a holder unreachable this long is replaced by another peer', parse: parseDuration },
  { key: 'repairInterval', env: 'FDN_REPAIR_INTERVAL', flag: '--repair-interval', default: '30s', describe: 'how often the holders of copies are checked', parse: parseDuration },
  { key: 'repairRate', env: 'FDN_REPAIR_RATE', flag: '--repair-rate', default: '10', describe: 'most re-replications started per second', parse: parseCount(1, 10000) },
  { key: 'cacheSize', env: 'FDN_CACHE_SIZE', flag: '--cache-size', default: '10GB', describe: 'blobs fetched from peers are kept up to this size, least recently used evicted', parse: parseSize },
  { key: 'fetchTimeout', env: 'FDN_FETCH_TIMEOUT', flag: '--fetch-timeout', default: '30s', describe: 'how long a gateway request waits for the swarm', parse: parseDuration },
  { key: 'noFetch', env: 'FDN_NO_FETCH', flag: '--fetch-disabled', default: 'false', describe: 'serve only blobs this node holds, never fetch from the swarm (1/0, true/false, yes/no)', parse: parseBoolean, toggle: true },
  { key: 'fetchAllow', env: 'FDN_FETCH_ALLOW', flag: '--fetch-allow', default: '', describe: 'comma-separated CIDR ranges origin fetches may reach although not public (loopback, private, link-local…); default none', parse: parseFetchAllow },
  { key: 'fetchPorts', env: 'FDN_FETCH_PORTS', flag: '--fetch-ports', default: '80,443', describe: 'comma-separated ports an origin URL may name', parse: parsePorts },
  { key: 'originConnectTimeout', env: 'FDN_ORIGIN_CONNECT_TIMEOUT', flag: '--origin-connect-timeout', default: '5s', describe: 'how long resolving and connecting to an origin server may take', parse: parseDuration },
  { key: 'originTimeout', env: 'FDN_ORIGIN_TIMEOUT', flag: '--origin-timeout', default: '30s', describe: 'how long one download from an origin server may take, body included', parse: parseDuration },
  { key: 'originMaxSize', env: 'FDN_ORIGIN_MAX_SIZE', flag: '--origin-max-size', default: '100MB', describe: 'largest media downloaded from an origin server', parse: parseSize },
  { key: 'actorName', env: 'FDN_ACTOR_NAME', flag: '--actor-name', default: 'fdn', describe: "the node's ActivityPub actor name (WebFinger acct:{name}@{host})", parse: parseActorName },
  { key: 'prefetchMaxSize', env: 'FDN_PREFETCH_MAX_SIZE', flag: '--prefetch-max-size', default: '20MB', describe: 'largest attachment of a relayed post that is prefetched', parse: parseSize },
  { key: 'prefetchTypes', env: 'FDN_PREFETCH_TYPES', flag: '--prefetch-types', default: 'image,video,audio', describe: 'comma-separated media types (image, video/mp4…) relayed attachments are prefetched for', parse: parseMediaTypes },
  { key: 'prefetchBudget', env: 'FDN_PREFETCH_BUDGET', flag: '--prefetch-budget', default: '10GB', describe: 'bytes prefetched from relayed posts per day at most (0: no prefetching)', parse: parseSize },
  { key: 'prefetchRate', env: 'FDN_PREFETCH_RATE', flag: '--prefetch-rate', default: '120', describe: 'prefetch downloads started per minute at most', parse: parseCount(1, 100000) },
  { key: 'uploadExpiry', env: 'FDN_UPLOAD_EXPIRY', flag: '--upload-expiry', default: '7d', describe: 'unfinished multipart uploads older than this are aborted and their parts freed', parse: parseDuration },
  { key: 'maxObjectSize', env: 'FDN_MAX_OBJECT_SIZE', flag: '--max-object-size', default: '2GB', describe: 'largest upload accepted', parse: parseSize },
  { key: 'uploadsMax', env: 'FDN_UPLOADS_MAX', flag: '--uploads-max', default: '128', describe: 'uploads running at once on the node; more are answered 503 SlowDown (each holds about 1 MiB while its client sends)', parse: parseCount(1, 100000) },
  { key: 'uploadsPerTenant', env: 'FDN_UPLOADS_PER_TENANT', flag: '--uploads-per-tenant', default: '32', describe: 'uploads running at once for one tenant; more are answered 503 SlowDown', parse: parseCount(1, 100000) },
  { key: 'bodyTimeout', env: 'FDN_BODY_TIMEOUT', flag: '--body-timeout', default: '20s', describe: 'a request body that sends nothing this long is cut (400 RequestTimeout); request headers must arrive within it too', parse: parseTimeout },
  { key: 'bodyMinRate', env: 'FDN_BODY_MIN_RATE', flag: '--body-min-rate', default: '1KB', describe: 'bytes per second a request body must average over each --body-timeout of waiting, or it is cut (0: no minimum)', parse: parseSize },
  { key: 'blockCache', env: 'FDN_BLOCK_CACHE', flag: '--block-cache', default: '128MB', describe: 'memory for verified hot blocks (0 disables)', parse: parseSize },
  { key: 'minFreeSpace', env: 'FDN_MIN_FREE_SPACE', flag: '--min-free-space', default: '1GB', describe: 'uploads are refused when the data disk has less free space than this', parse: parseSize },
  { key: 'fsync', env: 'FDN_FSYNC', flag: '--fsync', default: 'true', describe: 'flush blocks and index to the disk before acknowledging a write, so it survives a power loss (false: faster, survives only a process crash) (1/0, true/false, yes/no)', parse: parseBoolean, toggle: true },
  { key: 'shutdownTimeout', env: 'FDN_SHUTDOWN_TIMEOUT', flag: '--shutdown-timeout', default: '30s', describe: 'how long SIGTERM waits for in-flight requests', parse: parseDuration },
  { key: 'logLevel', env: 'FDN_LOG_LEVEL', flag: '--log-level', default: 'info', describe: `log level (${LOG_LEVELS.join(', ')})`, parse: parseChoice(LOG_LEVELS) },
  { key: 'logFormat', env: 'FDN_LOG_FORMAT', flag: '--log-format', default: 'auto', describe: 'json: one JSON object a line, for machines; pretty: one readable line an event, local times; auto: pretty when stdout is a terminal, else json', parse: parseChoice(LOG_FORMATS) }
]
