import { isIP } from 'node:net'
import { FetchError } from './errors.ts'

/** Longest URL the fetcher accepts. */
export const MAX_URL_LENGTH = 8192

/** Ports allowed unless configured otherwise. */
export const DEFAULT_PORTS: readonly number[] = [80, 443]

/** A URL that passed the checks that need no network: scheme, credentials, port. */
export interface Target {
  url: URL
  https: boolean
  /** Host name or IP literal, without IPv6 brackets. */
  host: string
  /** The host is an IP literal (WHATWG-normalised: `http://2130706433/` is `127.0.0.1`). */
  literal: boolean
  port: number
}

/**
 * True when the raw URL has an `@` in its authority, even one WHATWG parsing
 * drops (`http://:@host/`, `http://@host/`).
 */
function rawHasUserinfo (raw: string): boolean {
  const input = raw.replace(/^[\x00-\x20]+/, '').replace(/[\t\n\r]/g, '')
  const scheme = /^[a-z][a-z0-9+.-]*:/i.exec(input)
  // Without a scheme (a relative redirect), only `//host` has an authority.
  if (scheme == null && !/^[/\\]{2}/.test(input)) return false
  const rest = input.slice(scheme?.[0].length ?? 0).replace(/^[/\\]*/, '')
  const end = rest.search(/[/\\?#]/)
  return (end === -1 ? rest : rest.slice(0, end)).includes('@')
}

/**
 * Parses and checks what a URL says by itself: length, form, scheme,
 * credentials, a host. `base` resolves a relative redirect Location.
 */
export function checkUrlForm (raw: string, base?: URL): Target {
  if (raw.length > MAX_URL_LENGTH) throw new FetchError('bad_url', raw, `the URL is longer than ${MAX_URL_LENGTH} characters`)
  let url: URL
  try {
    url = new URL(raw, base)
  } catch {
    throw new FetchError('bad_url', raw, base == null ? 'not a valid absolute URL' : `the redirect from ${base.href} is not a valid URL`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new FetchError('scheme_not_allowed', url.href, `the scheme '${url.protocol.slice(0, -1)}' is not allowed (only http and https)`)
  }
  if (url.username !== '' || url.password !== '' || rawHasUserinfo(raw)) {
    throw new FetchError('userinfo_not_allowed', url.href, 'credentials (user@) in a URL are not allowed')
  }
  const https = url.protocol === 'https:'
  const port = url.port === '' ? (https ? 443 : 80) : Number(url.port)
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname
  if (host === '') throw new FetchError('bad_url', url.href, 'the URL has no host')
  return { url, https, host, literal: isIP(host) !== 0, port }
}

/** Checks a URL before anything is resolved or sent: its form (checkUrlForm), then its port. */
export function checkUrl (raw: string, allowedPorts: ReadonlySet<number>, base?: URL): Target {
  const target = checkUrlForm(raw, base)
  if (!allowedPorts.has(target.port)) {
    throw new FetchError('port_not_allowed', target.url.href, `port ${target.port} is not allowed (allowed: ${[...allowedPorts].join(', ')})`)
  }
  return target
}

/** Validates a list of allowed ports (1–65535). */
export function checkPorts (ports: readonly number[]): Set<number> {
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`expected ports from 1 to 65535, got '${port}'`)
  }
  return new Set(ports)
}

/** `FDN_FETCH_PORTS`: comma-separated ports, deduplicated, at least one. */
export function parsePorts (raw: string): number[] {
  const items = raw.split(',').map(item => item.trim()).filter(item => item !== '')
  const ports = items.map(item => /^\d{1,5}$/.test(item) ? Number(item) : NaN)
  if (ports.length === 0 || ports.some(port => !(port >= 1 && port <= 65535))) {
    throw new Error(`expected comma-separated ports from 1 to 65535 such as 80,443, got '${raw}'`)
  }
  return [...new Set(ports)]
}
