/**
 * A reader for the XML documents of S3 requests (DeleteObjects,
 * CompleteMultipartUpload, AccessControlPolicy): one pass, linear in the
 * size of the document, with bounds on its elements and depth. A general
 * parser took over a second of the event loop for a legitimate list of
 * 10,000 parts, and 3 s for 2 MB of `<x/>`.
 *
 * It checks what makes a document well-formed (one root; tags nested and
 * matched; attributes quoted and not repeated; `&` only in references to
 * the five predefined entities or to a character; no `<` in text or
 * attribute values; no `]]>` in text) and reads elements, text, references,
 * CDATA sections, comments and processing instructions. A DOCTYPE is
 * refused: S3 defines no entities, and entity definitions are how XML
 * documents are made to blow up.
 *
 * What it gives: an element with child elements as an object of them by
 * local name (namespace prefix dropped), a repeated name as a list; any
 * other element as its text ('' when empty). Attributes are checked and
 * left out.
 */

export type XmlValue = string | XmlObject | XmlValue[]
export interface XmlObject { [name: string]: XmlValue }

export interface XmlReadOptions {
  /** elements the document may hold */
  readonly maxElements: number
  /** deepest nesting allowed (the root is at depth 1) */
  readonly maxDepth: number
  /** element names that always come as lists, even when there is one */
  readonly lists: ReadonlySet<string>
}

/** A document that is not well-formed, or beyond the bounds. */
export class XmlError extends Error {
  override readonly name = 'XmlError'
}

const LT = 0x3c
const GT = 0x3e
const SLASH = 0x2f
const BANG = 0x21
const QUESTION = 0x3f
const PREDEFINED = new Map([['lt', '<'], ['gt', '>'], ['amp', '&'], ['quot', '"'], ['apos', '\'']])

interface Open {
  readonly name: string
  readonly local: string
  /** set once the element holds an element: its text (whitespace between them) is then not kept */
  children: XmlObject | undefined
  text: string
}

/** Reads a document; throws XmlError when it is not well-formed or exceeds the bounds. */
export function readXml (text: string, options: XmlReadOptions): XmlObject {
  return new Reader(text, options).document()
}

class Reader {
  private readonly s: string
  private readonly options: XmlReadOptions
  private i = 0
  private elements = 0

  constructor (text: string, options: XmlReadOptions) {
    this.s = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text
    this.options = options
  }

  document (): XmlObject {
    if (this.s.startsWith('<?xml') && /[ \t\r\n?]/.test(this.s.charAt(5))) this.instruction()
    this.misc()
    if (this.s.charCodeAt(this.i) !== LT) throw new XmlError('no root element')
    const root = newObject()
    this.element(root)
    this.misc()
    if (this.i !== this.s.length) throw new XmlError('content after the root element')
    return root
  }

  /** Whitespace, comments and processing instructions (around the root). */
  private misc (): void {
    for (;;) {
      this.space()
      if (this.s.startsWith('<!--', this.i)) this.comment()
      else if (this.s.startsWith('<?', this.i)) this.instruction()
      else if (this.s.startsWith('<!', this.i)) throw new XmlError('DOCTYPE or declaration')
      else return
    }
  }

  /** The root element and everything in it, added to `holder`; iterative, so depth costs no stack. */
  private element (holder: XmlObject): void {
    const s = this.s
    const stack: Open[] = []
    const lists = this.options.lists
    do {
      const top = stack[stack.length - 1]
      if (s.charCodeAt(this.i) !== LT) {
        // text up to the next markup (the root starts with markup, so there is an open element)
        const lt = s.indexOf('<', this.i)
        if (lt === -1) throw new XmlError('unclosed element')
        const text = this.textOf(s.slice(this.i, lt))
        if (top!.children === undefined) top!.text += text
        this.i = lt
        continue
      }
      const next = s.charCodeAt(this.i + 1)
      if (next === SLASH) {
        const open = stack.pop()
        if (open === undefined) throw new XmlError('end tag without a start')
        this.i += 2
        if (this.name() !== open.name) throw new XmlError('mismatched end tag')
        this.space()
        if (s.charCodeAt(this.i) !== GT) throw new XmlError('bad end tag')
        this.i++
        const parent = stack[stack.length - 1]
        add(parent === undefined ? holder : parent.children!, open.local, open.children ?? open.text, lists)
      } else if (next === BANG) {
        if (s.startsWith('<!--', this.i)) {
          this.comment()
        } else if (s.startsWith('<![CDATA[', this.i) && top !== undefined) {
          const end = s.indexOf(']]>', this.i + 9)
          if (end === -1) throw new XmlError('unclosed CDATA section')
          if (top.children === undefined) top.text += s.slice(this.i + 9, end)
          this.i = end + 3
        } else {
          throw new XmlError('declaration inside an element')
        }
      } else if (next === QUESTION) {
        this.instruction()
      } else {
        this.i++
        const name = this.name()
        if (++this.elements > this.options.maxElements) throw new XmlError('too many elements')
        if (stack.length >= this.options.maxDepth) throw new XmlError('nested too deep')
        const empty = this.attributes()
        const colon = name.lastIndexOf(':')
        const local = colon === -1 ? name : name.slice(colon + 1)
        if (top !== undefined && top.children === undefined) {
          top.children = newObject()
          top.text = ''
        }
        if (empty) add(top === undefined ? holder : top.children!, local, '', lists)
        else stack.push({ name, local, children: undefined, text: '' })
      }
    } while (stack.length > 0)
  }

