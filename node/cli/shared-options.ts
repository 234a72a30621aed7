import path from 'node:path'

/** The data directory a command works on: `--data`, else `$FDN_DATA`, else `./data`. */
export function dataDirOf (options: { data?: string }): string {
  return path.resolve(options.data ?? process.env.FDN_DATA ?? './data')
}
