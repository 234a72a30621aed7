import type { FastifyReply } from 'fastify'

/** Sent on every response of the public listener: nothing a browser loads from us can run. */
export const SAFETY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'content-security-policy': "default-src 'none'; form-action 'none'; sandbox",
  'access-control-allow-origin': '*',
  'cross-origin-resource-policy': 'cross-origin'
} as const

/** Types a browser may render inline: passive media only. */
const INLINE_PREFIXES = ['image/', 'video/', 'audio/']
const NEVER_INLINE = new Set(['image/svg+xml'])

export function isInlineSafe (mediaType: string): boolean {
  return !NEVER_INLINE.has(mediaType) && INLINE_PREFIXES.some(prefix => mediaType.startsWith(prefix))
}

/**
 * Sets Content-Type and Content-Disposition for a file: media inline under
 * its detected type, anything else as an opaque download.
 */
export function setFileType (reply: FastifyReply, mediaType: string, filename: string | undefined, download: boolean): void {
  const inline = isInlineSafe(mediaType) && !download
  reply.header('content-type', inline ? mediaType : 'application/octet-stream')
  if (inline && filename == null) return
  reply.header('content-disposition', contentDisposition(inline ? 'inline' : 'attachment', filename))
}

export function contentDisposition (kind: 'inline' | 'attachment', filename: string | undefined): string {
  if (filename == null || filename === '') return kind
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_')
  return `${kind}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`
}
