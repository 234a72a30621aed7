/** What an instance admin pastes to point Mastodon, Pixelfed or Misskey at this node. */
export interface InstanceSettings {
  mastodon: Record<string, string>
  pixelfed: Record<string, string>
  misskey: Record<string, string>
}

export interface TenantCredentials {
  bucket: string
  accessKeyId: string
  secretAccessKey: string
  /** Base URL of the node's public listener, e.g. https://media.example.org */
  endpoint: string
}

/**
 * Ready-to-paste storage settings. Path-style addressing everywhere: it works
 * without a wildcard DNS name, and the public URL of a file is
 * `{endpoint}/{bucket}/{key}`, which the node serves to anyone for public-read objects.
 */
export function instanceSettings ({ bucket, accessKeyId, secretAccessKey, endpoint }: TenantCredentials): InstanceSettings {
  const url = new URL(endpoint)
  const protocol = url.protocol.replace(':', '')
  const hostAndPath = `${url.host}${url.pathname.replace(/\/$/, '')}`
  return {
    mastodon: {
      S3_ENABLED: 'true',
      S3_PROTOCOL: protocol,
      S3_ENDPOINT: `${protocol}://${hostAndPath}`,
      S3_HOSTNAME: url.host,
      S3_BUCKET: bucket,
      S3_REGION: 'us-east-1',
      S3_OVERRIDE_PATH_STYLE: 'true',
      // the alias host serves only public-read objects; Mastodon's default, stated so nobody unsets it
      S3_PERMISSION: 'public-read',
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      S3_ALIAS_HOST: `${hostAndPath}/${bucket}`
    },
    pixelfed: {
      PF_ENABLE_CLOUD: 'true',
      FILESYSTEM_CLOUD: 's3',
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
      AWS_DEFAULT_REGION: 'us-east-1',
      AWS_BUCKET: bucket,
      AWS_URL: `${protocol}://${hostAndPath}/${bucket}`,
      AWS_ENDPOINT: `${protocol}://${hostAndPath}`,
      AWS_USE_PATH_STYLE_ENDPOINT: 'true'
    },
    misskey: {
      'Use object storage': 'on',
      'Base URL': `${protocol}://${hostAndPath}/${bucket}`,
      Bucket: bucket,
      Prefix: 'files',
      Endpoint: url.host,
      Region: 'us-east-1',
      'Access key': accessKeyId,
      'Secret key': secretAccessKey,
      'Use SSL': protocol === 'https' ? 'on' : 'off',
      'Use proxy': 'off',
      // Misskey uploads private objects unless told otherwise, and browsers read them through the Base URL
      'Set "public-read" on upload': 'on',
      's3ForcePathStyle': 'on'
    }
  }
}
