import type { Command } from 'commander'
import { SingleBar, Presets } from 'cli-progress'
import { ADMIN_ROUTES } from '../../../protocol/admin-api.ts'
import type { RecoverEvent, RecoverReport } from '../../../protocol/admin-api.ts'
import { AdminClient, CliError } from '../admin-client.ts'
import { formatBytes, print } from '../output.ts'
import { dataDirOf } from '../shared-options.ts'

const HELP = `
Recovering a node that lost its disk:
  1. Put only the node's old identity.key (from your backup) into an empty
     data directory: mkdir -m 700 data && cp backup/identity.key data/
     The identity is what the swarm knows the node by: its peers hold its
     copies and its signed manifests under that peer ID.
  2. Start the node with the same FDN_TRUSTED_PEERS, FDN_SWARM_KEY and
     FDN_BOOTSTRAP as before (the trusted peers must list it again too):
       FDN_DATA=data fdn start
  3. Run 'fdn recover' (here, with the same FDN_DATA). It asks the trusted
     peers for the newest signed manifest of each of the node's tenants,
     restores the tenants and their objects, and fetches every blob, checking
     each against its CID.
  At the end it prints what came back: manifests (version, and the peer that
  served each), tenants, objects and bytes restored, the objects that could
  not be fetched and why, and the peers that failed.

Exit codes: 0 everything was recovered; 1 some objects are missing (listed;
run 'fdn recover' again once the peers that hold them are back); 3 no daemon.`

export function recoverCommand (program: Command): void {
  program.command('recover')
    .description("rebuild a node that lost its disk from its trusted peers: every tenant's manifest, every object, every blob")
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print only the final report as JSON')
    .option('--no-progress', 'do not show a progress bar')
    .addHelpText('after', HELP)
    .action(async (options: { data?: string, json?: boolean, progress: boolean }) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const json = options.json === true
      const bar = options.progress && !json && process.stderr.isTTY
        ? new SingleBar({ format: 'recovering {phase} [{bar}] {value}/{total} {bytes}', stream: process.stderr, hideCursor: true }, Presets.shades_classic)
        : undefined
      let report: RecoverReport | undefined
      let phase: string | undefined
      try {
        for await (const line of client.requestLines(ADMIN_ROUTES.recover, { method: 'POST' })) {
          const event = line as RecoverEvent
          if (event.type === 'report') {
            report = event.report
          } else if (event.type === 'error') {
            throw new CliError(`recovery failed: ${event.error.message}`)
          } else if (event.type === 'progress' && bar != null) {
            const payload = { phase: event.phase, bytes: formatBytes(event.bytes) }
            if (phase == null) {
              bar.start(event.total, event.done, payload)
            } else {
              bar.setTotal(event.total)
              bar.update(event.done, payload)
            }
            phase = event.phase
          }
        }
      } finally {
        bar?.stop()
      }
      if (report == null) throw new CliError('the daemon ended the recovery without a report: see its log')
      const result = report
      print(json, result, () => formatRecoverReport(result))
      if (result.manifests.length === 0 && !json) {
        process.stderr.write('fdn: no peer had a manifest of this node: check that it runs with its old identity.key and the same FDN_TRUSTED_PEERS, FDN_SWARM_KEY and FDN_BOOTSTRAP\n')
      }
      if (result.missing.length > 0) {
        throw new CliError(`${result.missing.length} object${result.missing.length === 1 ? '' : 's'} could not be recovered${json ? '' : ' (listed above)'}: run 'fdn recover' again once the peers that hold them are back`)
      }
    })
}

/** The text of `fdn recover`'s report. */
export function formatRecoverReport (report: RecoverReport): string {
  const lines = [
    `Recovered ${report.tenantsRestored} tenant${report.tenantsRestored === 1 ? '' : 's'}, ${report.objectsRestored} object${report.objectsRestored === 1 ? '' : 's'}, ${formatBytes(report.bytesRestored)} in ${formatDuration(report.durationMs)}.`
  ]
  lines.push('', report.manifests.length === 0 ? 'manifests: none found' : 'manifests:')
  for (const m of report.manifests) lines.push(`  ${m.tenant}  version ${m.version}  from ${m.from}`)
  if (report.missing.length > 0) {
    lines.push('', `missing (${report.missing.length}):`)
    for (const m of report.missing) lines.push(`  ${m.tenant}/${m.key}  ${m.cid}  ${m.reason}`)
  }
  if (report.peerErrors.length > 0) {
    lines.push('', `peer errors (${report.peerErrors.length}):`)
    for (const p of report.peerErrors) lines.push(`  ${p.peer}  ${p.reason}`)
  }
  return lines.join('\n')
}

function formatDuration (ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`
  const seconds = ms / 1000
  if (seconds < 60) return `${seconds.toFixed(1)} s`
  const minutes = Math.floor(seconds / 60)
  if (minutes < 60) return `${minutes}m ${Math.floor(seconds % 60)}s`
  return `${Math.floor(minutes / 60)}h ${minutes % 60}m`
}
