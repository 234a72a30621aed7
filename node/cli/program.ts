import { Command, CommanderError } from 'commander'
import { ConfigError } from '../config/load.ts'
import { IdentityError } from '../identity/identity.ts'
import { VERSION } from '../version.ts'
import { CliError } from './admin-client.ts'
import { addCommand } from './commands/add.ts'
import { initCommand } from './commands/init.ts'
import { gcCommand, verifyCommand } from './commands/maintenance.ts'
import { peersCommand } from './commands/peers.ts'
import { recoverCommand } from './commands/recover.ts'
import { relayCommand } from './commands/relay.ts'
import { startCommand } from './commands/start.ts'
import type { StartDaemon } from './commands/start.ts'
import { statusCommand } from './commands/status.ts'
import { swarmKeyCommand } from './commands/swarm-key.ts'
import { tenantCommand } from './commands/tenant.ts'

export interface CliDependencies {
  startDaemon: StartDaemon
}

export function createProgram (deps: CliDependencies): Command {
  const program = new Command('fdn')
    .description('fdn: a content-addressed media server for Fediverse instances')
    .version(VERSION)
    .showHelpAfterError()
    .exitOverride()
  initCommand(program)
  startCommand(program, deps.startDaemon)
  addCommand(program)
  statusCommand(program)
  peersCommand(program)
  tenantCommand(program)
  relayCommand(program)
  recoverCommand(program)
  verifyCommand(program)
  gcCommand(program)
  swarmKeyCommand(program)
  return program
}

/** Runs the CLI; every failure is one line on stderr and a non-zero exit code. */
export async function runCli (argv: string[], deps: CliDependencies): Promise<void> {
  const program = createProgram(deps)
  try {
    await program.parseAsync(argv)
  } catch (err) {
    if (err instanceof CommanderError) process.exit(err.exitCode)
    if (err instanceof ConfigError || err instanceof IdentityError) {
      process.stderr.write(`fdn: ${err.message}\n`)
      process.exit(2)
    }
    if (err instanceof CliError) {
      process.stderr.write(`fdn: ${err.message}\n`)
      process.exit(err.exitCode)
    }
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(`fdn: cannot listen: ${(err as Error).message}\n`)
      process.exit(2)
    }
    process.stderr.write(`fdn: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  }
}
