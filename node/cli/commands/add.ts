import { stat } from 'node:fs/promises'
import type { Command } from 'commander'
import { SingleBar, Presets } from 'cli-progress'
import { ADMIN_ROUTES } from '../../../protocol/admin-api.ts'
import type { AddResponse } from '../../../protocol/admin-api.ts'
import { AdminClient, CliError } from '../admin-client.ts'
import type { FileBody } from '../admin-client.ts'
import { formatBytes, print } from '../output.ts'
import { dataDirOf } from '../shared-options.ts'

/** Files smaller than this upload too fast for a progress bar to help. */
const PROGRESS_THRESHOLD = 16 * 1024 * 1024

export function addCommand (program: Command): void {
  program.command('add')
    .description('store a local file (or - for standard input) in the running node and print its CID')
    .argument('<file>', 'file to add, or - to read standard input')
    .option('--data <dir>', 'data directory of the node (default: $FDN_DATA or ./data)')
    .option('--json', 'print {"cid","size","mediaType",…} as JSON')
    .option('--no-progress', 'do not show a progress bar')
    .action(async (file: string, options: { data?: string, json?: boolean, progress: boolean }) => {
      const client = await AdminClient.connect(dataDirOf(options), process.env)
      let source: typeof process.stdin | FileBody
      let size: number | undefined
      if (file === '-') {
        source = process.stdin
      } else {
        const info = await stat(file).catch((err: NodeJS.ErrnoException) => {
          throw new CliError(err.code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${err.message}`)
        })
        if (!info.isFile()) throw new CliError(`${file} is not a regular file`)
        size = info.size
        source = { file, size }
      }
      const bar = options.progress && process.stderr.isTTY && (size ?? Infinity) >= PROGRESS_THRESHOLD && size != null
        ? new SingleBar({ format: 'adding [{bar}] {percentage}% {value}/{total} MiB', stream: process.stderr }, Presets.shades_classic)
        : undefined
      bar?.start(Math.ceil((size ?? 0) / 1048576), 0)
      try {
        if (bar != null && 'file' in source) {
          let sent = 0
          source.onSent = (bytes) => {
            sent += bytes
            bar.update(Math.floor(sent / 1048576))
          }
        }
        const result = await client.upload<AddResponse>(ADMIN_ROUTES.blobs, source,
          { 'content-type': 'application/octet-stream', ...(size != null ? { 'content-length': String(size) } : {}) })
        bar?.update(Math.ceil((size ?? 0) / 1048576))
        bar?.stop()
        print(options.json === true, { cid: result.cid, size: result.size, mediaType: result.mediaType, sha256: result.sha256, created: result.created },
          () => `${result.cid}\t${formatBytes(result.size)}\t${result.mediaType}${result.created ? '' : '\t(already held)'}`)
      } finally {
        bar?.stop()
      }
    })
}
