import path from 'node:path'
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
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

const TRUE = ['1', 'true', 'yes']
const FALSE = ['0', 'false', 'no']

/** A switch: `1`, `true`, `yes` or `0`, `false`, `no` (any case). */
export function parseBoolean (raw: string): boolean {
  const value = raw.trim().toLowerCase()
  if (TRUE.includes(value)) return true
  if (FALSE.includes(value)) return false
  throw new Error(`expected one of 1, 0, true, false, yes, no, got '${raw}'`)
}

/** A comma-separated list; blanks around items and empty items are dropped. */
export function parseList (raw: string): string[] {
  return raw.split(',').map(item => item.trim()).filter(item => item !== '')
}

/** A file path, made absolute against the working directory. */
export function parsePath (raw: string): string {
  if (raw.trim() === '') throw new Error('expected a file path, got an empty value')
  return path.resolve(raw)
}

const LISTEN_EXAMPLE = '/ip4/0.0.0.0/tcp/4001 or /ip6/::/tcp/4001'
const PEER_ADDRESS_EXAMPLE = '/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW… or /dns4/fdn.example.org/tcp/4001/p2p/12D3KooW…'

function toMultiaddr (raw: string, example: string): Multiaddr {
  try {
    return multiaddr(raw)
  } catch (err) {
    throw new Error(`expected a multiaddr such as ${example}, got '${raw}' (${(err as Error).message})`)
  }
}

/** A swarm listen address: `/ip4/<address>/tcp/<port>` or `/ip6/<address>/tcp/<port>` (the swarm speaks TCP only). */
export function parseSwarmListenAddress (raw: string): string {
  const address = toMultiaddr(raw, LISTEN_EXAMPLE)
  const names = address.getComponents().map(c => c.name)
  if (names.length !== 2 || (names[0] !== 'ip4' && names[0] !== 'ip6') || names[1] !== 'tcp') {
    throw new Error(`expected a TCP listen multiaddr such as ${LISTEN_EXAMPLE}, got '${raw}'`)
  }
  return address.toString()
}

const ANNOUNCE_EXAMPLE = '/ip4/203.0.113.7/tcp/4001 or /dns4/fdn.example.org/tcp/4001'

/**
 * Comma-separated addresses told to peers instead of the listen addresses
 * (behind port forwarding, NAT or a proxy): TCP multiaddrs over `ip4`, `ip6`,
 * `dns`, `dns4` or `dns6`, without `/p2p` (libp2p appends the peer ID); empty
 * for none.
 */
export function parseSwarmAnnounce (raw: string): string[] {
  return [...new Set(parseList(raw).map((item) => {
    const address = toMultiaddr(item, ANNOUNCE_EXAMPLE)
    const names = address.getComponents().map(c => c.name)
    if (names.length !== 2 || !['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(names[0] ?? '') || names[1] !== 'tcp') {
      throw new Error(`expected a TCP address to announce such as ${ANNOUNCE_EXAMPLE}, got '${item}'`)
    }
    return address.toString()
  }))]
}

/** Comma-separated swarm listen addresses, at least one, without duplicates. */
export function parseSwarmListen (raw: string): string[] {
  const addresses = [...new Set(parseList(raw).map(parseSwarmListenAddress))]
  if (addresses.length === 0) throw new Error(`expected at least one TCP listen multiaddr such as ${LISTEN_EXAMPLE}, got '${raw}'`)
  return addresses
}

/** A peer ID (`12D3KooW…`, `Qm…` or its CID form), in its canonical base58 form. */
export function parsePeerId (raw: string): string {
  try {
    return peerIdFromString(raw).toString()
  } catch {
    throw new Error(`expected a peer ID such as 12D3KooW…, got '${raw}'`)
  }
}

/** Comma-separated peer IDs, without duplicates; empty for none. */
export function parsePeerIds (raw: string): string[] {
  return [...new Set(parseList(raw).map(parsePeerId))]
}

/**
 * A peer to dial: a TCP multiaddr that ends in `/p2p/<peer id>`, such as
 * `/ip4/203.0.113.7/tcp/4001/p2p/12D3KooW…` (`ip4`, `ip6`, `dns`, `dns4` or `dns6`).
 */
export function parsePeerAddress (raw: string): string {
  const address = toMultiaddr(raw, PEER_ADDRESS_EXAMPLE)
  const components = address.getComponents()
  const last = components[components.length - 1]
  if (last?.name !== 'p2p' || last.value == null) {
    throw new Error(`expected a peer address ending in /p2p/<peer id>, such as ${PEER_ADDRESS_EXAMPLE}, got '${raw}'`)
  }
  try {
    peerIdFromString(last.value)
  } catch {
    throw new Error(`expected a peer address ending in /p2p/<peer id>, got '${raw}' ('${last.value}' is not a peer ID)`)
  }
  const names = components.map(c => c.name)
  if (names.length !== 3 || !['ip4', 'ip6', 'dns', 'dns4', 'dns6'].includes(names[0] ?? '') || names[1] !== 'tcp') {
    throw new Error(`expected a TCP peer address such as ${PEER_ADDRESS_EXAMPLE}, got '${raw}'`)
  }
  return address.toString()
}

/** Comma-separated peer addresses, without duplicates; empty for none. */
export function parsePeerAddresses (raw: string): string[] {
  return [...new Set(parseList(raw).map(parsePeerAddress))]
}

/** An ActivityPub preferredUsername: what WebFinger's `acct:` and Mastodon's username rules accept. */
export function parseActorName (raw: string): string {
  if (!/^[a-z0-9_][a-z0-9_.-]{0,62}$/i.test(raw)) {
    throw new Error(`expected a name of letters, digits, '_', '.' or '-' (at most 63), got '${raw}'`)
  }
  return raw
}

const MEDIA_TOP_TYPES = ['image', 'video', 'audio']

/** Media types or top-level types (`image`, `video/mp4`): only image, video and audio ones, the kinds fdn fetches at all. */
export function parseMediaTypes (raw: string): string[] {
  const types = raw.split(',').map(entry => entry.trim().toLowerCase()).filter(entry => entry !== '')
  for (const type of types) {
    const [top, sub, ...rest] = type.split('/')
    if (!MEDIA_TOP_TYPES.includes(top ?? '') || rest.length > 0 || (sub != null && !/^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/.test(sub))) {
      throw new Error(`expected image, video or audio media types such as image,video/mp4, got '${type}'`)
    }
  }
  return [...new Set(types)]
}
