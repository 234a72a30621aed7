import path from 'node:path'
import type { Command } from 'commander'
import { IDENTITY_FILE, initDataDir } from '../../identity/identity.ts'
import { print } from '../output.ts'
import { dataDirOf } from '../shared-options.ts'

export function initCommand (program: Command): void {
  program.command('init')
    .description('create the data directory: node identity, admin token and config file (keeps an existing identity)')
    .option('--data <dir>', 'data directory (default: $FDN_DATA or ./data)')
    .option('--json', 'print the result as JSON')
    .action(async (options: { data?: string, json?: boolean }) => {
      const dataDir = dataDirOf(options)
      const result = await initDataDir(dataDir)
      const createdConfig = result.createdConfig
      const keyFile = path.join(dataDir, IDENTITY_FILE)
      print(options.json === true, { dataDir, peerId: result.identity.peerId, createdIdentity: result.createdIdentity, createdConfig, identityFile: keyFile }, () => [
        result.createdIdentity ? `Created a new node identity in ${dataDir}` : `Kept the existing node identity in ${dataDir}`,
        `peer ID: ${result.identity.peerId}`,
        '',
        `Back up ${keyFile} now and keep it secret: it names this node in the swarm,`,
        'signs its records, and is the one file a lost node needs to be recovered from its peers.'
      ].join('\n'))
    })
}
