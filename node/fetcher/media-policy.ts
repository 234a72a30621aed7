/**
 * What the fetcher accepts as media: passive images, video and audio, as
 * detected from magic bytes (never from the server's Content-Type). The same
 * rule as the gateway's inline rule: SVG is an image that runs scripts, so it
 * is refused, and so is anything not recognised (HTML, XML, scripts, PDF…).
 */
export function isFetchableMediaType (mediaType: string): boolean {
  if (mediaType === 'image/svg+xml') return false
  return /^(?:image|video|audio)\/[a-z0-9][a-z0-9.+-]*$/.test(mediaType)
}

/** The media type essence of a Content-Type header: `application/json; charset=utf-8` → `application/json`. */
export function essence (contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? ''
}

/** `application/json` or any `application/…+json` (`activity+json`, `ld+json`, `jrd+json`). */
export function isJsonContentType (contentType: string | undefined): boolean {
  const type = essence(contentType)
  return type === 'application/json' || /^application\/[a-z0-9.-]+\+json$/.test(type)
}

/** Accept header of ActivityPub document fetches. */
export const ACTIVITYPUB_ACCEPT = 'application/activity+json, application/ld+json; profile="https://www.w3.org/ns/activitystreams"'

/** Accept header of media fetches. */
export const MEDIA_ACCEPT = 'image/*, video/*, audio/*;q=0.9, */*;q=0.1'
