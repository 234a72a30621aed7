/**
 * Conditional requests (RFC 9110 §13.2.2, as S3 evaluates them), on an
 * object's ETag and Last-Modified:
 *
 * 1. `If-Match` false → 412; without If-Match, `If-Unmodified-Since` false → 412
 * 2. `If-None-Match` matching → 304 for GET/HEAD (412 otherwise); without
 *    If-None-Match, `If-Modified-Since` not modified → 304 (GET/HEAD only)
 *
 * So If-Match true wins over If-Unmodified-Since false, and If-None-Match
 * false wins over If-Modified-Since true — the two combinations S3's
 * documentation spells out. The `x-amz-copy-source-if-*` headers of
 * CopyObject and UploadPartCopy follow the same order, answering 412 for
 * every failure.
 */
import { matchesIfNoneMatch } from '../public/conditional.ts'
import { s3Error } from './errors.ts'
import type { S3Request } from './context.ts'
import { header } from './context.ts'

export interface Validators {
  /** unquoted */
  readonly etag: string
  /** ISO time */
  readonly lastModified: string
}

/** `If-Match`: strong comparison; `*` matches any existing object. */
function matchesIfMatch (value: string, etag: string): boolean {
  return value.split(',').some((candidate) => {
    const tag = candidate.trim()
    return tag === '*' || (!tag.startsWith('W/') && tag.replace(/^"|"$/g, '') === etag)
  })
}

/** An HTTP date in whole seconds, or undefined when it is not one (an invalid date is ignored, RFC 9110). */
function httpDateSeconds (value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const ms = Date.parse(value)
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000)
}

interface Conditions {
  ifMatch: string | undefined
  ifNoneMatch: string | undefined
  ifModifiedSince: string | undefined
  ifUnmodifiedSince: string | undefined
}

type Outcome = 'proceed' | 'precondition-failed' | 'not-modified'

function evaluate (c: Conditions, v: Validators): Outcome {
  const modified = Math.floor(Date.parse(v.lastModified) / 1000)
  if (c.ifMatch !== undefined) {
    if (!matchesIfMatch(c.ifMatch, v.etag)) return 'precondition-failed'
  } else {
    const since = httpDateSeconds(c.ifUnmodifiedSince)
    if (since !== undefined && modified > since) return 'precondition-failed'
  }
  if (c.ifNoneMatch !== undefined) {
    if (matchesIfNoneMatch(c.ifNoneMatch, `"${v.etag}"`)) return 'not-modified'
  } else {
    const since = httpDateSeconds(c.ifModifiedSince)
    if (since !== undefined && modified <= since) return 'not-modified'
  }
  return 'proceed'
}

/** GetObject/HeadObject preconditions: throws PreconditionFailed or NotModified. */
export function checkPreconditions (request: S3Request, validators: Validators): void {
  const outcome = evaluate(conditionsOf(request, ''), validators)
  if (outcome === 'precondition-failed') throw s3Error('PreconditionFailed', undefined, { Condition: conditionName(request) })
  if (outcome === 'not-modified') throw s3Error('NotModified')
}

/** The four conditional headers, plain (`if-match`…) or for a copy source (`x-amz-copy-source-if-match`…). */
function conditionsOf (request: S3Request, prefix: '' | 'x-amz-copy-source-'): Parameters<typeof evaluate>[0] {
  return {
    ifMatch: header(request, `${prefix}if-match`),
    ifNoneMatch: header(request, `${prefix}if-none-match`),
    ifModifiedSince: header(request, `${prefix}if-modified-since`),
    ifUnmodifiedSince: header(request, `${prefix}if-unmodified-since`)
  }
}

function conditionName (request: S3Request): string {
  return header(request, 'if-match') !== undefined ? 'If-Match' : 'If-Unmodified-Since'
}

/** CopyObject/UploadPartCopy preconditions on the source: throws PreconditionFailed. */
export function checkCopySourcePreconditions (request: S3Request, validators: Validators): void {
  const outcome = evaluate(conditionsOf(request, 'x-amz-copy-source-'), validators)
  if (outcome !== 'proceed') throw s3Error('PreconditionFailed')
}

/**
 * `If-Range`: a Range applies only while the object is still the one the
 * client holds part of (strong ETag, or the exact Last-Modified date).
 */
export function rangeStillValid (request: S3Request, validators: Validators): boolean {
  const ifRange = header(request, 'if-range')
  if (ifRange === undefined) return true
  const value = ifRange.trim()
  if (value.startsWith('"')) return value === `"${validators.etag}"`
  if (value.startsWith('W/')) return false
  const since = httpDateSeconds(value)
  return since !== undefined && since === Math.floor(Date.parse(validators.lastModified) / 1000)
}
