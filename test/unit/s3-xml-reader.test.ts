// The reader of S3's XML request documents: the shapes the operations read,
// and the bounds that keep a hostile document from costing more than its size.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { readXml, XmlError } from '../../gateway/s3/xml-reader.ts'

const lists = new Set(['Object', 'Part', 'Grant'])
const read = (text: string, maxElements = 1000, maxDepth = 8): unknown => readXml(text, { maxElements, maxDepth, lists })

describe('S3 XML request reader', () => {
  it('reads a document as clients write it: declaration, namespaces, references, CDATA, comments', () => {
    const doc = '\uFEFF<?xml version="1.0" encoding="UTF-8"?>\n<!-- made by a client -->' +
      '<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>true</Quiet>\n' +
      '  <Object><Key>a &amp; b &lt;c&gt; &quot;d&apos; &#13;&#x1F600;</Key><VersionId/></Object>\n' +
      '  <s3:Object xmlns:s3="http://s3.amazonaws.com/doc/2006-03-01/"><Key><![CDATA[<raw> & ]]>tail</Key></s3:Object>\n' +
      '</Delete><?pi after?>\n'
    assert.deepEqual(JSON.parse(JSON.stringify(read(doc))), {
      Delete: { Quiet: 'true', Object: [{ Key: 'a & b <c> "d\' \r😀', VersionId: '' }, { Key: '<raw> & tail' }] }
    })
  })

  it('makes lists of repeated names and keeps names such as __proto__ as names', () => {
    const doc = read('<a><b>1</b><b>2</b><__proto__>x</__proto__><constructor/></a>') as Record<string, Record<string, unknown>>
    assert.deepEqual(doc.a!.b, ['1', '2'])
    assert.equal(doc.a!.__proto__, 'x')
    assert.equal(doc.a!.constructor, '')
    assert.equal(Object.getPrototypeOf(doc), null)
  })

  it('refuses what is not well-formed, and any DOCTYPE', () => {
    for (const bad of [
      '', 'text', '<a>', '<a></b>', '<a/><b/>', '<a>x</a>y', '<a b=1/>', '<a b="1" b="2"/>', '<a b="<"/>', '<a>&nbsp;</a>',
      '<a>&#0;</a>', '<a>&#xD800;</a>', '<a>]]></a>', '<a><!-- x -- y --></a>', '<a><![CDATA[x</a>', '</a>',
      '<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>', '<a><!DOCTYPE b></a>', '<a b="1"c="2"/>'
    ]) {
      assert.throws(() => read(bad), XmlError, JSON.stringify(bad))
    }
  })

  it('stops at its bounds on elements and depth, without reading further', () => {
    assert.throws(() => read(`<a>${'<x/>'.repeat(1000)}</a>`, 1000), /too many elements/)
    assert.doesNotThrow(() => read(`<a>${'<x/>'.repeat(999)}</a>`, 1000))
    assert.throws(() => read(`${'<a>'.repeat(9)}${'</a>'.repeat(9)}`), /nested too deep/)
    assert.doesNotThrow(() => read(`${'<a>'.repeat(8)}${'</a>'.repeat(8)}`))
    // a bound is met at once, whatever follows
    const started = performance.now()
    assert.throws(() => read(`<a>${'<x/>'.repeat(500_000)}</a>`, 6002), /too many elements/)
    assert.throws(() => read('<a>'.repeat(500_000)), /nested too deep/)
    assert.ok(performance.now() - started < 1000)
  })
})
