/**
 * S3's XML: documents written with a few string builders (the shapes are
 * small and fixed, and this is on the hot path of listings), request bodies
 * read with a bounded, linear-time reader (xml-reader.ts).
 */
import { uriEncode } from './auth/encoding.ts'
import { s3Error, xmlEscape } from './errors.ts'
import type { S3ErrorCode } from './errors.ts'
import { readXml, XmlError } from './xml-reader.ts'
import type { XmlObject, XmlValue } from './xml-reader.ts'

export type { XmlObject, XmlValue }

export const S3_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/'
const DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'

/** `<name>text</name>`, or nothing when the value is undefined. */
export function el (name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlEscape(String(value))}</${name}>`
}

/** `<name>children</name>` (children already XML). */
export function node (name: string, ...children: Array<string | undefined | false>): string {
  return `<${name}>${children.filter((c) => typeof c === 'string').join('')}</${name}>`
}

/** A whole response document, in S3's namespace. */
export function document (root: string, ...children: Array<string | undefined | false>): string {
  return `${DECLARATION}<${root} xmlns="${S3_NAMESPACE}">${children.filter((c) => typeof c === 'string').join('')}</${root}>`
}

/** S3's `Owner` of everything a tenant holds: the tenant itself. */
export function owner (id: string, name: string, element = 'Owner'): string {
  return node(element, el('ID', id), el('DisplayName', name))
}

/** A value as S3 writes it with `encoding-type=url`: UTF-8 percent-encoded, `/` kept (clients decode with unquote_plus / CGI.unescape). */
export function urlEncodeValue (value: string, encode: boolean): string {
  return encode ? uriEncode(value, true) : value
}

/** `encoding-type`: only `url` exists. */
export function parseEncodingType (value: string | undefined): boolean {
  if (value === undefined || value === '') return false
  if (value.toLowerCase() === 'url') return true
  throw s3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', { ArgumentName: 'encoding-type', ArgumentValue: value })
}

/** S3's request documents nest five deep at most (AccessControlPolicy › … › Grantee › ID). */
const MAX_DEPTH = 8
/** Elements that always come as lists, even when there is one. */
const LISTS = new Set(['Object', 'Part', 'Grant'])

/**
 * A request body as parsed XML, holding at most `maxElements` elements.
 * Anything not well-formed, beyond the bounds, or with a DOCTYPE (entity
 * definitions S3 does not accept) is `code` (MalformedXML by default).
 * Reading takes time linear in the body (xml-reader.ts).
 */
export function parseXml (body: Buffer, maxElements: number, code: S3ErrorCode = 'MalformedXML'): XmlObject {
  try {
    return readXml(body.toString('utf8'), { maxElements, maxDepth: MAX_DEPTH, lists: LISTS })
  } catch (err) {
    if (err instanceof XmlError) throw s3Error(code)
    throw err
  }
}

/** The child element `name` of a parsed element, when it is an element. */
export function child (value: XmlValue | undefined, name: string): XmlValue | undefined {
  return value !== undefined && typeof value === 'object' && !Array.isArray(value) ? value[name] : undefined
}

/** The children named `name` (elements in LISTS above always come as arrays). */
export function children (value: XmlValue | undefined, name: string): XmlValue[] {
  const found = child(value, name)
  return found === undefined ? [] : Array.isArray(found) ? found : [found]
}

/** An element's text: a leaf is parsed as a string (an empty element as ''). */
export function text (value: XmlValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined
}
