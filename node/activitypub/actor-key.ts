import { createPrivateKey, createPublicKey, generateKeyPair } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { promisify } from 'node:util'
import { IdentityError } from '../identity/identity.ts'
import { createDurableFile } from '../store/syncer.ts'

export const ACTOR_KEY_FILE = 'actor.pem'

export interface ActorKey {
  privateKey: KeyObject
  publicKeyPem: string
  created: boolean
}

/**
 * The actor's RSA key (Mastodon and every server that verifies draft-cavage
 * signatures read RSA): `$FDN_DATA/actor.pem`, made at the first start.
 * Other servers cache it under the actor's key ID, so a replaced key makes
 * them refuse the node's signatures until they fetch it again: back it up
 * with identity.key.
 */
export async function loadActorKey (dataDir: string): Promise<ActorKey> {
  const file = path.join(dataDir, ACTOR_KEY_FILE)
  let pem: string | undefined
  try {
    pem = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  let created = false
  if (pem == null) {
    const pair = await promisify(generateKeyPair)('rsa', { modulusLength: 2048 })
    pem = pair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString()
    try {
      await createDurableFile(file, pem, { mode: 0o600 })
      created = true
    } catch (err) {
      // another process of the same data directory made it first: use theirs
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
      pem = await readFile(file, 'utf8')
    }
  }
  let privateKey: KeyObject
  try {
    privateKey = createPrivateKey(pem)
  } catch (err) {
    throw new IdentityError(`${file} is not a PEM private key (${(err as Error).message}); restore it from your backup`)
  }
  if (privateKey.asymmetricKeyType !== 'rsa') throw new IdentityError(`${file} holds a ${privateKey.asymmetricKeyType ?? 'unknown'} key, not RSA`)
  const publicKeyPem = createPublicKey(privateKey).export({ type: 'spki', format: 'pem' }).toString()
  return { privateKey, publicKeyPem, created }
}
