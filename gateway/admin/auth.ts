import { createHash, timingSafeEqual } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { FdnError } from '../../protocol/errors.ts'

/** Every admin route needs `Authorization: Bearer <$FDN_DATA/admin.token>`. */
export function requireBearer (app: FastifyInstance, token: string): void {
  const expected = digest(token)
  app.addHook('onRequest', async (request) => {
    const header = request.headers.authorization ?? ''
    const match = /^Bearer (.+)$/.exec(header)
    if (match?.[1] == null || !timingSafeEqual(digest(match[1].trim()), expected)) {
      throw new FdnError('unauthorized', 'admin API: missing or wrong bearer token (see $FDN_DATA/admin.token)')
    }
  })
}

function digest (value: string): Buffer {
  return createHash('sha256').update(value).digest()
}
