import path from 'node:path'
import type { Command } from 'commander'
import { CliError } from '../admin-client.ts'
import { print } from '../output.ts'
import { createDurableFile } from '../../store/syncer.ts'

const HELP = `
A private swarm: every node of the swarm is started with the same key file,
FDN_SWARM_KEY=<file> (or 'fdn start --swarm-key <file>'). Connections are then
encrypted with the key before anything else is said, and nodes without it (or
with another key) cannot connect at all, not even to fetch. Keep the file
secret: whoever has it can join the swarm. The file is the libp2p / kubo
"swarm.key" format (PSK v1), so it also works with other libp2p nodes.

Examples:
  fdn swarm-key /etc/fdn/swarm.key     write a new key (mode 0600; never overwrites)
  fdn swarm-key > swarm.key            print a new key`

export function swarmKeyCommand (program: Command): void {
  program.command('swarm-key')
    .description('make a pre-shared key for a private swarm (libp2p PSK v1): write it to <file>, or print it')
    .argument('[file]', 'file to write the key to, with mode 0600; an existing file is never overwritten (default: print the key)')
    .option('--json', 'print {"file","created":true}, or {"key"} when printing the key')
    .addHelpText('after', HELP)
    .action(async (file: string | undefined, options: { json?: boolean }) => {
      // imported here: the other commands need none of libp2p
      const { generateKey } = await import('@libp2p/pnet')
      const bytes = new Uint8Array(95)
      generateKey(bytes)
      const key = `${new TextDecoder().decode(bytes)}\n`
      if (file == null) {
        print(options.json === true, { key }, () => key.trimEnd())
        if (options.json !== true && process.stderr.isTTY) {
          process.stderr.write('Save this key to a file and start every node of the swarm with FDN_SWARM_KEY=<file>; nodes without it cannot connect.\n')
        }
        return
      }
      const target = path.resolve(file)
      try {
        await createDurableFile(target, key, { mode: 0o600 })
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        if (code === 'EEXIST') throw new CliError(`${target} already exists: a swarm key is never overwritten (every node of the swarm needs the same one); remove it first or choose another file`)
        if (code === 'ENOENT') throw new CliError(`cannot write ${target}: its directory does not exist`)
        throw new CliError(`cannot write ${target}: ${(err as Error).message}`)
      }
      print(options.json === true, { file: target, created: true }, () => [
        `Wrote a new swarm key to ${target} (mode 0600).`,
        '',
        `Copy it to every node of the swarm and start each with FDN_SWARM_KEY=${target}`,
        "(or 'fdn start --swarm-key <file>'). Nodes without this key cannot connect to them.",
        'Keep it secret: whoever has it can join the swarm.'
      ].join('\n'))
    })
}
