// Fuzzing the XML request bodies of the S3 API (gateway/s3/xml.ts and what
// reads it: CompleteMultipartUpload's parts, PutObjectAcl's policy,
// DeleteObjects' keys): documents written here by a reference encoder come
// back exactly as written; mangled documents and junk are typed 4xx refusals.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { aclFromPolicy } from '../../gateway/s3/ops/acl.ts'
import { completedParts, MAX_PART_NUMBER } from '../../gateway/s3/ops/multipart.ts'
import { child, children, parseEncodingType, parseXml, text } from '../../gateway/s3/xml.ts'
import { assertS3Refusal, fc, fuzz, junkText, mutateString, refusedOr } from '../helpers/fuzz.ts'

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers'
const XSI = 'http://www.w3.org/2001/XMLSchema-instance'

/** Text as a client's XML writer escapes it; a carriage return as a character reference (S3's advice), or XML would make it a line feed. */
function xmlText (value: string): string {
  return value.replace(/[&<>"'\r]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', '\'': '&apos;', '\r': '&#13;' })[c]!)
}

/** Characters XML 1.0 can carry at all (no NUL, no other C0 control but tab and line ends, no U+FFFE/U+FFFF). */
// eslint-disable-next-line no-control-regex
const NOT_XML = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]/
const xmlCharsArb = (maxLength: number): fc.Arbitrary<string> => fc.string({
  unit: fc.oneof(
    fc.constantFrom('a', 'Z', '0', ' ', '\t', '\n', '\r', '&', '<', '>', '"', '\'', ';', '#', ']]>', '&amp;', '<!--', 'é', '日', '😀', '\u00a0', '\u2028'),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }).filter((c) => !NOT_XML.test(c))
  ),
  maxLength
})

const declaration = fc.constantFrom('', '<?xml version="1.0" encoding="UTF-8"?>', '<?xml version="1.0" encoding="UTF-8"?>\n')
const namespace = fc.constantFrom('', ' xmlns="http://s3.amazonaws.com/doc/2006-03-01/"')
const blank = fc.constantFrom('', '\n', '\n  ', ' ')

