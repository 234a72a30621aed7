import type { Command } from 'commander'
import { SingleBar, Presets } from 'cli-progress'
import { ADMIN_ROUTES, MAX_RECOVER_WAIT_MS } from '../../../protocol/admin-api.ts'
import type { RecoverEvent, RecoverReport, RecoverRequest } from '../../../protocol/admin-api.ts'
import { parseDuration } from '../../config/values.ts'
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
     peers for the newest signed manifest of each of the node's tenants
     (waiting up to --wait for each to answer: a node just started may not
     have reached them yet), restores the tenants and their objects, and
     fetches every blob, checking each against its CID.
  At the end it prints what came back: manifests (version, and the peer that
  served each), tenants, objects and bytes restored, the objects that could
  not be fetched and why, and the trusted peers that did not answer.

Exit codes: 0 everything was recovered from every trusted peer; 1 no trusted
peer answered (nothing was recovered), some did not (what they hold was not
asked for), or some objects are missing (all listed: run 'fdn recover' again
once those peers are back); 3 no daemon.`

export function recoverCommand (program: Command): void {
  program.command('recover')
    .description("rebuild a node that lost its disk from its trusted peers: every tenant's manifest, every object, every blob")
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--wait <duration>', 'how long to wait for the trusted peers to answer, such as 30s or 2m', '30s')
    .option('--json', 'print only the final report as JSON')
    .option('--no-progress', 'do not show a progress bar')
    .addHelpText('after', HELP)
    .action(async (options: { data?: string, wait: string, json?: boolean, progress: boolean }) => {
      const body: RecoverRequest = { waitMs: waitOf(options.wait) }
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const json = options.json === true
      const bar = options.progress && !json && process.stderr.isTTY
        ? new SingleBar({ format: 'recovering {phase} [{bar}] {value}/{total} {bytes}', stream: process.stderr, hideCursor: true }, Presets.shades_classic)
        : undefined
      let report: RecoverReport | undefined
      let phase: string | undefined
      try {
        for await (const line of client.requestLines(ADMIN_ROUTES.recover, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } })) {
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
      if (result.answered.length === 0) {
        print(json, result, () => ['trusted peers asked:', ...result.unanswered.map(p => `  ${p.peer}  ${p.reason}`)].join('\n'))
        throw new CliError(`no trusted peer answered within ${options.wait} (asked ${result.unanswered.map(p => p.peer).join(', ')}): nothing was recovered; check that they run and list this node in FDN_TRUSTED_PEERS, and this node's FDN_SWARM_KEY and FDN_BOOTSTRAP, then run 'fdn recover' again (--wait to wait longer)`)
      }
      print(json, result, () => formatRecoverReport(result))
      if (result.manifests.length === 0 && !json) {
        process.stderr.write('fdn: no peer had a manifest of this node: check that it runs with its old identity.key and the same FDN_TRUSTED_PEERS, FDN_SWARM_KEY and FDN_BOOTSTRAP\n')
      }
      const incomplete = incompleteness(result)
      if (incomplete.length > 0) {
        throw new CliError(`${incomplete.join('; ')}${json ? '' : ' (listed above)'}: run 'fdn recover' again once ${result.unanswered.length > 0 ? 'those peers' : 'the peers that hold them'} are back`)
      }
    })
}

/** What a recovery that found something still lacks, as phrases. */
function incompleteness (report: RecoverReport): string[] {
  const phrases: string[] = []
  const silent = report.unanswered.length
  if (silent > 0) phrases.push(`${silent} of ${silent + report.answered.length} trusted peers did not answer, so what only they hold was not recovered`)
  const missing = report.missing.length
  if (missing > 0) phrases.push(`${missing} object${missing === 1 ? '' : 's'} could not be recovered`)
  return phrases
}

function waitOf (raw: string): number {
  let waitMs: number
  try {
    waitMs = parseDuration(raw)
  } catch (err) {
    throw new CliError(`--wait: ${(err as Error).message}`, 2)
  }
  if (waitMs > MAX_RECOVER_WAIT_MS) throw new CliError(`--wait: at most 24h, got '${raw}'`, 2)
  return waitMs
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
  if (report.unanswered.length > 0) {
    lines.push('', `trusted peers that did not answer (${report.unanswered.length} of ${report.unanswered.length + report.answered.length}):`)
    for (const p of report.unanswered) lines.push(`  ${p.peer}  ${p.reason}`)
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
