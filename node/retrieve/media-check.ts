import { FdnError } from '../../protocol/errors.ts'
import { isFetchableMediaType } from '../fetcher/media-policy.ts'

/** The retrieve API hands out media only, by the fetcher's rule: `subject` names the bytes in the refusal. */
export function requireMedia (mediaType: string, subject: string): void {
  if (!isFetchableMediaType(mediaType)) throw new FdnError('media_type_not_allowed', `${subject} is ${mediaType}, not an image, video or audio file`)
}
