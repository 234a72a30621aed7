import { CID } from 'multiformats/cid'
import { base32 } from 'multiformats/bases/base32'
import { bases } from 'multiformats/basics'
import type { MultibaseDecoder } from 'multiformats/bases/interface'
import { FdnError } from './errors.ts'
import { DAG_PB_CODEC, IDENTITY_HASH, MAX_IDENTITY_SIZE, RAW_CODEC, SHA2_256 } from './cid-profile.ts'

export { CID }

/** A CID in its canonical text form (CIDv1, base32 lower case). */
export type CidString = string & { readonly __brand: 'CidString' }

/** Decodes a CID in any multibase multiformats knows, picked by its prefix character. */
const anyBase: MultibaseDecoder<string> = {
  decode (text: string): Uint8Array<ArrayBuffer> {
    const base = Object.values(bases).find(candidate => candidate.prefix === text[0])
    if (base == null) throw new Error(`unknown multibase prefix '${text[0] ?? ''}'`)
    return base.decoder.decode(text)
  }
}

const SUPPORTED_CODECS = new Set([RAW_CODEC, DAG_PB_CODEC])
const SUPPORTED_HASHES = new Set([SHA2_256, IDENTITY_HASH])

/**
 * Parses a CID as it appears in a URL or API call. Accepts CIDv0 and any
 * multibase, but only the codecs and hashes this node can verify: anything
 * else is a 400, not a silent 404.
 */
export function parseCid (text: string): CID {
  let cid: CID
  try {
    cid = text.startsWith('Q') ? CID.parse(text) : CID.parse(text, anyBase)
  } catch {
    throw new FdnError('invalid_cid', `'${truncate(text)}' is not a valid CID`)
  }
  if (!SUPPORTED_CODECS.has(cid.code)) {
    throw new FdnError('invalid_cid', `CID codec 0x${cid.code.toString(16)} is not supported (raw and dag-pb are)`)
  }
  if (!SUPPORTED_HASHES.has(cid.multihash.code)) {
    throw new FdnError('invalid_cid', `CID hash 0x${cid.multihash.code.toString(16)} is not supported (sha2-256 is)`)
  }
  if (cid.multihash.code === IDENTITY_HASH && cid.multihash.digest.length > MAX_IDENTITY_SIZE) {
    throw new FdnError('invalid_cid', `inline CID holds more than ${MAX_IDENTITY_SIZE} bytes`)
  }
  return cid.toV1()
}

export function cidString (cid: CID): CidString {
  return cid.toV1().toString(base32) as CidString
}

function truncate (text: string): string {
  return text.length > 80 ? `${text.slice(0, 80)}…` : text
}
