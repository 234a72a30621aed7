// The pure parts of the S3 surface (gateway/s3/): request naming, routing, conditions, ACLs, XML bodies, error mapping.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import type { IncomingMessage } from 'node:http'
import { FdnError } from '../../protocol/errors.ts'
import { checkCopySourcePreconditions, checkPreconditions, rangeStillValid } from '../../gateway/s3/conditional.ts'
import { parseS3Request, virtualHostRewrite } from '../../gateway/s3/context.ts'
import type { S3Request } from '../../gateway/s3/context.ts'
import { copySourceRange, parseCopySource } from '../../gateway/s3/copy-source.ts'
import { toS3Error } from '../../gateway/s3/error-map.ts'
import { S3Error } from '../../gateway/s3/errors.ts'
import { cannedAcl, requestedAcl, storedHeaders, userMetadata } from '../../gateway/s3/headers.ts'
import { aclFromPolicy } from '../../gateway/s3/ops/acl.ts'
import { decodeToken, encodeToken } from '../../gateway/s3/ops/list.ts'
import { completedParts } from '../../gateway/s3/ops/multipart.ts'
import { routeOf } from '../../gateway/s3/router.ts'

function raw (method: string, url: string, headers: Record<string, string> = {}): IncomingMessage {
  return { method, url, headers: { host: 'node.example:8080', ...headers } } as unknown as IncomingMessage
}

function req (method: string, url: string, headers: Record<string, string> = {}, domain?: string): S3Request {
  return parseS3Request(raw(method, url, headers), domain, 'ID')
}

function s3Code (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    assert.ok(err instanceof S3Error, String(err))
    return err.code
  }
  return 'none'
}

describe('S3 surface: what a request names', () => {
  it('reads path-style bucket and key, percent-decoded, `+` kept in paths and a space in queries', () => {
    const r = req('GET', '/mastodon/media_attachments/a%20b+c%2Fd.png?prefix=x+y&acl')
    assert.equal(r.style, 'path')
    assert.equal(r.bucket, 'mastodon')
    assert.equal(r.key, 'media_attachments/a b+c/d.png')
    assert.equal(r.query.get('prefix'), 'x y')
    assert.equal(r.query.get('acl'), '')
    assert.equal(r.rawPath, '/mastodon/media_attachments/a%20b+c%2Fd.png')
    assert.equal(r.rawQuery, 'prefix=x+y&acl')
    assert.equal(r.resource, '/mastodon/media_attachments/a b+c/d.png')
    assert.equal(req('GET', '/').bucket, undefined)
    assert.equal(req('GET', '/mastodon').key, undefined)
    assert.equal(req('GET', '/mastodon/').key, undefined)
    assert.equal(req('GET', '/mastodon//lead').key, '/lead')
  })

  it('reads virtual-host requests from the Host header, keeping the wire URL for the signature', () => {
    const r = req('GET', '/ipfs/x?list-type=2', { host: 'media.s3.example:9000' }, 's3.example')
    assert.equal(r.style, 'virtual-host')
    assert.equal(r.bucket, 'media')
    assert.equal(r.key, 'ipfs/x')
    const root = req('GET', '/', { host: 'media.s3.example' }, 's3.example')
    assert.deepEqual([root.bucket, root.key], ['media', undefined])
    // the domain itself, and deeper names, are path-style
    assert.equal(req('GET', '/b/k', { host: 's3.example' }, 's3.example').bucket, 'b')
    assert.equal(req('GET', '/b/k', { host: 'a.b.s3.example' }, 's3.example').bucket, 'b')

    const rewrite = virtualHostRewrite('s3.example')!
    const message = { url: '/healthz?x=1', headers: { host: 'Media.S3.Example' } } as unknown as IncomingMessage
    assert.equal(rewrite(message), '/media/healthz?x=1')
    assert.equal(rewrite({ url: '/healthz', headers: { host: 'node.example' } } as unknown as IncomingMessage), '/healthz')
    assert.equal(virtualHostRewrite(undefined), undefined)
    // what the router saw is not what is signed
    const rewritten = { method: 'GET', url: '/media/k', originalUrl: '/k', headers: { host: 'media.s3.example' } } as unknown as IncomingMessage
    const parsed = parseS3Request(rewritten, 's3.example', 'ID')
    assert.deepEqual([parsed.rawPath, parsed.bucket, parsed.key], ['/k', 'media', 'k'])
  })

  it('refuses keys S3 refuses: over 1024 bytes, NUL, bytes that are not UTF-8', () => {
    assert.equal(s3Code(() => req('PUT', `/b/${'x'.repeat(1025)}`)), 'KeyTooLongError')
    assert.equal(s3Code(() => req('PUT', `/b/${'%C3%A9'.repeat(512)}x`)), 'KeyTooLongError')
    assert.equal(s3Code(() => req('PUT', `/b/${'%C3%A9'.repeat(512)}`)), 'none')
    assert.equal(s3Code(() => req('PUT', '/b/a%00b')), 'InvalidArgument')
    assert.equal(s3Code(() => req('PUT', '/b/a%FFb')), 'InvalidURI')
  })
})

