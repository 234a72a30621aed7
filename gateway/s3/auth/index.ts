/**
 * Request authentication for fdn's S3 API: AWS Signature Version 4 (header
 * and presigned), and the verified request body (aws-chunked, payload hash,
 * Content-MD5, x-amz-checksum-*). Pure functions over the request as received;
 * the HTTP wiring lives with the routes.
 *
 *     const auth = await verifyRequest({ method, rawPath, rawQuery, headers }, lookupSecret)
 *     const body = verifiedBody(request.raw, auth, headers, { maxSize })
 *     await store.put(body)            // discards the upload if body throws
 *     body.digest!.checksums           // to echo x-amz-checksum-* back
 */
export { verifyRequest, requestAuthKind, MAX_SKEW_MS } from './verify.ts'
export type { AuthResult, SecretLookup, SignedRequest } from './verify.ts'
export { verifiedBody, planBody, storedContentEncoding } from './body.ts'
export type { BodyDigest, BodyOptions, BodyPlan, ObjectHashes, VerifiedBody } from './body.ts'
export { payloadMode, isStreaming } from './payload.ts'
export type { PayloadMode } from './payload.ts'
export { CHECKSUM_ALGORITHMS, CHECKSUM_NAMES, checksumOf, createChecksum } from './checksums.ts'
export type { Checksum, ChecksumAlgorithm } from './checksums.ts'
export { AwsChunkedDecoder } from './chunked.ts'
export type { AuthKind } from './parse.ts'
export type { RequestHeaders } from './canonical.ts'
