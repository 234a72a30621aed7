import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

/**
 * Which IP addresses the node may connect to when it fetches a URL (the SSRF
 * guard). Every address outside the public internet is refused unless an
 * operator lists its range in the allow list (`FDN_FETCH_ALLOW`).
 *
 * The ranges are the IANA special-purpose registries (RFC 6890 and updates)
 * plus everything IPv6 outside global unicast (2000::/3). CIDR matching is
 * ipaddr.js's.
 */

type IPv4 = ipaddr.IPv4
type IPv6 = ipaddr.IPv6
type Cidr<T> = [T, number]

interface NamedRange<T> {
  cidr: string
  range: Cidr<T>
  /** Why an address in it is refused, as a noun phrase ("a loopback address"). */
  reason: string
}

function v4 (cidr: string, reason: string): NamedRange<IPv4> {
  return { cidr, range: ipaddr.IPv4.parseCIDR(cidr), reason }
}

function v6 (cidr: string, reason: string): NamedRange<IPv6> {
  return { cidr, range: ipaddr.IPv6.parseCIDR(cidr), reason }
}

/** IPv4 ranges never connected to (first match names the reason). */
export const REFUSED_V4: readonly NamedRange<IPv4>[] = [
  v4('0.0.0.0/8', 'an unspecified ("this network") address'),
  v4('10.0.0.0/8', 'a private address'),
  v4('100.64.0.0/10', 'a carrier-grade NAT (shared) address'),
  v4('127.0.0.0/8', 'a loopback address'),
  v4('169.254.0.0/16', 'a link-local address (cloud metadata lives here)'),
  v4('172.16.0.0/12', 'a private address'),
  v4('192.0.0.0/24', 'an IETF protocol assignment address'),
  v4('192.0.2.0/24', 'a documentation address'),
  v4('192.88.99.0/24', 'a 6to4 relay anycast address'),
  v4('192.168.0.0/16', 'a private address'),
  v4('198.18.0.0/15', 'a benchmarking address'),
  v4('198.51.100.0/24', 'a documentation address'),
  v4('203.0.113.0/24', 'a documentation address'),
  v4('224.0.0.0/4', 'a multicast address'),
  v4('255.255.255.255/32', 'the broadcast address'),
  v4('240.0.0.0/4', 'a reserved address')
]

/** IPv6 ranges never connected to, inside and outside 2000::/3. */
export const REFUSED_V6: readonly NamedRange<IPv6>[] = [
  v6('::/128', 'the unspecified address'),
  v6('::1/128', 'the loopback address'),
  v6('::/96', 'an IPv4-compatible address (deprecated)'),
  v6('::ffff:0:0:0/96', 'an IPv4-translated address'),
  v6('64:ff9b:1::/48', 'a local-use NAT64 address'),
  v6('100::/64', 'a discard-only address'),
  v6('2001::/23', 'an IETF protocol assignment address (Teredo, benchmarking, ORCHID…)'),
  v6('2001:db8::/32', 'a documentation address'),
  v6('3fff::/20', 'a documentation address'),
  v6('5f00::/16', 'an SRv6 SID address'),
  v6('fc00::/7', 'a unique-local address'),
  v6('fe80::/10', 'a link-local address'),
  v6('fec0::/10', 'a site-local address (deprecated)'),
  v6('ff00::/8', 'a multicast address')
]

const GLOBAL_UNICAST_V6 = ipaddr.IPv6.parseCIDR('2000::/3')
const MAPPED_V6 = ipaddr.IPv6.parseCIDR('::ffff:0:0/96')
const NAT64_V6 = ipaddr.IPv6.parseCIDR('64:ff9b::/96')
const SIX_TO_FOUR_V6 = ipaddr.IPv6.parseCIDR('2002::/16')

export type AddressVerdict =
  | { allowed: true, address: string, /** Allowed through the allow list rather than as a public address. */ listed: boolean }
  | { allowed: false, address: string, reason: string }

function v4FromParts (high: number, low: number): IPv4 {
  return new ipaddr.IPv4([high >> 8, high & 0xff, low >> 8, low & 0xff])
}

/**
 * The IPv4 address an IPv6 address carries and reaches, if any: IPv4-mapped
 * (::ffff:a.b.c.d, the same host), NAT64 (64:ff9b::/96) and 6to4 (2002::/16).
 */
function embeddedV4 (address: IPv6): { v4: IPv4, kind: string } | undefined {
  const parts = address.parts
  if (address.match(MAPPED_V6)) return { v4: address.toIPv4Address(), kind: 'IPv4-mapped' }
  if (address.match(NAT64_V6)) return { v4: v4FromParts(parts[6] ?? 0, parts[7] ?? 0), kind: 'NAT64' }
  if (address.match(SIX_TO_FOUR_V6)) return { v4: v4FromParts(parts[1] ?? 0, parts[2] ?? 0), kind: '6to4' }
  return undefined
}