describe('S3 surface: routing', () => {
  const cases: Array<[string, string, Record<string, string>, string]> = [
    ['GET', '/', {}, 'ListBuckets'],
    ['HEAD', '/b', {}, 'HeadBucket'],
    ['GET', '/b', {}, 'ListObjects'],
    ['GET', '/b?list-type=2&prefix=a', {}, 'ListObjectsV2'],
    ['GET', '/b?location', {}, 'GetBucketLocation'],
    ['GET', '/b?versioning', {}, 'GetBucketVersioning'],
    ['GET', '/b?uploads', {}, 'ListMultipartUploads'],
    ['GET', '/b?acl', {}, 'GetBucketAcl'],
    ['POST', '/b?delete', {}, 'DeleteObjects'],
    ['PUT', '/b', {}, 'CreateBucket'],
    ['GET', '/b?cors', {}, 'NotImplemented'],
    ['PUT', '/b?policy', {}, 'NotImplemented'],
    ['GET', '/b/k', {}, 'GetObject'],
    ['HEAD', '/b/k', {}, 'HeadObject'],
    ['GET', '/b/k?acl', {}, 'GetObjectAcl'],
    ['PUT', '/b/k?acl', {}, 'PutObjectAcl'],
    ['GET', '/b/k?uploadId=u', {}, 'ListParts'],
    ['PUT', '/b/k', {}, 'PutObject'],
    ['PUT', '/b/k', { 'x-amz-copy-source': 'b/j' }, 'CopyObject'],
    ['PUT', '/b/k?partNumber=1&uploadId=u', {}, 'UploadPart'],
    ['PUT', '/b/k?partNumber=1&uploadId=u', { 'x-amz-copy-source': 'b/j' }, 'UploadPartCopy'],
    ['POST', '/b/k?uploads', {}, 'CreateMultipartUpload'],
    ['POST', '/b/k?uploadId=u', {}, 'CompleteMultipartUpload'],
    ['DELETE', '/b/k?uploadId=u', {}, 'AbortMultipartUpload'],
    ['DELETE', '/b/k', {}, 'DeleteObject'],
    ['GET', '/b/k?tagging', {}, 'GetObjectTagging'],
    ['PUT', '/b/k?tagging', {}, 'NotImplemented'],
    ['POST', '/b/k?restore', {}, 'NotImplemented'],
    ['GET', '/b/k?response-content-type=x&versionId=null', {}, 'GetObject']
  ]
  for (const [method, url, headers, name] of cases) {
    it(`${method} ${url} → ${name}`, () => { assert.equal(routeOf(req(method, url, headers)).name, name) })
  }
})

