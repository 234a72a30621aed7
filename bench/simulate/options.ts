// The flags of `npm run simulate`, parsed and checked with commander. A usage
// error is one line on stderr and exit status 2.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander'

export interface SimulateOptions {
  servers: number
  instances: number
  posts: number
  replicas: number
  origins: number
  concurrency: number
  seed: number
  json: boolean
  /** Where to write each node's log at the end, if anywhere, and at which level the nodes log. */
  logDir: string | undefined
  logLevel: string
}

export class UsageError extends Error {}

function integer (name: string, min: number, max: number): (value: string) => number {
  return (value: string) => {
    const n = Number(value)
    if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`${name} must be a whole number.`)
    if (n < min) throw new InvalidArgumentError(`${name} must be at least ${min}.`)
    if (n > max) throw new InvalidArgumentError(`${name} must be at most ${max}.`)
    return n
  }
}

const DESCRIPTION = `Runs real fdn nodes on loopback in a swarm, origin web servers publishing posts
with attachments, and instances spread over the nodes. Every instance fetches
every post's attachments through its own node's retrieve API. Prints the bytes
that left the origins, moved between nodes and are stored, beside what the V1
model (every instance downloads and re-uploads) costs.

Exit status: 0 every goal met, 1 a goal failed or the simulation could not
run, 2 usage error.`

/** Parses argv (without node and script); throws UsageError, or exits 0 after --help. */
export function parseOptions (argv: string[]): SimulateOptions {
  const program = new Command('simulate')
    .description(DESCRIPTION)
    .addOption(new Option('--servers <n>', 'fdn nodes (media servers)').argParser(integer('--servers', 1, 64)).default(10))
    .addOption(new Option('--instances <n>', 'instances, one tenant each, spread over the servers').argParser(integer('--instances', 1, 10_000)).default(100))
    .addOption(new Option('--posts <n>', 'posts with attachments to deliver to every instance').argParser(integer('--posts', 1, 100_000)).default(200))
    .addOption(new Option('--replicas <n>', 'copies of each downloaded blob in the swarm (FDN_REPLICAS)').argParser(integer('--replicas', 1, 16)).default(2))
    .addOption(new Option('--origins <n>', 'origin web servers publishing the posts').argParser(integer('--origins', 1, 64)).default(4))
    .addOption(new Option('--concurrency <n>', 'retrieve requests in flight at once, all instances together').argParser(integer('--concurrency', 1, 1024)).default(16))
    .addOption(new Option('--seed <n>', 'seed of the sizes, bytes and delivery order').argParser(integer('--seed', 0, 2 ** 32 - 1)).default(1))
    .option('--json', 'print one JSON object as the last line of stdout', false)
    .option('--log-dir <dir>', "write each node's log there at the end")
    .addOption(new Option('--log-level <level>', "the nodes' FDN_LOG_LEVEL").choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).default('warn'))
    .exitOverride()
    .configureOutput({ outputError: (text, write) => { write(text.split('\n')[0]!.trim() + '\n') } })
    .allowExcessArguments(false)
  try {
    program.parse(argv, { from: 'user' })
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.code === 'commander.helpDisplayed' || err.code === 'commander.help' || err.code === 'commander.version') process.exit(0)
      throw new UsageError('', { cause: err })
    }
    throw err
  }
  const raw = program.opts<{ servers: number, instances: number, posts: number, replicas: number, origins: number, concurrency: number, seed: number, json: boolean, logDir?: string, logLevel: string }>()
  if (raw.instances < raw.servers) {
    throw new UsageError(`error: --instances (${raw.instances}) must be at least --servers (${raw.servers}): every server serves an instance`)
  }
  return { ...raw, logDir: raw.logDir }
}
