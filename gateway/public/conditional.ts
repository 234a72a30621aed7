/** Whether an `If-None-Match` header matches this strong ETag (weak comparison, as RFC 9110 says for 304). */
export function matchesIfNoneMatch (header: string | undefined, etag: string): boolean {
  if (header == null) return false
  const bare = etag.replace(/^W\//, '')
  return header.split(',').some(candidate => {
    const value = candidate.trim()
    return value === '*' || value.replace(/^W\//, '') === bare
  })
}
