import { parseChoice, parseCount, parseDomain, parseDuration, parseListen, parseSize, parseUrl } from './values.ts'
import type { ListenAddress } from './values.ts'

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'] as const
export type LogLevel = typeof LOG_LEVELS[number]

/** The daemon's resolved configuration. */
export interface Config {
  data: string
  httpListen: ListenAddress
  adminListen: ListenAddress
  /** Base URL the node's public links are made from; defaults to the HTTP listener. */
  publicUrl: URL | undefined
  s3Domain: string | undefined
  aliasMode: 'serve' | 'redirect'
  replicas: number
  uploadExpiry: number
  maxObjectSize: number
  blockCache: number
  minFreeSpace: number
  shutdownTimeout: number
  logLevel: LogLevel
}

export interface SettingSpec {
  key: keyof Config
  env: string
  flag: string
  default: string | undefined
  describe: string
  parse: (raw: string) => unknown
}

/** Every setting, its environment variable, its flag and its default. docs/configuration.md mirrors this table. */
export const SETTINGS: readonly SettingSpec[] = [
  { key: 'data', env: 'FDN_DATA', flag: '--data', default: './data', describe: 'data directory (identity, admin token, blocks, index)', parse: raw => raw },
  { key: 'httpListen', env: 'FDN_HTTP_LISTEN', flag: '--http-listen', default: '0.0.0.0:8080', describe: 'public listener: gateway and public reads', parse: parseListen },
  { key: 'adminListen', env: 'FDN_ADMIN_LISTEN', flag: '--admin-listen', default: '127.0.0.1:8081', describe: 'admin listener: admin API used by the CLI', parse: parseListen },
  { key: 'publicUrl', env: 'FDN_PUBLIC_URL', flag: '--public-url', default: undefined, describe: 'URL clients reach the public listener at', parse: parseUrl },
  { key: 's3Domain', env: 'FDN_S3_DOMAIN', flag: '--s3-domain', default: undefined, describe: 'domain for virtual-host S3 requests ({bucket}.{domain})', parse: parseDomain },
  { key: 'aliasMode', env: 'FDN_ALIAS_MODE', flag: '--alias-mode', default: 'serve', describe: 'public reads of /{bucket}/{key}: serve the bytes, or redirect to /ipfs/{cid}', parse: parseChoice(['serve', 'redirect'] as const) },
  { key: 'replicas', env: 'FDN_REPLICAS', flag: '--replicas', default: '2', describe: "default copies of each blob for new tenants (the swarm's replication comes in a later release)", parse: parseCount(1, 16) },
  { key: 'uploadExpiry', env: 'FDN_UPLOAD_EXPIRY', flag: '--upload-expiry', default: '7d', describe: 'unfinished multipart uploads older than this are aborted and their parts freed', parse: parseDuration },
  { key: 'maxObjectSize', env: 'FDN_MAX_OBJECT_SIZE', flag: '--max-object-size', default: '2GB', describe: 'largest upload accepted', parse: parseSize },
  { key: 'blockCache', env: 'FDN_BLOCK_CACHE', flag: '--block-cache', default: '128MB', describe: 'memory for verified hot blocks (0 disables)', parse: parseSize },
  { key: 'minFreeSpace', env: 'FDN_MIN_FREE_SPACE', flag: '--min-free-space', default: '1GB', describe: 'uploads are refused when the data disk has less free space than this', parse: parseSize },
  { key: 'shutdownTimeout', env: 'FDN_SHUTDOWN_TIMEOUT', flag: '--shutdown-timeout', default: '30s', describe: 'how long SIGTERM waits for in-flight requests', parse: parseDuration },
  { key: 'logLevel', env: 'FDN_LOG_LEVEL', flag: '--log-level', default: 'info', describe: `log level (${LOG_LEVELS.join(', ')})`, parse: parseChoice(LOG_LEVELS) }
]
