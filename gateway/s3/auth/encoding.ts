/**
 * Percent-encoding as SigV4 defines it (RFC 3986: only A-Z a-z 0-9 - _ . ~
 * stay as they are, every other byte becomes %XY with upper-case hex).
 *
 * Both directions work on bytes, not on JavaScript strings: a client may
 * percent-encode bytes that are not UTF-8 (botocore quotes raw bytes), and the
 * canonical form must reproduce exactly those bytes, which a round trip
 * through a decoded string (U+FFFD for bad UTF-8) would not.
 */

const HEX = '0123456789ABCDEF'

function isUnreserved (b: number): boolean {
  return (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) ||
    b === 0x2d || b === 0x5f || b === 0x2e || b === 0x7e
}

function hexValue (c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30
  if (c >= 0x41 && c <= 0x46) return c - 0x37
  if (c >= 0x61 && c <= 0x66) return c - 0x57
  return -1
}

/**
 * The bytes a percent-encoded URL component stands for. `%XY` becomes byte XY;
 * a `%` not followed by two hex digits stays a literal `%` (lenient, like most
 * servers); `plusIsSpace` decodes `+` as a space, which is what S3 does in
 * query strings (form encoding) and not in paths. Characters outside ASCII
 * (a client that sent raw UTF-8) are taken as UTF-8.
 */
export function percentDecode (text: string, plusIsSpace: boolean): Buffer {
  const raw = Buffer.from(text, 'utf8')
  // fast path: nothing to decode
  if (!raw.includes(0x25) && !(plusIsSpace && raw.includes(0x2b))) return raw
  const out = Buffer.allocUnsafe(raw.length)
  let n = 0
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i]!
    if (b === 0x25 && i + 2 < raw.length) {
      const hi = hexValue(raw[i + 1]!)
      const lo = hexValue(raw[i + 2]!)
      if (hi >= 0 && lo >= 0) {
        out[n++] = (hi << 4) | lo
        i += 2
        continue
      }
    }
    out[n++] = plusIsSpace && b === 0x2b ? 0x20 : b
  }
  return out.subarray(0, n)
}

/** RFC 3986 encoding of bytes; `keepSlash` leaves `/` alone (object key paths). */
export function uriEncodeBytes (bytes: Uint8Array, keepSlash: boolean): string {
  let out = ''
  for (const b of bytes) {
    if (isUnreserved(b) || (keepSlash && b === 0x2f)) out += String.fromCharCode(b)
    else out += '%' + HEX[b >> 4]! + HEX[b & 15]!
  }
  return out
}

/** RFC 3986 encoding of a string's UTF-8 bytes. */
export function uriEncode (text: string, keepSlash = false): string {
  return uriEncodeBytes(Buffer.from(text, 'utf8'), keepSlash)
}
