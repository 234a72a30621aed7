/**
 * Who sends a request, and what it may touch. A tenant is one bucket: its
 * own name. Any other bucket name — another tenant's or one that does not
 * exist — is AccessDenied, so a tenant cannot learn which tenants a node
 * serves. Only its own bucket can be NoSuchBucket (when the tenant was
 * removed while the request ran).
 */
import { createHash } from 'node:crypto'
import type { ObjectStoreApi } from '../../node/objects/object-store-api.ts'
import type { TenantRecord } from '../../node/objects/types.ts'
import type { ObjectKey, TenantName } from '../../protocol/names.ts'
import { verifyRequest } from './auth/index.ts'
import type { AuthResult, SignedRequest } from './auth/index.ts'
import type { S3Request } from './context.ts'
import { s3Error } from './errors.ts'

export interface Caller {
  readonly auth: AuthResult
  readonly tenant: TenantRecord
}

/** Verifies the request's SigV4 signature (header or presigned) against the tenant's secret. */
export async function authenticate (s3: S3Request, objects: ObjectStoreApi): Promise<Caller> {
  return await verifyTenantRequest({ method: s3.method, rawPath: s3.rawPath, rawQuery: s3.rawQuery, headers: s3.headers }, objects)
}

/** A signed request's tenant: the S3 API and the retrieve API both sign with the tenant's S3 keys. */
export async function verifyTenantRequest (request: SignedRequest, objects: ObjectStoreApi): Promise<Caller> {
  let tenant: TenantRecord | undefined
  const auth = await verifyRequest(request, async (accessKeyId) => {
    const found = await objects.credentials(accessKeyId)
    tenant = found?.tenant
    return found?.secret
  })
  return { auth, tenant: tenant! }
}

/** The caller's own bucket, when the request names it; AccessDenied for any other. */
export function ownBucket (s3: S3Request, caller: Caller): TenantName {
  if (s3.bucket !== caller.tenant.name) throw s3Error('AccessDenied')
  return caller.tenant.name
}

/** The key of an object request (the router only sends object requests here). */
export function objectKey (s3: S3Request): ObjectKey {
  if (s3.key === undefined) throw s3Error('InvalidRequest', 'This operation needs an object key')
  return s3.key as ObjectKey
}

/** Canonical-user id S3 shows as a tenant's Owner: stable, not secret. */
export function ownerId (tenant: string): string {
  return createHash('sha256').update(`fdn tenant ${tenant}`).digest('hex')
}
