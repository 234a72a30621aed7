/**
 * DeleteObjects (`POST /{bucket}?delete`): up to 1000 keys in one XML body,
 * each deleted on its own (a failure is reported for its key, the others go
 * on), `<Quiet>` leaving out the successes. As on S3 the body must carry an
 * integrity check: `Content-MD5` or an `x-amz-checksum-*` (header or
 * trailer), verified with the body.
 */
import type { ObjectKey } from '../../../protocol/names.ts'
import { ownBucket } from '../caller.ts'
import { checkKey } from '../context.ts'
import { s3Error } from '../errors.ts'
import { toS3Error } from '../error-map.ts'
import { sendXml } from '../operation.ts'
import type { Operation } from '../operation.ts'
import { xmlBody } from '../request-body.ts'
import { child, children, document, el, node, parseXml, text } from '../xml.ts'

export const MAX_DELETE_KEYS = 1000
/**
 * The largest request document: 1000 keys of up to 1024 bytes, twice over
 * for escaping and the optional elements (the bound OpenStack Swift's S3
 * layer uses too).
 */
const MAX_BODY_BYTES = 2 * MAX_DELETE_KEYS * 1024
/** An Object holds Key, VersionId, ETag, LastModifiedTime and Size at most. */
const MAX_ELEMENTS = MAX_DELETE_KEYS * 6 + 2
/** Deletions run this many at a time. */
const CONCURRENCY = 8

interface Outcome {
  key: string
  error?: { code: string, message: string }
}

function hasIntegrityHeader (headers: Record<string, string | string[] | undefined>): boolean {
  if (headers['content-md5'] !== undefined || headers['x-amz-trailer'] !== undefined) return true
  return Object.keys(headers).some((name) => /^x-amz-checksum-(crc32|crc32c|crc64nvme|sha1|sha256)$/.test(name))
}

export const deleteObjects: Operation = async ({ s3, caller, request, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  if (!hasIntegrityHeader(s3.headers)) throw s3Error('InvalidRequest', 'Missing required header for this request: Content-Md5')
  // more elements than 1000 keys can have is more than 1000 keys: MalformedXML, as S3 answers those
  const xml = parseXml(await xmlBody({ caller, request, reply, env }, MAX_BODY_BYTES), MAX_ELEMENTS)
  const root = child(xml, 'Delete')
  if (root === undefined) throw s3Error('MalformedXML')
  const quiet = text(child(root, 'Quiet'))?.trim().toLowerCase() === 'true'
  const entries = children(root, 'Object')
  if (entries.length === 0 || entries.length > MAX_DELETE_KEYS) throw s3Error('MalformedXML')
  const keys = entries.map((entry) => {
    const key = text(child(entry, 'Key'))
    if (key === undefined) throw s3Error('MalformedXML')
    return key
  })

  const outcomes: Outcome[] = new Array(keys.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < keys.length) {
      const index = next++
      const key = keys[index]!
      try {
        if (key === '') throw s3Error('InvalidArgument', 'The key must not be empty')
        checkKey(key)
        await env.objects.delete(tenant, key as ObjectKey)
        outcomes[index] = { key }
      } catch (err) {
        const s3err = toS3Error(err)
        if (s3err.status >= 500) request.log.error({ err, key }, 'DeleteObjects: one key failed')
        outcomes[index] = { key, error: { code: s3err.code, message: s3err.message } }
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(CONCURRENCY, keys.length) }, worker))

  const body = outcomes.map((o) => o.error === undefined
    ? (quiet ? '' : node('Deleted', el('Key', o.key)))
    : node('Error', el('Key', o.key), el('Code', o.error.code), el('Message', o.error.message)))
  return await sendXml(reply, document('DeleteResult', ...body))
}
