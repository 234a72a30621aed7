import type { FastifyReply } from 'fastify'
import { MIMEType } from 'whatwg-mimetype'

/** Sent on every response of the public listener: nothing a browser loads from us can run. */
export const SAFETY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; form-action 'none'; sandbox",
  'access-control-allow-origin': '*',
  'cross-origin-resource-policy': 'cross-origin'
} as const

/**
 * The types a browser may render inline: passive media it decodes itself.
 * Not SVG (it runs scripts), nor camera raw or editor formats no browser
 * shows; a type not named here is a download.
 */
const INLINE_TYPES = new Set([
  'image/apng', 'image/avif', 'image/bmp', 'image/gif', 'image/heic', 'image/heif', 'image/jpeg', 'image/jxl',
  'image/png', 'image/tiff', 'image/vnd.microsoft.icon', 'image/webp', 'image/x-icon',
  'video/3gpp', 'video/3gpp2', 'video/matroska', 'video/mp4', 'video/mpeg', 'video/ogg', 'video/quicktime',
  'video/webm', 'video/x-m4v', 'video/x-matroska',
  'audio/3gpp', 'audio/aac', 'audio/flac', 'audio/mp3', 'audio/mp4', 'audio/mpeg', 'audio/ogg', 'audio/opus',
  'audio/wav', 'audio/wave', 'audio/webm', 'audio/x-flac', 'audio/x-m4a', 'audio/x-wav'
])

/** Parameters a media type may carry and still go inline (`codecs=opus`, `charset=binary` from `file -i`). */
const INLINE_PARAMETERS = new Set(['codecs', 'charset'])

// RFC 9110 §8.3.1: type "/" subtype *( OWS ";" OWS name "=" value ); stricter than browsers, which skip what they cannot read
const TOKEN = "[!#$%&'*+.^_`|~0-9A-Za-z-]+"
const QUOTED = '"(?:[\\t !#-\\[\\]-~]|\\\\[\\t -~])*"'
const MEDIA_TYPE = new RegExp(`^[\\t ]*${TOKEN}/${TOKEN}(?:[\\t ]*;[\\t ]*${TOKEN}=(?:${TOKEN}|${QUOTED}))*[\\t ]*$`)

/**
 * The type a `Content-Type` value (stored by an uploader, asked for in a
 * presigned URL's override, or detected from the bytes) may be served
 * inline as: its essence, when it is one well-formed media type of the
 * allow-list. Otherwise undefined, and the bytes go out as a download.
 *
 * A comma makes a list, of which browsers take the last type
 * (`image/x-foo;,text/html` is HTML to them); parameters a browser might
 * read differently from us make the value suspect: both are refused rather
 * than interpreted. The type is parsed as browsers parse it (WHATWG MIME
 * Sniffing), and only its essence goes out, so what the browser sees is
 * what was checked.
 */
export function inlineMediaType (value: string | undefined): string | undefined {
  if (value === undefined || value.includes(',') || !MEDIA_TYPE.test(value)) return undefined
  const parsed = MIMEType.parse(value)
  if (parsed === null || !INLINE_TYPES.has(parsed.essence)) return undefined
  for (const name of parsed.parameters.keys()) if (!INLINE_PARAMETERS.has(name)) return undefined
  return parsed.essence
}

/** Whether a `Content-Disposition` value is plainly an attachment (browsers treat an unknown or listed type differently). */
export function isAttachment (disposition: string | undefined): boolean {
  return disposition !== undefined && !disposition.includes(',') && /^[\t ]*attachment[\t ]*(?:;|$)/i.test(disposition)
}

/**
 * Sets Content-Type and Content-Disposition for a file: media inline under
 * its detected type, anything else as an opaque download.
 */
export function setFileType (reply: FastifyReply, mediaType: string, filename: string | undefined, download: boolean): void {
  const inline = download ? undefined : inlineMediaType(mediaType)
  reply.header('content-type', inline ?? 'application/octet-stream')
  if (inline !== undefined && filename == null) return
  reply.header('content-disposition', contentDisposition(inline !== undefined ? 'inline' : 'attachment', filename))
}

export function contentDisposition (kind: 'inline' | 'attachment', filename: string | undefined): string {
  if (filename == null || filename === '') return kind
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_')
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`
}
