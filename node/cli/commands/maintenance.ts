import type { Command } from 'commander'
import { ADMIN_ROUTES } from '../../../protocol/admin-api.ts'
import type { GcResponse, VerifyResponse } from '../../../protocol/admin-api.ts'
import { AdminClient, CliError } from '../admin-client.ts'
import { formatBytes, print } from '../output.ts'
import { dataDirOf } from '../shared-options.ts'

export function verifyCommand (program: Command): void {
  program.command('verify')
    .description('read every block of every blob from disk and check it against its CID')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print the report as JSON')
    .action(async (options: { data?: string, json?: boolean }) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      process.stderr.write(process.stderr.isTTY ? 'verifying every block…\n' : '')
      const report = await client.request<VerifyResponse>(ADMIN_ROUTES.verify, { method: 'POST' })
      print(options.json === true, report, () => [
        `${report.blobs} blobs, ${report.blocks} blocks: ${report.ok} ok, ${report.missing.length} missing, ${report.corrupt.length} corrupt`,
        ...report.missing.map(m => `missing  ${m.block} (of ${m.cid})`),
        ...report.corrupt.map(c => `corrupt  ${c.block} (of ${c.cid})`)
      ].join('\n'))
      if (report.missing.length > 0 || report.corrupt.length > 0) throw new CliError('the store has damaged blobs', 4)
    })
}

export function gcCommand (program: Command): void {
  program.command('gc')
    .description('remove blocks that no blob references (left by crashes and failed uploads)')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print the report as JSON')
    .action(async (options: { data?: string, json?: boolean }) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      const report = await client.request<GcResponse>(ADMIN_ROUTES.gc, { method: 'POST' })
      print(options.json === true, report, () =>
        `scanned ${report.blocksScanned} blocks, removed ${report.blocksRemoved}, freed ${formatBytes(report.bytesFreed)}`)
    })
}
