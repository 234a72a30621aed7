import { Command, CommanderError } from 'commander'
import { ConfigError } from '../config/load.ts'
import { IdentityError } from '../identity/identity.ts'
import { VERSION } from '../version.ts'
import { CliError } from './admin-client.ts'
import { endQuietlyOnClosedPipe, enterInvokingDirectory } from './process-io.ts'
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

/** The exit code of bad usage and bad configuration (docs/cli.md). */
const USAGE = 2

export interface CliDependencies {
  startDaemon: StartDaemon
}

export function createProgram (deps: CliDependencies): Command {
  const program = new Command('fdn')
    .description('fdn: a content-addressed media server for Fediverse instances')
    .version(VERSION)
    // commander's own errors (usage) begin like fdn's: `fdn: unknown option '--x'`, then the command's help
    .configureOutput({ outputError: (text, write) => { write(text.replace(/^error: /, 'fdn: ')) } })
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
  enterInvokingDirectory(process.env)
  endQuietlyOnClosedPipe()
  const program = createProgram(deps)
  try {
    await program.parseAsync(argv)
  } catch (err) {
    // commander has printed what it has to say: help and the version exit 0, and every
    // one of its errors (unknown command or option, missing or extra argument, a
    // command group without its subcommand) is a usage error
    if (err instanceof CommanderError) process.exit(err.exitCode === 0 ? 0 : USAGE)
    if (err instanceof ConfigError || err instanceof IdentityError) {
      process.stderr.write(`fdn: ${err.message}\n`)
      process.exit(USAGE)
    }
    if (err instanceof CliError) {
      process.stderr.write(`fdn: ${err.message}\n`)
      process.exit(err.exitCode)
    }
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'EADDRINUSE' || code === 'EACCES' || code === 'EADDRNOTAVAIL') {
      process.stderr.write(`fdn: cannot listen: ${(err as Error).message}\n`)
      process.exit(USAGE)
    }
    process.stderr.write(`fdn: ${(err as Error).stack ?? String(err)}\n`)
    process.exit(1)
  }
}
