import type { FastifyInstance } from 'fastify'
import { ADMIN_ROUTES } from '../../protocol/admin-api.ts'
import type { TenantCreateRequest, TenantCreated, TenantUpdateRequest, TenantView } from '../../protocol/admin-api.ts'
import { FdnError } from '../../protocol/errors.ts'
import type { TenantName } from '../../protocol/names.ts'
import { parseSize } from '../../node/config/values.ts'
import type { ObjectStore } from '../../node/objects/object-store.ts'
import type { TenantInfo } from '../../node/objects/types.ts'
import type { TenantRegistry } from '../../node/tenants/registry.ts'

export interface TenantRoutesOptions {
  tenants: TenantRegistry
  objects: ObjectStore
  /** Base URL of the public listener, for the settings printed to the operator. */
  publicUrl: () => string
}

const createSchema = {
  body: {
    type: 'object',
    required: ['name'],
    additionalProperties: false,
    properties: {
      name: { type: 'string', maxLength: 63 },
      // a byte count, a size string or null: checked by quota() below, since the validator's
      // type coercion would turn null into 0 or "" under any typed schema
      quota: {},
      replicas: { type: 'integer', minimum: 1, maximum: 16 }
    }
  }
} as const

const updateSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    minProperties: 1,
    properties: {
      quota: createSchema.body.properties.quota,
      replicas: createSchema.body.properties.replicas
    }
  }
} as const

/** `tenant add|list|show|set|remove` of the CLI. */
export async function tenantRoutes (app: FastifyInstance, options: TenantRoutesOptions): Promise<void> {
  const { tenants, objects } = options

  app.post<{ Body: TenantCreateRequest }>(ADMIN_ROUTES.tenants, { schema: createSchema }, async (request, reply): Promise<TenantCreated> => {
    const { tenant, secretAccessKey } = await tenants.create({ name: request.body.name, quota: quota(request.body.quota), replicas: request.body.replicas })
    reply.code(201)
    const base = options.publicUrl()
    return { ...view(tenant), secretAccessKey, endpoint: base, aliasHost: `${base}/${tenant.name}` }
  })

  app.get(ADMIN_ROUTES.tenants, async (): Promise<TenantView[]> => (await tenants.list()).map(view))

  app.get<{ Params: { name: string } }>(`${ADMIN_ROUTES.tenants}/:name`, async (request): Promise<TenantView> => view(await tenants.require(request.params.name)))

  app.patch<{ Params: { name: string }, Body: TenantUpdateRequest }>(`${ADMIN_ROUTES.tenants}/:name`, { schema: updateSchema }, async (request): Promise<TenantView> => {
    return view(await tenants.update(request.params.name, { quota: quota(request.body.quota), replicas: request.body.replicas }))
  })

  app.delete<{ Params: { name: string }, Querystring: { purge?: string } }>(`${ADMIN_ROUTES.tenants}/:name`, async (request) => {
    return await tenants.remove(request.params.name, {
      purge: request.query.purge === 'true',
      deleteObjects: async (name: TenantName) => await objects.deleteAll(name)
    })
  })
}

function view (tenant: TenantInfo): TenantView {
  return {
    name: tenant.name,
    bucket: tenant.name,
    accessKeyId: tenant.accessKeyId,
    quota: tenant.quota,
    replicas: tenant.replicas,
    created: tenant.created,
    objects: tenant.objects,
    logicalBytes: tenant.logicalBytes
  }
}

/** Quotas come as a byte count or a size (`500GB`); null or absent keeps no limit. */
function quota (raw: number | string | null | undefined): number | null | undefined {
  if (raw === undefined || raw === null) return raw
  if (typeof raw === 'number') return raw
  if (typeof raw !== 'string') throw new FdnError('invalid_request', 'quota must be a byte count, a size such as 500GB, or null')
  try {
    return parseSize(raw)
  } catch (err) {
    throw new FdnError('invalid_request', `quota: ${(err as Error).message}`)
  }
}
