import bytes from 'bytes'
import ms from 'ms'

/** Parsers for the value syntaxes of DESIGN.md; each throws a message meant for the operator. */

export interface ListenAddress {
  host: string
  port: number
}

const SIZE = /^\d+(?:\.\d+)?\s*(?:b|kb|mb|gb|tb|pb)?$/i
const DURATION = /^\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)$/

export function parseSize (raw: string): number {
  const value = !SIZE.test(raw) ? null : /^\d+$/.test(raw) ? Number(raw) : bytes.parse(raw)
  if (value == null || !Number.isSafeInteger(value) || value < 0) {
    throw new Error(`expected a size such as 512KB, 20MB or 2GB, got '${raw}'`)
  }
  return value
}

export function parseDuration (raw: string): number {
  const value = DURATION.test(raw) ? ms(raw as ms.StringValue) : undefined
  if (value == null || !Number.isFinite(value) || value < 0) {
    throw new Error(`expected a duration such as 500ms, 30s, 5m or 2h, got '${raw}'`)
  }
  return value
}

export function parseListen (raw: string): ListenAddress {
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(raw)
  const port = match == null ? NaN : Number(match[3])
  if (match == null || port > 65535) {
    throw new Error(`expected host:port such as 127.0.0.1:8080 or [::1]:8080, got '${raw}'`)
  }
  return { host: match[1] ?? match[2] ?? '', port }
}

export function formatListen ({ host, port }: ListenAddress): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

export function parseUrl (raw: string): URL {
  let url: URL
  try {
    url = new URL(raw)
  } catch {
    throw new Error(`expected an absolute http(s) URL, got '${raw}'`)
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`expected an http or https URL, got '${raw}'`)
  }
  return url
}

export function parseChoice<T extends string> (choices: readonly T[]): (raw: string) => T {
  return (raw) => {
    if (!(choices as readonly string[]).includes(raw)) {
      throw new Error(`expected one of ${choices.join(', ')}, got '${raw}'`)
    }
    return raw as T
  }
}

export function parseCount (min: number, max: number): (raw: string) => number {
  return (raw) => {
    const value = /^\d+$/.test(raw) ? Number(raw) : NaN
    if (!Number.isInteger(value) || value < min || value > max) throw new Error(`expected a whole number from ${min} to ${max}, got '${raw}'`)
    return value
  }
}

export function parseDomain (raw: string): string {
  const domain = raw.toLowerCase().replace(/\.$/, '')
  if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/.test(domain)) {
    throw new Error(`expected a domain name such as s3.example.org, got '${raw}'`)
  }
  return domain
}