/** Why an IPv4 address is not a public one, or undefined when it is. */
function refusalV4 (address: IPv4): string | undefined {
  return REFUSED_V4.find(entry => address.match(entry.range))?.reason
}

/** Why an IPv6 address is not a public one, or undefined when it is. Embedded IPv4 addresses are judged as IPv4. */
function refusalV6 (address: IPv6): string | undefined {
  const embedded = embeddedV4(address)
  if (embedded != null) {
    const reason = refusalV4(embedded.v4)
    return reason == null ? undefined : `${embedded.kind} for ${embedded.v4.toString()}, ${reason}`
  }
  const listed = REFUSED_V6.find(entry => address.match(entry.range))
  if (listed != null) return listed.reason
  if (!address.match(GLOBAL_UNICAST_V6)) return 'a reserved address (not global unicast)'
  return undefined
}

function parseIp (address: string): IPv4 | IPv6 {
  if (isIP(address) === 0) throw new TypeError(`not an IP address: '${address}'`)
  return ipaddr.parse(address)
}

/**
 * Why an address is refused when nothing is allowed, or undefined for a
 * public address. `address` is a literal as `net.isIP` accepts it.
 */
export function classifyAddress (address: string): string | undefined {
  const ip = parseIp(address)
  return ip.kind() === 'ipv4' ? refusalV4(ip as IPv4) : refusalV6(ip as IPv6)
}

export const ALLOW_EXAMPLE = '10.0.0.0/8, fd00::/8 or 192.0.2.7'

/**
 * One allow-list entry: a CIDR range (`10.0.0.0/8`, `fd00::/8`) or one
 * address (`192.0.2.7`, `::1`), in the canonical form `a.b.c.d/n` / `x::y/n`.
 * Throws a message meant for the operator.
 */
export function parseAllowEntry (raw: string): string {
  const entry = raw.trim()
  const slash = entry.indexOf('/')
  const address = slash === -1 ? entry : entry.slice(0, slash)
  const prefix = slash === -1 ? undefined : entry.slice(slash + 1)
  const family = isIP(address)
  const bits = prefix == null ? (family === 4 ? 32 : 128) : /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN
  if (family === 0 || address.includes('%') || !(bits >= 0 && bits <= (family === 4 ? 32 : 128))) {
    throw new Error(`expected a CIDR range or an address such as ${ALLOW_EXAMPLE}, got '${raw}'`)
  }
  return `${ipaddr.parse(address).toString()}/${bits}`
}

/** `FDN_FETCH_ALLOW`: a comma-separated list of CIDR ranges or addresses, canonical and deduplicated; empty for none. */
export function parseFetchAllow (raw: string): string[] {
  return [...new Set(raw.split(',').map(item => item.trim()).filter(item => item !== '').map(parseAllowEntry))]
}

/** The guard: public addresses and those inside the allow list pass. */
export class AddressPolicy {
  readonly allow: readonly string[]
  private readonly allowV4: Cidr<IPv4>[] = []
  private readonly allowV6: Cidr<IPv6>[] = []

  /** Throws on a bad entry, naming it. */
  constructor (allow: readonly string[] = []) {
    const canonical = [...new Set(allow.map(parseAllowEntry))]
    for (const entry of canonical) {
      const [ip, bits] = ipaddr.parseCIDR(entry)
      if (ip.kind() === 'ipv4') this.allowV4.push([ip as IPv4, bits])
      else this.allowV6.push([ip as IPv6, bits])
    }
    this.allow = canonical
  }

  private isListed (ip: IPv4 | IPv6): boolean {
    if (ip.kind() === 'ipv4') return this.allowV4.some(range => (ip as IPv4).match(range))
    const v6ip = ip as IPv6
    if (this.allowV6.some(range => v6ip.match(range))) return true
    // ::ffff:a.b.c.d is the IPv4 host a.b.c.d itself: an IPv4 entry covers it.
    return v6ip.match(MAPPED_V6) && this.allowV4.some(range => v6ip.toIPv4Address().match(range))
  }

  check (address: string): AddressVerdict {
    const ip = parseIp(address)
    if (this.isListed(ip)) return { allowed: true, address, listed: true }
    const reason = ip.kind() === 'ipv4' ? refusalV4(ip as IPv4) : refusalV6(ip as IPv6)
    return reason == null ? { allowed: true, address, listed: false } : { allowed: false, address, reason }
  }
}
