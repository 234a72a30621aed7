/**
 * What request bodies may cost the node. Every memory an upload holds is
 * bytes its client sent and the node has not stored yet (at most about one
 * chunk of the object, or the small XML document being read), so the memory
 * of uploads is bounded by how many run at once and how long a client may
 * leave one waiting:
 *
 * - an upload takes a slot of its tenant and of the node for as long as its
 *   exchange lasts; with none free it is answered 503 SlowDown with
 *   `Retry-After` before a byte of its body is read, as S3 throttles. Only
 *   authenticated requests are admitted, so a stranger cannot take a
 *   tenant's slots;
 * - a body the node waits on for `idleTimeout` without a byte, or that sends
 *   less than `minRate` bytes a second over each `idleTimeout` of waiting, is
 *   cut with S3's 400 RequestTimeout and the connection closed. Only time the
 *   node spends waiting for the client counts: a slow disk never cuts an
 *   upload, and a large upload at a good rate is never cut, however long.
 *
 * The errors are S3Errors; the retrieve API maps them like its other S3
 * checks (api/error-map.ts).
 */
import type { FastifyReply, FastifyRequest } from 'fastify'
import { s3Error } from './errors.ts'

export interface UploadLimits {
  /** uploads running at once on the node */
  readonly max: number
  /** uploads running at once for one tenant */
  readonly perTenant: number
  /** milliseconds a body may keep the node waiting for its next bytes */
  readonly idleTimeout: number
  /** bytes per second a body must average over each `idleTimeout` of waiting; 0: none */
  readonly minRate: number
}

/** What a refused upload is told: try again in a second (the SDKs back off further on their own). */
const RETRY_AFTER_SECONDS = 1

export class UploadGate {
  readonly limits: UploadLimits
  private running = 0
  private readonly byTenant = new Map<string, number>()

  constructor (limits: UploadLimits) {
    this.limits = limits
  }

  /** Uploads running now (for tests and status). */
  get inProgress (): number {
    return this.running
  }

  /**
   * Takes one of `tenant`'s upload slots until the exchange is over (the
   * answer sent or the connection gone) and returns the request's body,
   * watched. SlowDown when the tenant or the node has no slot free.
   */
  admit (tenant: string, request: FastifyRequest, reply: FastifyReply): AsyncIterable<Uint8Array> {
    const own = this.byTenant.get(tenant) ?? 0
    if (own >= this.limits.perTenant || this.running >= this.limits.max) {
      reply.header('retry-after', String(RETRY_AFTER_SECONDS))
      throw s3Error('SlowDown')
    }
    this.running++
    this.byTenant.set(tenant, own + 1)
    let held = true
    const release = (): void => {
      if (!held) return
      held = false
      this.running--
      const left = (this.byTenant.get(tenant) ?? 1) - 1
      if (left === 0) this.byTenant.delete(tenant)
      else this.byTenant.set(tenant, left)
    }
    reply.raw.once('close', release)
    if (reply.raw.closed) release()
    return this.watch(request, reply)
  }

  /** The request's body, cut with RequestTimeout when it stalls (for small bodies that take no slot). */
  watch (request: FastifyRequest, reply: FastifyReply): AsyncIterable<Uint8Array> {
    return watchedBody(request.raw.iterator({ destroyOnReturn: false }), this.limits, () => {
      // S3 closes the connection after a RequestTimeout: the rest of the body is not waited for
      reply.header('connection', 'close')
    })
  }
}

/**
 * `source` with its waits timed. The source is not ended when the consumer
 * stops early (a refused body must leave the socket able to carry the
 * error answer).
 */
async function * watchedBody (
  source: AsyncIterator<Uint8Array>,
  limits: Pick<UploadLimits, 'idleTimeout' | 'minRate'>,
  onStall: () => void
): AsyncGenerator<Uint8Array, void, undefined> {
  const window = limits.idleTimeout
  const required = limits.minRate * window / 1000
  let interrupt: ((err: Error) => void) | undefined
  // one timer per body, restarted at every wait: it only ever fires on a wait
  // that lasted the whole idle timeout
  const timer = setTimeout(() => { interrupt?.(s3Error('RequestTimeout')) }, limits.idleTimeout)
  timer.unref()
  let waited = 0
  let received = 0
  let ended = false
  try {
    for (;;) {
      timer.refresh()
      const started = performance.now()
      const next = source.next()
      const result = await new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
        interrupt = reject
        next.then(resolve, reject)
      })
      interrupt = undefined
      if (result.done === true) {
        ended = true
        return
      }
      waited += performance.now() - started
      received += result.value.length
      if (waited >= window) {
        if (received < required) throw s3Error('RequestTimeout')
        waited = 0
        received = 0
      }
      yield result.value
    }
  } catch (err) {
    if ((err as { code?: string }).code === 'RequestTimeout') onStall()
    throw err
  } finally {
    interrupt = undefined
    clearTimeout(timer)
    // let go of the stream (without ending it), so the rest of a refused body can be drained;
    // after a stall this waits for the read in progress, which the closed connection ends
    if (!ended) source.return?.().catch(() => {})
  }
}