describe('S3 surface: conditional requests (RFC 9110 order)', () => {
  const v = { etag: 'abc', lastModified: '2025-06-01T12:00:00.500Z' }
  const at = (h: Record<string, string>): string => s3Code(() => { checkPreconditions(req('GET', '/b/k', h), v) })
  const before = 'Sun, 01 Jun 2025 11:00:00 GMT'
  const same = 'Sun, 01 Jun 2025 12:00:00 GMT'

  it('If-Match and If-Unmodified-Since → 412; If-Match true wins over If-Unmodified-Since false', () => {
    assert.equal(at({ 'if-match': '"abc"' }), 'none')
    assert.equal(at({ 'if-match': '"x", "abc"' }), 'none')
    assert.equal(at({ 'if-match': '*' }), 'none')
    assert.equal(at({ 'if-match': '"x"' }), 'PreconditionFailed')
    assert.equal(at({ 'if-match': 'W/"abc"' }), 'PreconditionFailed', 'If-Match compares strongly')
    assert.equal(at({ 'if-unmodified-since': before }), 'PreconditionFailed')
    assert.equal(at({ 'if-unmodified-since': same }), 'none', 'compared in whole seconds')
    assert.equal(at({ 'if-match': '"abc"', 'if-unmodified-since': before }), 'none')
    assert.equal(at({ 'if-unmodified-since': 'not a date' }), 'none')
  })

  it('If-None-Match and If-Modified-Since → 304; If-None-Match false wins over If-Modified-Since true', () => {
    assert.equal(at({ 'if-none-match': '"abc"' }), 'NotModified')
    assert.equal(at({ 'if-none-match': 'W/"abc"' }), 'NotModified', 'If-None-Match compares weakly')
    assert.equal(at({ 'if-none-match': '"x"' }), 'none')
    assert.equal(at({ 'if-modified-since': same }), 'NotModified')
    assert.equal(at({ 'if-modified-since': before }), 'none')
    assert.equal(at({ 'if-none-match': '"x"', 'if-modified-since': same }), 'none')
    assert.equal(at({ 'if-match': '"x"', 'if-none-match': '"abc"' }), 'PreconditionFailed')
  })

  it('copy-source conditions fail with 412 only', () => {
    const copy = (h: Record<string, string>): string => s3Code(() => { checkCopySourcePreconditions(req('PUT', '/b/k', h), v) })
    assert.equal(copy({ 'x-amz-copy-source-if-none-match': '"abc"' }), 'PreconditionFailed')
    assert.equal(copy({ 'x-amz-copy-source-if-modified-since': same }), 'PreconditionFailed')
    assert.equal(copy({ 'x-amz-copy-source-if-match': '"abc"', 'x-amz-copy-source-if-unmodified-since': before }), 'none')
    assert.equal(copy({ 'x-amz-copy-source-if-none-match': '"x"', 'x-amz-copy-source-if-modified-since': same }), 'none')
  })

  it('If-Range keeps a Range only for the same object', () => {
    assert.equal(rangeStillValid(req('GET', '/b/k', { 'if-range': '"abc"' }), v), true)
    assert.equal(rangeStillValid(req('GET', '/b/k', { 'if-range': '"old"' }), v), false)
    assert.equal(rangeStillValid(req('GET', '/b/k', { 'if-range': same }), v), true)
    assert.equal(rangeStillValid(req('GET', '/b/k', { 'if-range': before }), v), false)
  })
})

