import type { TenantName } from '../../protocol/names.ts'
import type { ObjectKey } from '../../protocol/names.ts'
import type { IndexDb } from '../store/index-db.ts'
import type { ListOptions, ListResult } from './types.ts'

/**
 * S3 listing over the `object` table, whose keys `{tenant}/{key}` sort as S3
 * sorts (UTF-8 bytes). With a delimiter, keys that share a prefix up to it
 * roll up into one common prefix, and the scan jumps past them.
 */
export async function listObjects (db: IndexDb, tenant: TenantName, options: ListOptions): Promise<ListResult> {
  const base = `${tenant}/`
  const prefix = options.prefix ?? ''
  const result: ListResult = { objects: [], commonPrefixes: [], isTruncated: false }
  if (options.maxKeys <= 0) return result
  let lower = { gte: base + prefix } as { gt?: string, gte?: string }
  if (options.after != null && options.after >= prefix) {
    const afterCommonPrefix = options.delimiter != null && options.delimiter !== '' && options.after.endsWith(options.delimiter)
    // a page that ended on a common prefix resumes after every key under it
    lower = { gt: base + options.after + (afterCommonPrefix ? '\u{10FFFF}' : '') }
  }
  const upper = `${tenant}0` // '0' sorts right after '/'
  for (;;) {
    let jumped = false
    for await (const [id, record] of db.entries('object', { ...lower, lt: upper })) {
      const key = id.slice(base.length)
      if (!key.startsWith(prefix)) break
      const delimiterAt = options.delimiter != null && options.delimiter !== '' ? key.indexOf(options.delimiter, prefix.length) : -1
      if (result.objects.length + result.commonPrefixes.length === options.maxKeys) {
        result.isTruncated = true
        return result
      }
      if (delimiterAt >= 0) {
        const common = key.slice(0, delimiterAt + (options.delimiter ?? '').length)
        if (common !== options.after) {
          result.commonPrefixes.push(common)
          result.nextAfter = common
        }
        // skip every key under this common prefix: restart the scan after its last possible key
        lower = { gt: base + common + '\u{10FFFF}' }
        jumped = true
        break
      }
      result.objects.push({ key: key as ObjectKey, record })
      result.nextAfter = key
    }
    if (!jumped) return result
  }
}
