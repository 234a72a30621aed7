import type { Command } from 'commander'
import { ADMIN_ROUTES } from '../../../protocol/admin-api.ts'
import type { PeersResponse, PeerView } from '../../../protocol/admin-api.ts'
import { AdminClient } from '../admin-client.ts'
import { print, table } from '../output.ts'
import { dataDirOf } from '../shared-options.ts'

export function peersCommand (program: Command): void {
  program.command('peers')
    .description('show the swarm: this node\'s peer ID and addresses, and the peers it knows (trusted, connected, health, latency)')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print {"self":{"peerId","addresses"},"peers":[…]} as JSON')
    .addHelpText('after', `
Trusted peers are those of FDN_TRUSTED_PEERS: they hold copies of this node's
blobs, and this node holds theirs. HEALTH is healthy (answered a ping lately),
unreachable (not for FDN_REPAIR_GRACE or longer: its copies are made elsewhere)
or unknown (never seen yet).`)
    .action(async (options: { data?: string, json?: boolean }) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const answer = await client.request<PeersResponse>(ADMIN_ROUTES.peers)
      print(options.json === true, answer, () => formatPeers(answer, Date.now()))
    })
}

/** The text of `fdn peers`: this node, then one row per peer, trusted ones first. */
export function formatPeers (answer: PeersResponse, now: number): string {
  const lines = [
    `peer ID:    ${answer.self.peerId}`,
    ...(answer.self.addresses.length === 0
      ? ['addresses:  none (the swarm does not listen)']
      : answer.self.addresses.map((address, i) => `${i === 0 ? 'addresses:  ' : '            '}${address}`)),
    ''
  ]
  if (answer.peers.length === 0) {
    lines.push('no peers known yet: set FDN_BOOTSTRAP or FDN_TRUSTED_PEERS (see docs/configuration.md)')
    return lines.join('\n')
  }
  const peers = [...answer.peers].sort((a, b) => Number(b.trusted) - Number(a.trusted) || Number(b.connected) - Number(a.connected) || a.peerId.localeCompare(b.peerId))
  const trusted = answer.peers.filter(p => p.trusted)
  lines.push(`${answer.peers.filter(p => p.connected).length} of ${answer.peers.length} peers connected; trusted: ${trusted.filter(p => p.health === 'healthy').length} of ${trusted.length} healthy`, '')
  lines.push(...table([
    ['PEER ID', 'TRUSTED', 'CONNECTED', 'HEALTH', 'LATENCY', 'LAST SEEN', 'ADDRESS'],
    ...peers.map(p => row(p, now))
  ]))
  return lines.join('\n')
}

function row (peer: PeerView, now: number): string[] {
  return [
    peer.peerId,
    peer.trusted ? 'yes' : 'no',
    peer.connected ? 'yes' : 'no',
    peer.health,
    peer.latencyMs == null ? '-' : `${Math.round(peer.latencyMs)} ms`,
    peer.lastSeen == null ? 'never' : ago(peer.lastSeen, now),
    peer.addresses[0] ?? '-'
  ]
}

function ago (iso: string, now: number): string {
  const then = Date.parse(iso)
  if (Number.isNaN(then)) return iso
  const seconds = Math.max(0, Math.round((now - then) / 1000))
  if (seconds < 60) return `${seconds}s ago`
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m ago`
  if (seconds < 86400) return `${Math.floor(seconds / 3600)}h ago`
  return `${Math.floor(seconds / 86400)}d ago`
}
