import type { Command } from 'commander'
import { ADMIN_ROUTES } from '../../../protocol/admin-api.ts'
import type { TenantCreated, TenantView } from '../../../protocol/admin-api.ts'
import { instanceSettings } from '../../tenants/instance-settings.ts'
import { AdminClient, CliError } from '../admin-client.ts'
import { formatBytes, print } from '../output.ts'
import { dataDirOf } from '../shared-options.ts'

interface Common {
  data?: string
  json?: boolean
}

export function tenantCommand (program: Command): void {
  const tenant = program.command('tenant')
    .description('manage tenants: the instances that keep their media in this node (one S3 bucket and key pair each)')

  tenant.command('add')
    .description('create a tenant; prints its S3 key pair once, with settings for Mastodon, Pixelfed and Misskey')
    .argument('<name>', 'tenant name, also its bucket: 3-63 lower-case letters, digits, hyphens')
    .option('--quota <size>', 'most bytes the tenant may hold, e.g. 500GB (default: no limit)')
    .option('--replicas <n>', 'copies of each blob in the swarm, this node included (default: FDN_REPLICAS)')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print {"name","bucket","accessKeyId","secretAccessKey",…} as JSON')
    .action(async (name: string, options: Common & { quota?: string, replicas?: string }) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const created = await client.request<TenantCreated>(ADMIN_ROUTES.tenants, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, ...(options.quota != null ? { quota: options.quota } : {}), ...(options.replicas != null ? { replicas: replicasOf(options.replicas) } : {}) })
      })
      const settings = instanceSettings({ bucket: created.bucket, accessKeyId: created.accessKeyId, secretAccessKey: created.secretAccessKey, endpoint: created.endpoint })
      print(options.json === true, { ...created, settings }, () => [
        `Created tenant ${created.name} (bucket ${created.bucket}).`,
        '',
        `  access key id:     ${created.accessKeyId}`,
        `  secret access key: ${created.secretAccessKey}`,
        '',
        'The secret is shown only now: store it in your instance configuration.',
        `If ${created.endpoint} is not the URL instances reach this node at, set FDN_PUBLIC_URL and use that instead.`,
        '',
        '# Mastodon: .env.production',
        ...Object.entries(settings.mastodon).map(([k, v]) => `${k}=${v}`),
        '',
        '# Pixelfed: .env',
        ...Object.entries(settings.pixelfed).map(([k, v]) => `${k}=${v}`),
        '',
        '# Misskey: Control panel → Object storage',
        ...Object.entries(settings.misskey).map(([k, v]) => `${k}: ${v}`)
      ].join('\n'))
    })

  tenant.command('list')
    .description('list tenants with their objects and bytes')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print a JSON array')
    .action(async (options: Common) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const tenants = await client.request<TenantView[]>(ADMIN_ROUTES.tenants)
      print(options.json === true, tenants, () => tenants.length === 0
        ? "no tenants yet: create one with 'fdn tenant add <name>'"
        : ['NAME\tOBJECTS\tBYTES\tQUOTA\tREPLICAS\tACCESS KEY', ...tenants.map(t =>
            `${t.name}\t${t.objects}\t${formatBytes(t.logicalBytes)}\t${t.quota == null ? '-' : formatBytes(t.quota)}\t${t.replicas}\t${t.accessKeyId}`)].join('\n'))
    })

  tenant.command('show')
    .description("show one tenant: objects, logical bytes, quota, replicas (never the secret)")
    .argument('<name>', 'tenant name')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print the tenant as JSON')
    .action(async (name: string, options: Common) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const t = await client.request<TenantView>(`${ADMIN_ROUTES.tenants}/${encodeURIComponent(name)}`)
      print(options.json === true, t, () => [
        `tenant:      ${t.name} (bucket ${t.bucket})`,
        `access key:  ${t.accessKeyId}`,
        `objects:     ${t.objects}`,
        `logical:     ${formatBytes(t.logicalBytes)}`,
        `quota:       ${t.quota == null ? 'none' : formatBytes(t.quota)}`,
        `replicas:    ${t.replicas}`,
        `created:     ${t.created}`
      ].join('\n'))
    })

  tenant.command('set')
    .description("change a tenant's quota or replicas")
    .argument('<name>', 'tenant name')
    .option('--quota <size>', "new quota, e.g. 1TB, or 'none'")
    .option('--replicas <n>', 'new number of copies')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print the tenant as JSON')
    .action(async (name: string, options: Common & { quota?: string, replicas?: string }) => {
      if (options.quota == null && options.replicas == null) throw new CliError('nothing to change: give --quota and/or --replicas', 2)
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const t = await client.request<TenantView>(`${ADMIN_ROUTES.tenants}/${encodeURIComponent(name)}`, {
        method: 'PATCH',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          ...(options.quota != null ? { quota: options.quota === 'none' ? null : options.quota } : {}),
          ...(options.replicas != null ? { replicas: replicasOf(options.replicas) } : {})
        })
      })
      print(options.json === true, t, () => `tenant ${t.name}: quota ${t.quota == null ? 'none' : formatBytes(t.quota)}, replicas ${t.replicas}`)
    })

  tenant.command('remove')
    .description('remove a tenant and its key pair; refuses while it holds objects unless --purge')
    .argument('<name>', 'tenant name')
    .option('--purge', 'delete all its objects and unfinished uploads first')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print the result as JSON')
    .action(async (name: string, options: Common & { purge?: boolean }) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const result = await client.request<{ objectsDeleted: number }>(`${ADMIN_ROUTES.tenants}/${encodeURIComponent(name)}${options.purge === true ? '?purge=true' : ''}`, { method: 'DELETE' })
      print(options.json === true, { name, ...result }, () => `removed tenant ${name}${result.objectsDeleted > 0 ? ` and ${result.objectsDeleted} objects` : ''}`)
    })
}

function replicasOf (raw: string): number {
  const n = Number(raw)
  if (!Number.isInteger(n) || n < 1 || n > 16) throw new CliError(`--replicas must be a whole number from 1 to 16, got '${raw}'`, 2)
  return n
}
