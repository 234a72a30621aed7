import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ConfigError, parseJsonObject } from './load.ts'
import type { Config } from './settings.ts'
import { parsePeerAddress } from './values.ts'

/** The default swarm shipped with fdn, at the repository root: `{ "swarm": "<name>", "peers": ["…/p2p/<peer id>"] }`. */
export const BOOTSTRAP_FILE = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bootstrap.json')

export interface BootstrapFile {
  swarm: string
  peers: string[]
}

/**
 * The peers to dial at start: the `bootstrap` setting when it is set
 * (`FDN_BOOTSTRAP`, `--bootstrap`, config.json; already validated), else the
 * `peers` of bootstrap.json. A bad bootstrap.json is a ConfigError naming it.
 */
export async function resolveBootstrap (config: Pick<Config, 'bootstrap'>, file: string = BOOTSTRAP_FILE): Promise<string[]> {
  if (config.bootstrap !== undefined) return config.bootstrap
  return (await readBootstrapFile(file)).peers
}

/** Reads and validates a bootstrap.json; peer addresses come back canonical and deduplicated. */
export async function readBootstrapFile (file: string = BOOTSTRAP_FILE): Promise<BootstrapFile> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new ConfigError(code === 'ENOENT'
      ? `${file} is missing: restore it, or set FDN_BOOTSTRAP`
      : `cannot read ${file}: ${(err as Error).message}`)
  }
  const { swarm, peers } = parseJsonObject(file, text, 'a JSON object { "swarm": "<name>", "peers": ["/ip4/…/tcp/…/p2p/…"] }')
  if (typeof swarm !== 'string' || swarm === '') throw new ConfigError(`${file}: "swarm" must be the swarm's name, a non-empty string`)
  if (!Array.isArray(peers)) throw new ConfigError(`${file}: "peers" must be a list of multiaddrs ending in /p2p/<peer id>`)
  const addresses = peers.map((peer: unknown, i) => {
    if (typeof peer !== 'string') throw new ConfigError(`${file}: peers[${i}] must be a string`)
    try {
      return parsePeerAddress(peer)
    } catch (err) {
      throw new ConfigError(`${file}: peers[${i}]: ${(err as Error).message}`)
    }
  })
  return { swarm, peers: [...new Set(addresses)] }
}