  /** Attributes up to the end of a start tag; true for an empty-element tag (`/>`). */
  private attributes (): boolean {
    const s = this.s
    let seen: Set<string> | undefined
    for (;;) {
      const before = this.i
      this.space()
      const c = s.charCodeAt(this.i)
      if (c === GT) { this.i++; return false }
      if (c === SLASH) {
        if (s.charCodeAt(this.i + 1) !== GT) throw new XmlError('bad empty-element tag')
        this.i += 2
        return true
      }
      if (this.i === before) throw new XmlError('attributes must be separated by whitespace')
      const name = this.name()
      seen ??= new Set()
      if (seen.has(name)) throw new XmlError('repeated attribute')
      seen.add(name)
      this.space()
      if (s.charCodeAt(this.i) !== 0x3d) throw new XmlError('attribute without a value')
      this.i++
      this.space()
      const quote = s.charAt(this.i)
      if (quote !== '"' && quote !== '\'') throw new XmlError('unquoted attribute value')
      const end = s.indexOf(quote, this.i + 1)
      if (end === -1) throw new XmlError('unclosed attribute value')
      const value = s.slice(this.i + 1, end)
      if (value.includes('<')) throw new XmlError('< in an attribute value')
      if (value.includes('&')) this.references(value)
      this.i = end + 1
    }
  }

  private name (): string {
    const s = this.s
    const start = this.i
    let i = start
    for (let c = s.charCodeAt(i); isNameChar(c) && (i > start || !isDigitDashDot(c)); c = s.charCodeAt(++i));
    if (i === start) throw new XmlError('expected a name')
    this.i = i
    return s.slice(start, i)
  }

  private space (): void {
    const s = this.s
    let i = this.i
    for (let c = s.charCodeAt(i); c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d; c = s.charCodeAt(++i));
    this.i = i
  }

  private comment (): void {
    const end = this.s.indexOf('-->', this.i + 4)
    if (end === -1) throw new XmlError('unclosed comment')
    if (this.s.slice(this.i + 4, end).includes('--')) throw new XmlError('-- inside a comment')
    this.i = end + 3
  }

  private instruction (): void {
    const end = this.s.indexOf('?>', this.i + 2)
    if (end === -1) throw new XmlError('unclosed processing instruction')
    this.i = end + 2
  }

  /** Character data with its references resolved. */
  private textOf (raw: string): string {
    if (raw.includes(']]>')) throw new XmlError(']]> in text')
    return raw.includes('&') ? this.references(raw) : raw
  }

  private references (raw: string): string {
    let out = ''
    let from = 0
    for (let amp = raw.indexOf('&'); amp !== -1; amp = raw.indexOf('&', from)) {
      const semi = raw.indexOf(';', amp + 1)
      // the longest reference is &#x10FFFF; (10 characters)
      if (semi === -1 || semi - amp > 10) throw new XmlError('bad reference')
      out += raw.slice(from, amp) + resolve(raw.slice(amp + 1, semi))
      from = semi + 1
    }
    return out + raw.slice(from)
  }
}

function resolve (reference: string): string {
  const named = PREDEFINED.get(reference)
  if (named !== undefined) return named
  const m = /^#(?:([0-9]{1,7})|x([0-9A-Fa-f]{1,6}))$/.exec(reference)
  const code = m === null ? NaN : m[1] !== undefined ? Number(m[1]) : parseInt(m[2]!, 16)
  if (!(code > 0 && code <= 0x10ffff) || (code >= 0xd800 && code <= 0xdfff)) throw new XmlError('bad reference')
  return String.fromCodePoint(code)
}

/** Letters, digits, `-`, `.`, `_`, `:` and anything beyond Latin-1 punctuation (a lenient reading of XML's NameChar). */
function isNameChar (c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x3a) || c === 0x5f || c === 0x2d || c === 0x2e || c === 0xb7 || (c >= 0xc0 && c !== 0xd7 && c !== 0xf7)
}

/** What may continue a name but not start it. */
function isDigitDashDot (c: number): boolean {
  return (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0xb7
}

/** Objects without a prototype: an element named `__proto__` or `constructor` is just a name. */
function newObject (): XmlObject {
  return Object.create(null) as XmlObject
}

function add (into: XmlObject, name: string, value: XmlValue, lists: ReadonlySet<string>): void {
  const existing = into[name]
  // values are text or objects: a list is always one made here
  if (existing === undefined) into[name] = lists.has(name) ? [value] : value
  else if (Array.isArray(existing)) existing.push(value)
  else into[name] = [existing, value]
}