describe('S3 surface: headers, ACLs and XML bodies', () => {
  it('keeps system metadata (not aws-chunked) and x-amz-meta-*', () => {
    const r = req('PUT', '/b/k', { 'content-type': 'image/png', 'content-encoding': 'aws-chunked', 'cache-control': 'max-age=1', 'x-amz-meta-Origin': 'x', 'x-amz-meta-a': 'b' })
    assert.deepEqual(storedHeaders(r), { contentType: 'image/png', cacheControl: 'max-age=1' })
    assert.deepEqual(storedHeaders(req('PUT', '/b/k', { 'content-encoding': 'gzip,aws-chunked' })), { contentEncoding: 'gzip' })
    assert.deepEqual(userMetadata(req('PUT', '/b/k', { 'x-amz-meta-a': 'b' })), { a: 'b' })
    assert.equal(s3Code(() => userMetadata(req('PUT', '/b/k', { 'x-amz-meta-big': 'x'.repeat(3000) }))), 'MetadataTooLarge')
  })

  it('maps canned ACLs and grants to public-read or private', () => {
    assert.equal(cannedAcl('public-read'), 'public-read')
    assert.equal(cannedAcl('bucket-owner-full-control'), 'private')
    assert.equal(s3Code(() => cannedAcl('everyone')), 'InvalidArgument')
    assert.equal(requestedAcl(req('PUT', '/b/k'), 'private'), 'private')
    assert.equal(requestedAcl(req('PUT', '/b/k'), undefined), undefined)
    assert.equal(requestedAcl(req('PUT', '/b/k', { 'x-amz-grant-read': 'uri="http://acs.amazonaws.com/groups/global/AllUsers"' }), 'private'), 'public-read')
    assert.equal(s3Code(() => requestedAcl(req('PUT', '/b/k', { 'x-amz-acl': 'private', 'x-amz-grant-read': 'id=x' }), 'private')), 'InvalidRequest')
    const policy = (grants: string): Buffer => Buffer.from(`<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Owner><ID>o</ID></Owner><AccessControlList>${grants}</AccessControlList></AccessControlPolicy>`)
    const allUsers = '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="Group"><URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee><Permission>READ</Permission></Grant>'
    const owner = '<Grant><Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"><ID>o</ID></Grantee><Permission>FULL_CONTROL</Permission></Grant>'
    assert.equal(aclFromPolicy(policy(owner + allUsers)), 'public-read')
    assert.equal(aclFromPolicy(policy(owner)), 'private')
    assert.equal(s3Code(() => aclFromPolicy(Buffer.from('<AccessControlPolicy>'))), 'MalformedACLError')
  })

  it('reads CompleteMultipartUpload bodies: order, numbers, well-formedness', () => {
    const body = (parts: string): Buffer => Buffer.from(`<CompleteMultipartUpload>${parts}</CompleteMultipartUpload>`)
    const part = (n: string, etag: string): string => `<Part><PartNumber>${n}</PartNumber><ETag>${etag}</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>`
    assert.deepEqual(completedParts(body(part('1', '"aa"') + part('3', 'bb'))), [{ partNumber: 1, etag: 'aa' }, { partNumber: 3, etag: 'bb' }])
    assert.equal(s3Code(() => completedParts(body(part('2', 'a') + part('1', 'b')))), 'InvalidPartOrder')
    assert.equal(s3Code(() => completedParts(body(part('1', 'a') + part('1', 'b')))), 'InvalidPartOrder')
    assert.equal(s3Code(() => completedParts(body(part('10001', 'a')))), 'InvalidArgument')
    assert.equal(s3Code(() => completedParts(body(part('x', 'a')))), 'MalformedXML')
    assert.equal(s3Code(() => completedParts(body(''))), 'MalformedXML')
    assert.equal(s3Code(() => completedParts(Buffer.from('<!DOCTYPE a [<!ENTITY x "y">]><CompleteMultipartUpload/>'))), 'MalformedXML')
  })

  it('reads x-amz-copy-source and its range', () => {
    assert.deepEqual(parseCopySource('/b/a%20b%3Fc.png'), { bucket: 'b', key: 'a b?c.png' })
    assert.deepEqual(parseCopySource('b/dir/k?versionId=null'), { bucket: 'b', key: 'dir/k' })
    assert.equal(s3Code(() => parseCopySource('b/k?versionId=3')), 'InvalidArgument')
    assert.equal(s3Code(() => parseCopySource('b')), 'InvalidArgument')
    assert.equal(s3Code(() => parseCopySource('b/')), 'InvalidArgument')
    assert.deepEqual(copySourceRange(req('PUT', '/b/k', { 'x-amz-copy-source-range': 'bytes=0-9' }), 10), { start: 0, end: 10 })
    assert.equal(s3Code(() => copySourceRange(req('PUT', '/b/k', { 'x-amz-copy-source-range': 'bytes=0-10' }), 10)), 'InvalidArgument')
    assert.equal(s3Code(() => copySourceRange(req('PUT', '/b/k', { 'x-amz-copy-source-range': 'bytes=5-' }), 10)), 'InvalidArgument')
  })

  it('round-trips continuation tokens and refuses forged ones', () => {
    for (const key of ['a', 'media/ü/😀', 'x'.repeat(1024)]) assert.equal(decodeToken(encodeToken(key)), key)
    assert.equal(s3Code(() => decodeToken('***')), 'InvalidArgument')
    assert.equal(s3Code(() => decodeToken('')), 'InvalidArgument')
  })

  it('maps the node\'s errors to S3\'s, leaking nothing of internal ones', () => {
    const cases: Array<[FdnError | Error, string, number]> = [
      [new FdnError('no_such_key', 'x'), 'NoSuchKey', 404],
      [new FdnError('no_such_bucket', 'x'), 'NoSuchBucket', 404],
      [new FdnError('no_such_upload', 'x'), 'NoSuchUpload', 404],
      [new FdnError('quota_exceeded', 'x'), 'QuotaExceeded', 403],
      [new FdnError('too_large', 'x'), 'EntityTooLarge', 400],
      [new FdnError('invalid_part', 'x'), 'InvalidPart', 400],
      [new FdnError('invalid_part_order', 'x'), 'InvalidPartOrder', 400],
      [new FdnError('entity_too_small', 'x'), 'EntityTooSmall', 400],
      [new FdnError('key_too_long', 'x'), 'KeyTooLongError', 400],
      [new FdnError('insufficient_storage', 'x'), 'InsufficientStorage', 507],
      [new FdnError('aborted', 'x'), 'IncompleteBody', 400],
      [new FdnError('corrupt_block', 'secret path'), 'InternalError', 500],
      [Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), 'IncompleteBody', 400],
      [new Error('boom'), 'InternalError', 500]
    ]
    for (const [err, code, status] of cases) {
      const mapped = toS3Error(err)
      assert.deepEqual([mapped.code, mapped.status], [code, status], err.message)
    }
    assert.doesNotMatch(toS3Error(new FdnError('corrupt_block', 'secret path')).message, /secret/)
  })
})
