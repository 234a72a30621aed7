import { fileTypeFromBuffer } from 'file-type'

/** How many leading bytes media type detection looks at. */
export const SNIFF_BYTES = 4100

export const UNKNOWN_MEDIA_TYPE = 'application/octet-stream'

/** Detects a media type from magic numbers; the file name and the client's claim are never trusted. */
export async function detectMediaType (head: Uint8Array): Promise<string> {
  const found = await fileTypeFromBuffer(head)
  return found?.mime ?? UNKNOWN_MEDIA_TYPE
}
