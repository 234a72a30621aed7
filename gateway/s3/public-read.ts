/**
 * Unauthenticated reads of `/{bucket}/{key}`: the URLs Mastodon builds from
 * `S3_ALIAS_HOST`. Only `GET|HEAD` of a `public-read` object; anything else
 * without credentials is AccessDenied, listing included.
 *
 * A private object, a missing key and an unknown bucket all answer the same
 * 403 AccessDenied (as S3 does to anyone not allowed to list the bucket), so
 * an anonymous client cannot tell which keys exist.
 *
 * Caching: an alias URL names a key, and a key can be overwritten or made
 * private (Mastodon does that to a suspended account's media), so it is not
 * immutable. The object's own Cache-Control (the uploader's choice: Mastodon
 * sends `public, max-age=315576000, immutable` for its never-rewritten keys)
 * is sent as S3 would; without one, `public, max-age=3600`. Revalidation is
 * cheap: ETag (the object's MD5) and Last-Modified give 304s.
 *
 * `FDN_ALIAS_MODE=redirect` answers 308 to `/ipfs/{cid}` instead, so a CDN
 * keeps one copy per content however many keys and tenants hold it; the
 * redirect itself names the key's current content, so it gets the same
 * default max-age, never the object's own Cache-Control.
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { FdnError } from '../../protocol/errors.ts'
import type { ObjectKey, TenantName } from '../../protocol/names.ts'
import type { S3Request } from './context.ts'
import { s3Error } from './errors.ts'
import { hasResponseOverrides } from './headers.ts'
import type { S3Env } from './operation.ts'
import { subresource } from './router.ts'
import { serveObject } from './serve.ts'

export const ALIAS_CACHE_CONTROL = 'public, max-age=3600'

const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/

export async function publicRead (env: S3Env, s3: S3Request, request: FastifyRequest, reply: FastifyReply): Promise<unknown> {
  if ((s3.method !== 'GET' && s3.method !== 'HEAD') || s3.bucket === undefined || s3.key === undefined || subresource(s3) !== undefined) {
    throw s3Error('AccessDenied')
  }
  if (hasResponseOverrides(s3)) throw s3Error('InvalidRequest', 'Request specific response headers cannot be used for anonymous GET requests.')
  if (!BUCKET_NAME.test(s3.bucket)) throw s3Error('AccessDenied')
  let record
  try {
    record = await env.objects.head(s3.bucket as TenantName, s3.key as ObjectKey)
  } catch (err) {
    if (err instanceof FdnError && err.code === 'no_such_key' && await env.objects.deletedByOwner(s3.bucket as TenantName, s3.key as ObjectKey)) throw s3Error('Gone')
    if (err instanceof FdnError && (err.code === 'no_such_key' || err.code === 'no_such_bucket')) throw s3Error('AccessDenied')
    throw err
  }
  if (record.acl !== 'public-read') throw s3Error('AccessDenied')
  if (env.aliasMode === 'redirect') {
    reply.header('location', `/ipfs/${record.cid}`)
    reply.header('cache-control', ALIAS_CACHE_CONTROL)
    return await reply.code(308).send()
  }
  return await serveObject(env.objects, record, s3, request, reply, { audience: 'browser', cacheControl: ALIAS_CACHE_CONTROL })
}
