/**
 * S3's XML: documents written with a few string builders (the shapes are
 * small and fixed, and this is on the hot path of listings), request bodies
 * read with fast-xml-parser after validation.
 */
import { XMLParser, XMLValidator } from 'fast-xml-parser'
import { uriEncode } from './auth/encoding.ts'
import { s3Error, xmlEscape } from './errors.ts'
import type { S3ErrorCode } from './errors.ts'

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

const parser = new XMLParser({
  ignoreAttributes: true,
  removeNSPrefix: true,
  // keys and ETags are text: kept exactly, never turned into numbers or trimmed
  parseTagValue: false,
  trimValues: false,
  processEntities: true,
  htmlEntities: true,
  isArray: (name) => ['Object', 'Part', 'Grant'].includes(name)
})

export type XmlValue = string | XmlObject | XmlValue[]
export interface XmlObject { [name: string]: XmlValue }

/**
 * A request body as parsed XML. Anything not well-formed, and any DOCTYPE
 * (entity definitions S3 does not accept), is `code` (MalformedXML by
 * default).
 */
export function parseXml (body: Buffer, code: S3ErrorCode = 'MalformedXML'): XmlObject {
  const text = body.toString('utf8')
  if (text.trim() === '' || /<!DOCTYPE/i.test(text) || XMLValidator.validate(text) !== true) throw s3Error(code)
  try {
    return parser.parse(text) as XmlObject
  } catch {
    throw s3Error(code)
  }
}

/** The child element `name` of a parsed element, when it is an element. */
export function child (value: XmlValue | undefined, name: string): XmlValue | undefined {
  return value !== undefined && typeof value === 'object' && !Array.isArray(value) ? value[name] : undefined
}

/** The children named `name` (elements listed in `isArray` above always come as arrays). */
export function children (value: XmlValue | undefined, name: string): XmlValue[] {
  const found = child(value, name)
  return found === undefined ? [] : Array.isArray(found) ? found : [found]
}

/** An element's text: a leaf is parsed as a string (an empty element as ''). */
export function text (value: XmlValue | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined
}
