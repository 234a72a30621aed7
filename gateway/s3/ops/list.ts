/**
 * ListObjectsV2 (`?list-type=2`), ListObjects (v1) and ListBuckets.
 *
 * Continuation tokens are opaque to clients: the base64url of the last key
 * or common prefix of the page, where the next page starts after.
 */
import type { ListResult } from '../../../node/objects/types.ts'
import { ownBucket, ownerId } from '../caller.ts'
import type { Caller } from '../caller.ts'
import { s3Error } from '../errors.ts'
import { quotedEtag } from '../headers.ts'
import { intParam, sendXml } from '../operation.ts'
import type { Operation, OpContext } from '../operation.ts'
import { document, el, node, owner, parseEncodingType, urlEncodeValue } from '../xml.ts'

export const MAX_KEYS = 1000

export function encodeToken (after: string): string {
  return Buffer.from(after, 'utf8').toString('base64url')
}

export function decodeToken (token: string): string {
  const after = Buffer.from(token, 'base64url').toString('utf8')
  if (token === '' || encodeToken(after) !== token) {
    throw s3Error('InvalidArgument', 'The continuation token provided is incorrect', { ArgumentName: 'continuation-token', ArgumentValue: token })
  }
  return after
}

interface Page {
  result: ListResult
  prefix: string
  delimiter: string | undefined
  maxKeys: number
  encode: boolean
}

async function listPage ({ s3, caller, env }: OpContext, after: string | undefined): Promise<Page> {
  const tenant = ownBucket(s3, caller)
  const prefix = s3.query.get('prefix') ?? ''
  const delimiterParam = s3.query.get('delimiter')
  const delimiter = delimiterParam === '' ? undefined : delimiterParam
  const maxKeys = intParam(s3, 'max-keys', MAX_KEYS, 0, MAX_KEYS)
  const encode = parseEncodingType(s3.query.get('encoding-type'))
  const options = { maxKeys, ...(prefix === '' ? {} : { prefix }), ...(delimiter === undefined ? {} : { delimiter }), ...(after === undefined || after === '' ? {} : { after }) }
  const result = maxKeys === 0
    ? { objects: [], commonPrefixes: [], isTruncated: false }
    : await env.objects.list(tenant, options)
  return { result, prefix, delimiter, maxKeys, encode }
}

function contents (page: Page, caller: Caller, withOwner: boolean): string[] {
  const name = caller.tenant.name
  const out: string[] = []
  for (const { key, record } of page.result.objects) {
    out.push(node('Contents',
      el('Key', urlEncodeValue(key, page.encode)),
      el('LastModified', record.mtime),
      el('ETag', quotedEtag(record.etag)),
      el('Size', record.size),
      withOwner && owner(ownerId(name), name),
      el('StorageClass', 'STANDARD')))
  }
  for (const prefix of page.result.commonPrefixes) out.push(node('CommonPrefixes', el('Prefix', urlEncodeValue(prefix, page.encode))))
  return out
}

export const listObjectsV2: Operation = async (c) => {
  const { s3, caller, reply } = c
  const token = s3.query.get('continuation-token')
  const startAfter = s3.query.get('start-after')
  const after = token !== undefined ? decodeToken(token) : startAfter
  const page = await listPage(c, after)
  const { result, encode } = page
  const nextToken = result.isTruncated && result.nextAfter !== undefined ? encodeToken(result.nextAfter) : undefined
  return await sendXml(reply, document('ListBucketResult',
    el('Name', caller.tenant.name),
    el('Prefix', urlEncodeValue(page.prefix, encode)),
    page.delimiter !== undefined && el('Delimiter', urlEncodeValue(page.delimiter, encode)),
    el('MaxKeys', page.maxKeys),
    encode && el('EncodingType', 'url'),
    el('KeyCount', result.objects.length + result.commonPrefixes.length),
    el('IsTruncated', result.isTruncated),
    token !== undefined && el('ContinuationToken', token),
    nextToken !== undefined && el('NextContinuationToken', nextToken),
    startAfter !== undefined && el('StartAfter', urlEncodeValue(startAfter, encode)),
    ...contents(page, caller, s3.query.get('fetch-owner') === 'true')))
}

/** ListObjects v1: `marker`; `NextMarker` only with a delimiter (without one, clients continue after the last key). */
export const listObjectsV1: Operation = async (c) => {
  const { s3, caller, reply } = c
  const marker = s3.query.get('marker') ?? ''
  const page = await listPage(c, marker)
  const { result, encode } = page
  return await sendXml(reply, document('ListBucketResult',
    el('Name', caller.tenant.name),
    el('Prefix', urlEncodeValue(page.prefix, encode)),
    el('Marker', urlEncodeValue(marker, encode)),
    page.delimiter !== undefined && result.isTruncated && result.nextAfter !== undefined && el('NextMarker', urlEncodeValue(result.nextAfter, encode)),
    el('MaxKeys', page.maxKeys),
    page.delimiter !== undefined && el('Delimiter', urlEncodeValue(page.delimiter, encode)),
    encode && el('EncodingType', 'url'),
    el('IsTruncated', result.isTruncated),
    ...contents(page, caller, true)))
}

/** The caller's own bucket, the only one it can see. */
export const listBuckets: Operation = async ({ caller, reply }) => {
  const { name, created } = caller.tenant
  return await sendXml(reply, document('ListAllMyBucketsResult',
    owner(ownerId(name), name),
    node('Buckets', node('Bucket', el('Name', name), el('CreationDate', new Date(created).toISOString())))))
}
