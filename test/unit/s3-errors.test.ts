// S3 error codes, statuses and XML bodies (gateway/s3/errors.ts).
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { errorCodes } from 'fastify'
import { toS3Error } from '../../gateway/s3/error-map.ts'
import { S3Error, isS3Error, s3Error, s3ErrorXml, s3Status, xmlEscape } from '../../gateway/s3/errors.ts'
import type { S3ErrorCode } from '../../gateway/s3/errors.ts'

describe('S3 errors', () => {
  it('carry S3\'s statuses', () => {
    const expected: Array<[S3ErrorCode, number]> = [
      ['AccessDenied', 403], ['InvalidAccessKeyId', 403], ['SignatureDoesNotMatch', 403], ['RequestTimeTooSkewed', 403],
      ['AuthorizationHeaderMalformed', 400], ['AuthorizationQueryParametersError', 400], ['MissingSecurityHeader', 400],
      ['XAmzContentSHA256Mismatch', 400], ['BadDigest', 400], ['InvalidDigest', 400], ['InvalidRequest', 400],
      ['IncompleteBody', 400], ['InvalidArgument', 400], ['EntityTooLarge', 400], ['NoSuchKey', 404], ['NoSuchBucket', 404],
      ['NoSuchUpload', 404], ['InvalidPart', 400], ['InvalidPartOrder', 400], ['EntityTooSmall', 400], ['InvalidRange', 416],
      ['PreconditionFailed', 412], ['NotModified', 304], ['QuotaExceeded', 403], ['MalformedXML', 400], ['KeyTooLongError', 400],
      ['InvalidBucketName', 400], ['MethodNotAllowed', 405], ['NotImplemented', 501], ['InternalError', 500], ['SlowDown', 503],
      ['BucketNotEmpty', 409], ['MissingContentLength', 411], ['InvalidChunkSizeError', 403], ['MalformedTrailerError', 400]
    ]
    for (const [code, status] of expected) {
      assert.equal(s3Status(code), status, code)
      const err = s3Error(code)
      assert.ok(err instanceof S3Error && err instanceof Error && isS3Error(err))
      assert.equal(err.status, status)
      assert.equal(err.code, code)
      assert.ok(err.message.length > 0)
    }
    assert.equal(s3Error('NoSuchKey').message, 'The specified key does not exist.')
    assert.equal(new S3Error('AccessDenied', 'Request has expired').message, 'Request has expired')
  })

  it('write S3\'s XML body, escaped, with extra elements after the message', () => {
    const err = s3Error('AccessDenied', 'There were headers present in the request which were not signed', { HeadersNotSigned: 'x-amz-acl' })
    assert.equal(s3ErrorXml(err, '/bucket/a&b<c>.jpg', 'REQ1'),
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>There were headers present in the request which were not signed</Message>' +
      '<HeadersNotSigned>x-amz-acl</HeadersNotSigned><Resource>/bucket/a&amp;b&lt;c&gt;.jpg</Resource><RequestId>REQ1</RequestId></Error>')
    assert.equal(s3ErrorXml(s3Error('NoSuchKey'), '/b/k', 'R', 'H'),
      '<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Resource>/b/k</Resource><RequestId>R</RequestId><HostId>H</HostId></Error>')
  })

  it('never write what XML cannot hold', () => {
    assert.equal(xmlEscape('a\u0000b\u001fc"\'d'), 'a\uFFFDb\uFFFDc&quot;&apos;d')
    assert.equal(xmlEscape('\uD800x\uD83D\uDE00'), '\uFFFDx\uD83D\uDE00')
    const xml = s3ErrorXml(s3Error('InvalidArgument', 'bad', { 'not a name': 'x', ArgumentValue: '<\u0001>' }), '/b/\u0000', 'R')
    assert.ok(!xml.includes('not a name'))
    assert.ok(xml.includes('<ArgumentValue>&lt;\uFFFD&gt;</ArgumentValue>'))
    assert.ok(xml.includes('<Resource>/b/\uFFFD</Resource>'))
  })
})

describe('S3 error map', () => {
  it('answers fastify\'s refusals of a request as client errors, never InternalError', () => {
    const cases: Array<[Error, S3ErrorCode]> = [
      [new errorCodes.FST_ERR_CTP_INVALID_MEDIA_TYPE(), 'InvalidArgument'],
      [new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), 'EntityTooLarge'],
      [new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH(), 'IncompleteBody'],
      [new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY(), 'InvalidRequest'],
      [Object.assign(new Error('aborted'), { code: 'ECONNRESET' }), 'IncompleteBody']
    ]
    for (const [err, code] of cases) {
      const s3 = toS3Error(err)
      assert.equal(s3.code, code, err.message)
      assert.ok(s3.status >= 400 && s3.status < 500, `${err.message}: ${s3.status}`)
    }
    // a fastify error that is the server's own (a 500) stays InternalError, as does anything unknown
    assert.equal(toS3Error(new errorCodes.FST_ERR_CTP_INVALID_TYPE()).code, 'InternalError')
    assert.equal(toS3Error(new TypeError('x is undefined')).code, 'InternalError')
  })
})
