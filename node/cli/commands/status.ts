import type { Command } from 'commander'
import { ADMIN_ROUTES } from '../../../protocol/admin-api.ts'
import type { StatusResponse } from '../../../protocol/admin-api.ts'
import { AdminClient } from '../admin-client.ts'
import { formatBytes, print } from '../output.ts'
import { dataDirOf } from '../shared-options.ts'

export function statusCommand (program: Command): void {
  program.command('status')
    .description('show the running node: identity, addresses, objects, blobs, bytes, swarm, replication, retrieve and ActivityPub counters')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print the status as JSON')
    .action(async (options: { data?: string, json?: boolean }) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const status = await client.request<StatusResponse>(ADMIN_ROUTES.status)
      print(options.json === true, status, () => formatStatus(status))
    })
}

/** The text of `fdn status`. */
export function formatStatus (status: StatusResponse): string {
  const { swarm, replication, retrieve, activitypub } = status
  const { deletions, prefetch, relays } = activitypub
  return [
    `fdn ${status.version}, up ${status.uptimeSeconds}s`,
    `peer ID:     ${status.peerId}`,
    `gateway:     ${status.addresses.http}`,
    `admin:       ${status.addresses.admin}`,
    ...(status.addresses.swarm.length === 0
      ? ['swarm:       not listening']
      : status.addresses.swarm.map((address, i) => `${i === 0 ? 'swarm:       ' : '             '}${address}`)),
    `objects:     ${status.objects}`,
    `blobs:       ${status.blobs}`,
    `logical:     ${formatBytes(status.logicalBytes)} (what users hold)`,
    `physical:    ${formatBytes(status.physicalBytes)} (what the disk holds)`,
    `peers:       ${swarm.connected} connected; trusted ${swarm.trustedHealthy}/${swarm.trusted} healthy`,
    `private:     ${swarm.private ? 'yes (FDN_SWARM_KEY)' : 'no'}`,
    `cache:       ${swarm.cachedBlobs} blobs, ${formatBytes(swarm.cachedBytes)} (fetched from peers)`,
    `held:        ${swarm.heldForPeers} blobs for peers`,
    `received:    ${swarm.receivedBlobs} blobs, ${formatBytes(swarm.receivedBytes)} from peers`,
    `replication: ${replication.replicated} replicated, ${replication['under-replicated']} under-replicated, ${replication.pending} pending`,
    `retrieve:    ${retrieve.local} local, ${retrieve.swarm} from the swarm, ${retrieve.origin} from origins, ${retrieve.failed} failed`,
    `origins:     ${retrieve.originFetches} downloads, ${formatBytes(retrieve.originBytes)} received`,
    `deletions:   ${deletions.received} received, ${deletions.applied} applied (${deletions.fromPeers} from peers), ${deletions.refused} refused; ${deletions.removedBlobs} blobs freed`,
    `relays:      ${relays.accepted} accepted, ${relays.pending} pending${relays.other > 0 ? `, ${relays.other} rejected or failed` : ''}`,
    `prefetch:    ${prefetch.fetched} fetched (${formatBytes(prefetch.bytes)}), ${prefetch.queued - prefetch.fetched - prefetch.failed > 0 ? `${prefetch.queued - prefetch.fetched - prefetch.failed} waiting, ` : ''}${prefetch.skipped} skipped, ${prefetch.dropped} dropped, ${prefetch.failed} failed`
  ].join('\n')
}
