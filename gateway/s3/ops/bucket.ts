/**
 * Bucket-level operations. A tenant's bucket exists as long as the tenant
 * does: it is created and removed by the operator (`fdn tenant`), never
 * through S3. fdn has no region: it answers as `us-east-1`, the region every
 * SDK assumes when a location is empty.
 */
import { objectKey, ownBucket } from '../caller.ts'
import { s3Error } from '../errors.ts'
import { sendXml } from '../operation.ts'
import type { Operation, OpContext } from '../operation.ts'
import { checkVersionId } from './objects.ts'
import { document, node } from '../xml.ts'

export const REGION = 'us-east-1'

async function existingBucket ({ s3, caller, env }: OpContext): Promise<string> {
  const tenant = ownBucket(s3, caller)
  if (await env.objects.tenant(tenant) === undefined) throw s3Error('NoSuchBucket')
  return tenant
}

export const headBucket: Operation = async (c) => {
  await existingBucket(c)
  c.reply.header('x-amz-bucket-region', REGION)
  return await c.reply.code(200).send()
}

/** An empty LocationConstraint is us-east-1. */
export const getBucketLocation: Operation = async (c) => {
  await existingBucket(c)
  return await sendXml(c.reply, document('LocationConstraint'))
}

/** Versioning was never enabled: an empty configuration, as S3 answers then (rclone, s3fs and others ask). */
export const getBucketVersioning: Operation = async (c) => {
  await existingBucket(c)
  return await sendXml(c.reply, document('VersioningConfiguration'))
}

/** `aws s3 mb` of the tenant's own bucket: it exists already. Any other name is AccessDenied. */
export const createBucket: Operation = async (c) => {
  await existingBucket(c)
  throw s3Error('BucketAlreadyOwnedByYou')
}

export const deleteBucket: Operation = async (c) => {
  await existingBucket(c)
  throw s3Error('AccessDenied', 'Buckets are tenants of the node: the node operator removes them (fdn tenant remove)')
}

/** fdn keeps no tags; `aws s3 cp` between keys asks for them (`--copy-props default`). */
export const getObjectTagging: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  checkVersionId(s3)
  await env.objects.head(tenant, objectKey(s3))
  return await sendXml(reply, document('Tagging', node('TagSet')))
}

export function notImplemented (what: string): Operation {
  return async ({ s3, caller }) => {
    ownBucket(s3, caller)
    throw s3Error('NotImplemented', `${what} is not implemented by fdn`)
  }
}