describe('fuzz S3 XML bodies', () => {
  it('parseXml: any body is a parsed document or the typed refusal asked for', () => {
    const valid = fc.constantFrom(
      '<Delete><Object><Key>a</Key></Object><Quiet>true</Quiet></Delete>',
      '<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"e"</ETag></Part></CompleteMultipartUpload>',
      `<AccessControlPolicy><AccessControlList><Grant><Grantee xmlns:xsi="${XSI}" xsi:type="Group"><URI>${ALL_USERS}</URI></Grantee><Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>`,
      '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>',
      '<a><![CDATA[x]]><!-- c --><b c="d"/></a>'
    )
    const body = fc.oneof(
      { weight: 4, arbitrary: mutateString(valid, { maxEdits: 4 }) },
      { weight: 1, arbitrary: junkText(60) },
      { weight: 1, arbitrary: fc.array(fc.constantFrom('<a>', '</a>', '<b/>', '<', '>', '&amp;', '&', '<?xml ?>', '<!DOCTYPE', '<![CDATA[', ']]>', 'x', '"', '=', '<Key>', '</Key>', '&#0;', '&#x110000;', '&nbsp;'), { maxLength: 40 }).map((p) => p.join('')) }
    )
    fuzz(fc.tuple(body, fc.constantFrom('MalformedXML' as const, 'MalformedACLError' as const)), ([b, code]) => {
      refusedOr(() => parseXml(Buffer.from(b), 1000, code), (err) => {
        assert.equal(assertS3Refusal(err).code, code)
      })
    })
  })

  it('DeleteObjects: every key written by an XML writer is read back exactly', () => {
    const arb = fc.record({
      keys: fc.array(xmlCharsArb(30), { minLength: 1, maxLength: 6 }),
      quiet: fc.constantFrom(undefined, 'true', 'false', ' TRUE '),
      declaration,
      namespace,
      blank
    })
    fuzz(arb, (d) => {
      const objects = d.keys.map((k) => `${d.blank}<Object>${d.blank}<Key>${xmlText(k)}</Key>${d.blank}</Object>`).join('')
      const quiet = d.quiet === undefined ? '' : `<Quiet>${d.quiet}</Quiet>`
      const xml = parseXml(Buffer.from(`${d.declaration}<Delete${d.namespace}>${objects}${quiet}${d.blank}</Delete>`), 1000)
      // what the DeleteObjects operation reads of it
      const root = child(xml, 'Delete')
      assert.deepEqual(children(root, 'Object').map((entry) => text(child(entry, 'Key'))), d.keys)
      assert.equal(text(child(root, 'Quiet')), d.quiet)
    })
  })

  it('CompleteMultipartUpload: the parts written come back, in order, ETags unquoted', () => {
    const etagArb = fc.oneof(fc.stringMatching(/^[0-9a-f]{32}(-[1-9][0-9]{0,3})?$/), xmlCharsArb(12).map((e) => e.replace(/"/g, '').trim()))
    const arb = fc.record({
      parts: fc.uniqueArray(fc.integer({ min: 1, max: MAX_PART_NUMBER }), { minLength: 1, maxLength: 8 }).chain((numbers) =>
        fc.tuple(...numbers.sort((a, b) => a - b).map((n) => fc.tuple(fc.constant(n), etagArb, fc.boolean(), fc.constantFrom('', '0', '00'))))),
      declaration,
      namespace,
      blank,
      checksums: fc.boolean()
    })
    fuzz(arb, (d) => {
      const parts = d.parts.map(([n, etag, quoted, pad]) =>
        `<Part>${d.blank}<PartNumber>${pad}${n}</PartNumber>${d.blank}<ETag>${xmlText(quoted ? `"${etag}"` : etag)}</ETag>${d.checksums ? '<ChecksumCRC32>AAAAAA==</ChecksumCRC32>' : ''}</Part>`)
      const body = `${d.declaration}<CompleteMultipartUpload${d.namespace}>${parts.join(d.blank)}</CompleteMultipartUpload>`
      const read = refusedOr(() => completedParts(Buffer.from(body)), assertS3Refusal)
      // a padded number longer than five digits is refused (S3's part numbers are at most 10000)
      const tooLong = d.parts.some(([n, , , pad]) => `${pad}${n}`.length > 5)
      if (tooLong) return assert.equal(read, undefined)
      assert.deepEqual(read, d.parts.map(([n, etag]) => ({ partNumber: n, etag: etag.trim() })))
    })
  })

  it('CompleteMultipartUpload: mangled and junk bodies are typed 4xx refusals', () => {
    const valid = fc.array(fc.integer({ min: 0, max: 10_001 }), { minLength: 0, maxLength: 4 })
      .map((ns) => `<CompleteMultipartUpload>${ns.map((n) => `<Part><PartNumber>${n}</PartNumber><ETag>"0123456789abcdef0123456789abcdef"</ETag></Part>`).join('')}</CompleteMultipartUpload>`)
    fuzz(fc.oneof(mutateString(valid, { maxEdits: 4 }), junkText(50)), (body) => {
      const parts = refusedOr(() => completedParts(Buffer.from(body)), assertS3Refusal)
      if (parts === undefined) return
      assert.ok(parts.length > 0)
      for (let i = 0; i < parts.length; i++) {
        assert.ok(Number.isInteger(parts[i]!.partNumber) && parts[i]!.partNumber >= 1 && parts[i]!.partNumber <= MAX_PART_NUMBER)
        if (i > 0) assert.ok(parts[i]!.partNumber > parts[i - 1]!.partNumber)
      }
    })
  })

  it('ACL policies: public-read exactly when AllUsers is granted READ or FULL_CONTROL; anything else private or MalformedACLError', () => {
    const grantArb = fc.record({
      kind: fc.constantFrom('group', 'user'),
      uri: fc.constantFrom(ALL_USERS, 'http://acs.amazonaws.com/groups/global/AuthenticatedUsers', ` ${ALL_USERS} `, ALL_USERS.toUpperCase()),
      permission: fc.constantFrom('READ', 'FULL_CONTROL', 'WRITE', 'READ_ACP', ' READ ', 'read')
    })
    const arb = fc.record({ grants: fc.array(grantArb, { maxLength: 4 }), declaration, namespace, blank })
    interface Policy { grants: Array<{ kind: string, uri: string, permission: string }>, declaration: string, namespace: string, blank: string }
    const policy = (d: Policy): string => {
      const grants = d.grants.map((g) => g.kind === 'group'
        ? `<Grant><Grantee xmlns:xsi="${XSI}" xsi:type="Group"><URI>${g.uri}</URI></Grantee>${d.blank}<Permission>${g.permission}</Permission></Grant>`
        : `<Grant><Grantee xmlns:xsi="${XSI}" xsi:type="CanonicalUser"><ID>abc</ID></Grantee><Permission>${g.permission}</Permission></Grant>`)
      return `${d.declaration}<AccessControlPolicy${d.namespace}><Owner><ID>abc</ID></Owner>${d.blank}<AccessControlList>${grants.join(d.blank)}</AccessControlList></AccessControlPolicy>`
    }
    fuzz(arb, (d) => {
      const expected = d.grants.some((g) => g.kind === 'group' && g.uri.trim() === ALL_USERS && ['READ', 'FULL_CONTROL'].includes(g.permission.trim()))
      assert.equal(aclFromPolicy(Buffer.from(policy(d))), expected ? 'public-read' : 'private')
    })
    fuzz(mutateString(arb.map(policy), { maxEdits: 4 }), (body) => {
      const acl = refusedOr(() => aclFromPolicy(Buffer.from(body)), (err) => assert.equal(assertS3Refusal(err).code, 'MalformedACLError'))
      if (acl !== undefined) assert.ok(acl === 'public-read' || acl === 'private')
    })
  })

  it('encoding-type is url (any case), empty or absent; anything else is InvalidArgument', () => {
    fuzz(fc.oneof(mutateString(fc.constantFrom('url', 'URL')), junkText(8)), (value) => {
      const encode = refusedOr(() => parseEncodingType(value), (err) => assert.equal(assertS3Refusal(err).code, 'InvalidArgument'))
      if (encode !== undefined) assert.equal(encode, value.toLowerCase() === 'url')
    })
  })
})
