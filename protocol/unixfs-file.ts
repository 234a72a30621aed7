import * as dagPb from '@ipld/dag-pb'
import { UnixFS } from 'ipfs-unixfs'
import type { CID } from 'multiformats/cid'
import { FdnError } from './errors.ts'

/** A child of a UnixFS file node, as the balanced layout links it. */
export interface FileLink {
  cid: CID
  /** Bytes of file content under this child. */
  fileSize: number
  /** Bytes of blocks under this child (the dag-pb `Tsize`). */
  dagSize: number
}

/**
 * Encodes a UnixFS `file` node over its children exactly as
 * ipfs-unixfs-importer does in the `unixfs-v1-2025` profile, so the CIDs match.
 */
export function encodeFileNode (children: readonly FileLink[]): Uint8Array {
  const sizes: number[] = []
  const links: dagPb.PBLink[] = []
  for (const child of children) {
    if (child.fileSize === 0) continue
    sizes.push(child.fileSize)
    links.push({ Name: '', Tsize: child.dagSize, Hash: child.cid })
  }
  return dagPb.encode(dagPb.prepare({ Data: fileData(sizes), Links: links }))
}

/**
 * The UnixFS `Data` of a file node (Type FILE, filesize, one blocksize per
 * child): the bytes ipfs-unixfs's marshal writes, written here because its
 * protobuf writer (protons-runtime 7 and 8) garbles a uint64 from 2^31 to
 * 2^32 - 1, so the root of a 2 to 4 GiB file came out unreadable, partly
 * uninitialised memory (found by test/unit/fuzz-swarm.test.ts).
 */
function fileData (sizes: readonly number[]): Uint8Array {
  const out = [0x08, 0x02, 0x18]
  varint(sizes.reduce((sum, size) => sum + size, 0), out)
  for (const size of sizes) {
    out.push(0x20)
    varint(size, out)
  }
  return Uint8Array.from(out)
}

/** A protobuf varint of a non-negative safe integer (no 32-bit operators: they would wrap). */
function varint (value: number, out: number[]): void {
  let rest = value
  while (rest >= 0x80) {
    out.push((rest % 0x80) | 0x80)
    rest = Math.floor(rest / 0x80)
  }
  out.push(rest)
}

/** The children of a UnixFS file node, with the file bytes each covers. */
export function decodeFileNode (bytes: Uint8Array): Array<{ cid: CID, fileSize: number }> {
  let node: dagPb.PBNode
  let unixfs: UnixFS
  try {
    node = dagPb.decode(bytes)
    if (node.Data == null) throw new Error('no Data')
    unixfs = UnixFS.unmarshal(node.Data)
  } catch (err) {
    throw new FdnError('corrupt_block', `not a UnixFS node: ${(err as Error).message}`)
  }
  if (unixfs.type !== 'file' && unixfs.type !== 'raw') {
    throw new FdnError('not_found', `UnixFS ${unixfs.type} nodes are not served (only files)`)
  }
  if (unixfs.data != null && unixfs.data.length > 0 && node.Links.length === 0) {
    throw new FdnError('not_found', 'UnixFS files with inline data are not served')
  }
  if (unixfs.blockSizes.length !== node.Links.length) {
    throw new FdnError('corrupt_block', `UnixFS file node has ${node.Links.length} links but ${unixfs.blockSizes.length} block sizes`)
  }
  return node.Links.map((link, i) => ({ cid: link.Hash, fileSize: Number(unixfs.blockSizes[i]) }))
}

/** The links of any dag-pb node, for walking a DAG block by block (CAR export). */
export function dagPbLinks (bytes: Uint8Array): CID[] {
  try {
    return dagPb.decode(bytes).Links.map(link => link.Hash)
  } catch (err) {
    throw new FdnError('corrupt_block', `not a dag-pb node: ${(err as Error).message}`)
  }
}
