/**
 * GetObjectAcl / PutObjectAcl (`?acl`) and GetBucketAcl. An object's ACL is
 * `public-read` or `private`; as an AccessControlPolicy that is the owner's
 * FULL_CONTROL, plus READ for the AllUsers group when public. A PutObjectAcl
 * takes a canned `x-amz-acl` (or `x-amz-grant-*` headers), or a policy
 * document: public-read when it grants AllUsers READ (or FULL_CONTROL).
 */
import type { Acl } from '../../../node/objects/types.ts'
import { objectKey, ownBucket, ownerId } from '../caller.ts'
import { s3Error } from '../errors.ts'
import { requestedAcl } from '../headers.ts'
import { sendXml } from '../operation.ts'
import type { Operation } from '../operation.ts'
import { xmlBody } from '../request-body.ts'
import { checkVersionId } from './objects.ts'
import { child, children, document, el, node, owner, parseXml, text } from '../xml.ts'

const ALL_USERS = 'http://acs.amazonaws.com/groups/global/AllUsers'
const XSI = 'http://www.w3.org/2001/XMLSchema-instance'
/** An AccessControlPolicy: S3 allows 100 grants, each a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024
/** Owner (ID, DisplayName), AccessControlList and 100 grants of Grantee (ID, DisplayName, EmailAddress, URI) and Permission. */
const MAX_ELEMENTS = 5 + 100 * 7

export function aclDocument (tenant: string, acl: Acl): string {
  const id = ownerId(tenant)
  const ownerGrant = `<Grant><Grantee xmlns:xsi="${XSI}" xsi:type="CanonicalUser">${el('ID', id)}${el('DisplayName', tenant)}</Grantee>${el('Permission', 'FULL_CONTROL')}</Grant>`
  const publicGrant = `<Grant><Grantee xmlns:xsi="${XSI}" xsi:type="Group">${el('URI', ALL_USERS)}</Grantee>${el('Permission', 'READ')}</Grant>`
  return document('AccessControlPolicy', owner(id, tenant), node('AccessControlList', ownerGrant, acl === 'public-read' && publicGrant))
}

/** The ACL an AccessControlPolicy document stands for. */
export function aclFromPolicy (body: Buffer): Acl {
  const root = child(parseXml(body, MAX_ELEMENTS, 'MalformedACLError'), 'AccessControlPolicy')
  if (root === undefined) throw s3Error('MalformedACLError')
  const list = child(root, 'AccessControlList')
  const publicRead = children(list, 'Grant').some((grant) => {
    const uri = text(child(child(grant, 'Grantee'), 'URI'))?.trim()
    const permission = text(child(grant, 'Permission'))?.trim()
    return uri === ALL_USERS && (permission === 'READ' || permission === 'FULL_CONTROL')
  })
  return publicRead ? 'public-read' : 'private'
}

export const getObjectAcl: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  checkVersionId(s3)
  const record = await env.objects.head(tenant, objectKey(s3))
  return await sendXml(reply, aclDocument(tenant, record.acl))
}

export const putObjectAcl: Operation = async ({ s3, caller, request, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  const key = objectKey(s3)
  checkVersionId(s3)
  let acl = requestedAcl(s3, undefined)
  if (acl === undefined) {
    const body = await xmlBody({ caller, request, reply, env }, MAX_BODY_BYTES)
    if (body.length === 0) throw s3Error('MissingSecurityHeader', 'Your request was missing a required header', { MissingHeaderName: 'x-amz-acl' })
    acl = aclFromPolicy(body)
  }
  await env.objects.setAcl(tenant, key, acl)
  return await reply.code(200).send()
}

export const getBucketAcl: Operation = async ({ s3, caller, reply, env }) => {
  const tenant = ownBucket(s3, caller)
  if (await env.objects.tenant(tenant) === undefined) throw s3Error('NoSuchBucket')
  return await sendXml(reply, aclDocument(tenant, 'private'))
}
