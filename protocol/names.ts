import { FdnError } from './errors.ts'

/** A tenant's name, which is also its S3 bucket name. */
export type TenantName = string & { readonly __brand: 'TenantName' }
/** An S3 object key: an opaque UTF-8 string of at most 1024 bytes. */
export type ObjectKey = string & { readonly __brand: 'ObjectKey' }

export const MAX_KEY_BYTES = 1024

/** First path segments the public listener routes itself: a bucket of that name could not be reached path-style. */
export const RESERVED_TENANT_NAMES: readonly string[] = ['ipfs', 'api', 'actor', 'inbox', 'nodeinfo', 'healthz', 'readyz']

/**
 * S3's bucket naming rules, without dots, so every tenant also works as a
 * virtual host (`{bucket}.{FDN_S3_DOMAIN}`) under one wildcard certificate.
 */
export function parseTenantName (name: string): TenantName {
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(name)) {
    throw new FdnError('invalid_request', `'${name}' is not a valid tenant (bucket) name: 3 to 63 characters, lower-case letters, digits and hyphens, starting and ending with a letter or digit`)
  }
  if (name.startsWith('xn--') || name.endsWith('-s3alias')) {
    throw new FdnError('invalid_request', `'${name}' uses a prefix or suffix S3 reserves`)
  }
  if (RESERVED_TENANT_NAMES.includes(name)) {
    throw new FdnError('invalid_request', `'${name}' is a path of fdn's public listener (${RESERVED_TENANT_NAMES.join(', ')} are reserved): choose another tenant name`)
  }
  return name as TenantName
}

export function parseObjectKey (key: string): ObjectKey {
  if (key === '') throw new FdnError('invalid_request', 'object key is empty')
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) throw new FdnError('key_too_long', `object key is longer than ${MAX_KEY_BYTES} bytes`)
  if (key.includes('\0')) throw new FdnError('invalid_request', 'object key contains a NUL character')
  return key as ObjectKey
}
