/**
 * `x-amz-copy-source` (CopyObject, UploadPartCopy): `[/]bucket/key[?versionId=…]`,
 * URL-encoded, and `x-amz-copy-source-range: bytes=first-last`.
 */
import type { ObjectKey } from '../../protocol/names.ts'
import { percentDecode } from './auth/encoding.ts'
import type { Caller } from './caller.ts'
import { checkKey, header } from './context.ts'
import type { S3Request } from './context.ts'
import { s3Error } from './errors.ts'

const utf8 = new TextDecoder('utf-8', { fatal: true })

export interface CopySource {
  readonly bucket: string
  readonly key: ObjectKey
}

function invalid (value: string, message = 'Invalid copy source object key'): Error {
  return s3Error('InvalidArgument', message, { ArgumentName: 'x-amz-copy-source', ArgumentValue: value })
}

export function parseCopySource (value: string): CopySource {
  const q = value.indexOf('?')
  const path = q === -1 ? value : value.slice(0, q)
  if (q !== -1) {
    const params = new URLSearchParams(value.slice(q + 1))
    const versionId = params.get('versionId')
    // fdn keeps no versions: only the current one, which S3 calls "null" when versioning never was on
    if (versionId !== null && versionId !== 'null') throw invalid(value, 'Invalid version id specified')
  }
  let decoded: string
  try {
    decoded = utf8.decode(percentDecode(path.startsWith('/') ? path.slice(1) : path, false))
  } catch {
    throw invalid(value)
  }
  const slash = decoded.indexOf('/')
  if (slash <= 0 || slash === decoded.length - 1) throw invalid(value)
  const key = decoded.slice(slash + 1)
  checkKey(key)
  return { bucket: decoded.slice(0, slash), key: key as ObjectKey }
}

/** The copy source of a request, which must be in the caller's own bucket (AccessDenied otherwise, as for any other bucket). */
export function ownCopySource (s3: S3Request, caller: Caller): CopySource | undefined {
  const value = header(s3, 'x-amz-copy-source')
  if (value === undefined) return undefined
  const source = parseCopySource(value)
  if (source.bucket !== caller.tenant.name) throw s3Error('AccessDenied')
  return source
}

/** `bytes=first-last` (both inclusive, both required) as a half-open range, checked against the source size. */
export function copySourceRange (s3: S3Request, size: number): { start: number, end: number } | undefined {
  const value = header(s3, 'x-amz-copy-source-range')
  if (value === undefined) return undefined
  const m = /^bytes=(\d{1,16})-(\d{1,16})$/.exec(value.trim())
  if (m === null || Number(m[1]) > Number(m[2])) {
    throw s3Error('InvalidArgument', 'The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy',
      { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: value })
  }
  const start = Number(m[1])
  const end = Number(m[2]) + 1
  if (end > size) {
    throw s3Error('InvalidArgument', `Range specified is not valid for source object of size: ${size}`, { ArgumentName: 'x-amz-copy-source-range', ArgumentValue: value })
  }
  return { start, end }
}
