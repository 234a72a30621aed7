import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

/** A tenant secret at rest: AES-256-GCM under a key derived from the node identity. */
export interface SealedSecret {
  iv: string
  data: string
  tag: string
}

/**
 * Seals tenant secrets. SigV4 needs the plain secret to verify a signature,
 * so a hash cannot be stored; the secret is encrypted instead, under a key
 * derived (HKDF) from the node's identity key — the one file a lost node is
 * recovered with, so a recovered node can still open its tenants' secrets.
 */
export class SecretBox {
  private readonly key: Buffer

  constructor (identityKey: Uint8Array) {
    this.key = Buffer.from(hkdfSync('sha256', identityKey, 'fdn', 'fdn tenant secrets v1', 32))
  }

  seal (secret: string): SealedSecret {
    const iv = randomBytes(12)
    const cipher = createCipheriv('aes-256-gcm', this.key, iv)
    const data = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()])
    return { iv: iv.toString('base64'), data: data.toString('base64'), tag: cipher.getAuthTag().toString('base64') }
  }

  open (sealed: SealedSecret): string {
    const decipher = createDecipheriv('aes-256-gcm', this.key, Buffer.from(sealed.iv, 'base64'))
    decipher.setAuthTag(Buffer.from(sealed.tag, 'base64'))
    return Buffer.concat([decipher.update(Buffer.from(sealed.data, 'base64')), decipher.final()]).toString('utf8')
  }
}
