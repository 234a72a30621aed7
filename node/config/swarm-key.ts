import { open } from 'node:fs/promises'
import { ConfigError } from './load.ts'

/** The three lines of a libp2p (and go-ipfs / kubo) pre-shared key file, version 1. */
export const SWARM_KEY_TAG = '/key/swarm/psk/1.0.0/'
export const SWARM_KEY_CODEC = '/base16/'
const KEY_HEX = /^[0-9a-fA-F]{64}$/
/** Far more than a key file with generous line endings; anything larger is not one. */
const MAX_SIZE = 1024

/**
 * Reads a libp2p PSK v1 file (`FDN_SWARM_KEY`) and returns its bytes as
 * they are, for `preSharedKey({ psk })`: line 1 `/key/swarm/psk/1.0.0/`,
 * line 2 `/base16/`, line 3 the key in 64 hex digits, an optional final
 * newline. Anything else is a ConfigError of one line naming the file.
 */
export async function readSwarmKey (file: string): Promise<Uint8Array> {
  let bytes: Buffer
  try {
    const handle = await open(file, 'r')
    try {
      const info = await handle.stat()
      const size = info.size
      if (!info.isFile()) throw new ConfigError(`swarm key ${file} is not a file (FDN_SWARM_KEY names the key file)`)
      if (size > MAX_SIZE) throw new ConfigError(`swarm key ${file} is not a libp2p swarm key: ${size} bytes is too large (make one with 'fdn swarm-key <file>')`)
      bytes = await handle.readFile()
    } finally {
      await handle.close()
    }
  } catch (err) {
    if (err instanceof ConfigError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw new ConfigError(code === 'ENOENT'
      ? `swarm key ${file} does not exist (FDN_SWARM_KEY; make one with 'fdn swarm-key <file>')`
      : `cannot read swarm key ${file}: ${(err as Error).message}`)
  }
  const problem = swarmKeyProblem(bytes.toString('utf8'))
  if (problem != null) throw new ConfigError(`swarm key ${file} is not a libp2p swarm key: ${problem} (make one with 'fdn swarm-key <file>')`)
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** What is wrong with the text of a swarm key file, or undefined when it is a valid PSK v1 key. */
export function swarmKeyProblem (text: string): string | undefined {
  const lines = text.split(/\r?\n/)
  if (lines.length === 4 && lines[3] === '') lines.pop()
  if (lines[0] !== SWARM_KEY_TAG) return `line 1 must be ${SWARM_KEY_TAG}`
  if (lines[1] !== SWARM_KEY_CODEC) return `line 2 must be ${SWARM_KEY_CODEC}`
  if (lines[2] == null || !KEY_HEX.test(lines[2])) return 'line 3 must be the key in 64 hexadecimal digits'
  if (lines.length > 3) return 'it has more than 3 lines'
  return undefined
}
