import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { inlineMediaType, isAttachment } from '../../gateway/public/safety.ts'

describe('inline media policy', () => {
  it('serves allow-listed passive media inline, by their essence only', () => {
    const inline: Array<[string, string]> = [
      ['image/png', 'image/png'],
      ['image/jpeg', 'image/jpeg'],
      ['IMAGE/PNG', 'image/png'],
      ['  video/mp4  ', 'video/mp4'],
      ['audio/ogg; codecs=opus', 'audio/ogg'],
      ['image/jpeg; charset=binary', 'image/jpeg'],
      ['video/webm;codecs="vp9"', 'video/webm'],
      ['image/webp', 'image/webp'],
      ['audio/mpeg', 'audio/mpeg']
    ]
    for (const [value, served] of inline) assert.equal(inlineMediaType(value), served, value)
  })

  it('sends anything else as a download: active types, unknown media, lists and confusing parameters', () => {
    const refused = [
      undefined, '', 'text/html', 'text/plain', 'application/xml', 'text/xml', 'text/javascript', 'application/javascript',
      'application/pdf', 'application/octet-stream', 'binary/octet-stream', 'multipart/x-mixed-replace;boundary=a',
      'image/svg+xml', 'IMAGE/SVG+XML', 'image/x-foo', 'image/vnd.adobe.photoshop', 'video/x-unknown', 'audio/x-unknown',
      // a list: browsers use its last type
      'image/x-foo;,text/html', 'image/png, text/html', 'image/png,text/html', 'text/html, image/png', 'image/png;codecs="a,b"',
      // parameters: unknown names, malformed, or that a lenient parser reads differently
      'image/png; x=1', 'image/png;<script>', 'image/png;', 'image/png; charset', 'image/png; codecs="unterminated',
      'image/png; codecs=a; boundary=b', 'image/png\u0000', 'image/png\ttext/html', 'image/png text/html', 'image/ png',
      'image/png/x', '/png', 'image/', 'image', 'image/png\u00ff'
    ]
    for (const value of refused) assert.equal(inlineMediaType(value), undefined, JSON.stringify(value))
  })

  it('keeps a stored Content-Disposition only when it plainly is an attachment', () => {
    for (const value of ['attachment', 'ATTACHMENT', 'attachment; filename="x.html"', ' attachment ;filename=x']) assert.equal(isAttachment(value), true, value)
    for (const value of [undefined, '', 'inline', 'attachmentx', 'inline, attachment', 'attachment, inline', 'attachment;filename="a,b"', 'x attachment']) {
      assert.equal(isAttachment(value), false, JSON.stringify(value))
    }
  })
})
