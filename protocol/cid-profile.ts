/**
 * The `unixfs-v1-2025` CID profile: CIDv1, raw leaves, sha2-256, 1 MiB chunks,
 * balanced DAG of at most 1024 children per node. A file of at most one chunk
 * is a single raw block whose multihash is the file's SHA-256.
 */
export const CHUNK_SIZE = 1024 * 1024
export const MAX_CHILDREN = 1024
export const RAW_CODEC = 0x55
export const DAG_PB_CODEC = 0x70
export const IDENTITY_HASH = 0x00
export const SHA2_256 = 0x12
/** Inline (identity-hash) CIDs above this size are refused rather than decoded. */
export const MAX_IDENTITY_SIZE = 128
