import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { CONFIG_FILE } from '../config/load.ts'
import { createDurableFile, makeDurableDirectory } from '../store/syncer.ts'
import type { Syncer } from '../store/syncer.ts'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'

export const IDENTITY_FILE = 'identity.key'
export const ADMIN_TOKEN_FILE = 'admin.token'

/** The data directory's identity cannot be used; its message is the one line the operator sees. */
export class IdentityError extends Error {
  constructor (message: string) {
    super(message)
    this.name = 'IdentityError'
  }
}

export interface Identity {
  privateKey: PrivateKey
  peerId: string
}

export interface InitResult {
  identity: Identity
  /** false when an existing identity was kept. */
  createdIdentity: boolean
  createdToken: boolean
  createdConfig: boolean
}

/**
 * Creates the data directory, the node's Ed25519 identity, the admin token
 * and an empty config file where they are missing (`fdn init`, and the
 * first `fdn start`), each flushed to the disk with its directory whatever
 * FDN_FSYNC says (`syncer` is for tests that watch). Never replaces an
 * existing identity: it names the node in the swarm and signs its records.
 */
export async function initDataDir (dataDir: string, options: { syncer?: Syncer } = {}): Promise<InitResult> {
  const { syncer } = options
  await makeDurableDirectory(dataDir, { mode: 0o700, syncer })
  const keyFile = path.join(dataDir, IDENTITY_FILE)
  let createdIdentity = false
  let privateKey = await readKey(keyFile)
  if (privateKey == null) {
    privateKey = await generateKeyPair('Ed25519')
    await createDurableFile(keyFile, privateKeyToProtobuf(privateKey), { mode: 0o600, syncer })
    createdIdentity = true
  }
  const tokenFile = path.join(dataDir, ADMIN_TOKEN_FILE)
  let createdToken = false
  if (await readOptional(tokenFile) == null) {
    await createDurableFile(tokenFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600, syncer })
    createdToken = true
  }
  const createdConfig = await writeIfMissing(path.join(dataDir, CONFIG_FILE),
    `${JSON.stringify({ $comment: 'settings override FDN_* environment variables; flags override both. Keys: see docs/configuration.md' }, null, 2)}\n`, syncer)
  return { identity: { privateKey, peerId: peerIdFromPrivateKey(privateKey).toString() }, createdIdentity, createdToken, createdConfig }
}


export async function readAdminToken (dataDir: string): Promise<string> {
  const file = path.join(dataDir, ADMIN_TOKEN_FILE)
  const token = await readOptional(file)
  if (token == null || token.toString('utf8').trim() === '') throw new Error(`no admin token in ${file}: run 'fdn init' first`)
  return token.toString('utf8').trim()
}

async function readKey (file: string): Promise<PrivateKey | undefined> {
  const bytes = await readOptional(file)
  if (bytes == null) return undefined
  try {
    return privateKeyFromProtobuf(bytes)
  } catch (err) {
    throw new IdentityError(`${file} is not a libp2p private key (${(err as Error).message}); restore it from your backup`)
  }
}

async function readOptional (file: string): Promise<Buffer | undefined> {
  try {
    return await readFile(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

async function writeIfMissing (file: string, content: string, syncer: Syncer | undefined): Promise<boolean> {
  try {
    await createDurableFile(file, content, { syncer })
    return true
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false
    throw err
  }
}
