/**
 * Which S3 operation a request is: by method, by whether it names a bucket
 * and a key, and by its subresource (`?acl`, `?uploads`, `?uploadId`…) or
 * `x-amz-copy-source`. Subresources fdn does not implement answer 501
 * NotImplemented, never a silent success.
 */
import { has, header } from './context.ts'
import type { S3Request } from './context.ts'
import { s3Error } from './errors.ts'
import type { Operation } from './operation.ts'
import { getBucketAcl, getObjectAcl, putObjectAcl } from './ops/acl.ts'
import {
  createBucket, deleteBucket, getBucketLocation, getBucketVersioning, getObjectTagging, headBucket, notImplemented
} from './ops/bucket.ts'
import { deleteObjects } from './ops/delete-objects.ts'
import { listBuckets, listObjectsV1, listObjectsV2 } from './ops/list.ts'
import {
  abortMultipartUpload, completeMultipartUpload, createMultipartUpload, listMultipartUploads, listParts, uploadPart, uploadPartCopy
} from './ops/multipart.ts'
import { copyObject, deleteObject, getObject, putObject } from './ops/objects.ts'

export interface Route {
  /** S3's name for the operation, for logs */
  readonly name: string
  readonly run: Operation
}

/** S3's subresources (query parameters that name a sub-resource rather than tune a request). */
const SUBRESOURCES = [
  'accelerate', 'acl', 'analytics', 'attributes', 'cors', 'delete', 'encryption', 'intelligent-tiering', 'inventory',
  'legal-hold', 'lifecycle', 'location', 'logging', 'metadataConfiguration', 'metadataTable', 'metrics', 'notification',
  'object-lock', 'ownershipControls', 'policy', 'policyStatus', 'publicAccessBlock', 'renameObject', 'replication',
  'requestPayment', 'restore', 'retention', 'select', 'session', 'tagging', 'torrent', 'uploadId', 'uploads',
  'versioning', 'versions', 'website'
]

/** The subresource a request names, if any. */
export function subresource (s3: S3Request): string | undefined {
  return SUBRESOURCES.find((name) => has(s3, name))
}

function route (name: string, run: Operation): Route {
  return { name, run }
}

function unsupported (method: string, sub: string | undefined, level: 'bucket' | 'object'): Route {
  const what = sub === undefined ? `${method} on ${level === 'bucket' ? 'a bucket' : 'an object'}` : `${method} ?${sub} on ${level === 'bucket' ? 'a bucket' : 'an object'}`
  return route('NotImplemented', notImplemented(what))
}

/** The operation of an authenticated request. */
export function routeOf (s3: S3Request): Route {
  const method = s3.method
  const sub = subresource(s3)
  if (s3.bucket === undefined) {
    if (method === 'GET' && sub === undefined) return route('ListBuckets', listBuckets)
    throw s3Error('MethodNotAllowed')
  }
  if (s3.key === undefined) {
    switch (method) {
      case 'HEAD':
        return route('HeadBucket', headBucket)
      case 'GET':
        if (sub === undefined) return s3.query.get('list-type') === '2' ? route('ListObjectsV2', listObjectsV2) : route('ListObjects', listObjectsV1)
        if (sub === 'location') return route('GetBucketLocation', getBucketLocation)
        if (sub === 'versioning') return route('GetBucketVersioning', getBucketVersioning)
        if (sub === 'acl') return route('GetBucketAcl', getBucketAcl)
        if (sub === 'uploads') return route('ListMultipartUploads', listMultipartUploads)
        return unsupported(method, sub, 'bucket')
      case 'POST':
        if (sub === 'delete') return route('DeleteObjects', deleteObjects)
        return unsupported(method, sub, 'bucket')
      case 'PUT':
        if (sub === undefined) return route('CreateBucket', createBucket)
        return unsupported(method, sub, 'bucket')
      case 'DELETE':
        if (sub === undefined) return route('DeleteBucket', deleteBucket)
        return unsupported(method, sub, 'bucket')
    }
    throw s3Error('MethodNotAllowed')
  }
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (sub === undefined) return route(method === 'GET' ? 'GetObject' : 'HeadObject', getObject)
      if (method === 'GET' && sub === 'acl') return route('GetObjectAcl', getObjectAcl)
      if (method === 'GET' && sub === 'uploadId') return route('ListParts', listParts)
      if (method === 'GET' && sub === 'tagging') return route('GetObjectTagging', getObjectTagging)
      return unsupported(method, sub, 'object')
    case 'PUT':
      if (sub === 'uploadId' && has(s3, 'partNumber')) {
        return header(s3, 'x-amz-copy-source') !== undefined ? route('UploadPartCopy', uploadPartCopy) : route('UploadPart', uploadPart)
      }
      if (sub === 'acl') return route('PutObjectAcl', putObjectAcl)
      if (sub !== undefined) return unsupported(method, sub, 'object')
      return header(s3, 'x-amz-copy-source') !== undefined ? route('CopyObject', copyObject) : route('PutObject', putObject)
    case 'POST':
      if (sub === 'uploads') return route('CreateMultipartUpload', createMultipartUpload)
      if (sub === 'uploadId') return route('CompleteMultipartUpload', completeMultipartUpload)
      return unsupported(method, sub, 'object')
    case 'DELETE':
      if (sub === 'uploadId') return route('AbortMultipartUpload', abortMultipartUpload)
      if (sub === undefined) return route('DeleteObject', deleteObject)
      return unsupported(method, sub, 'object')
  }
  throw s3Error('MethodNotAllowed')
}
