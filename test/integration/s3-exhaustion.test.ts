// A tenant trying to exhaust the node (issue 19, finding 8): many signed uploads
// that stall, bodies that trickle, and XML documents built to be expensive. A real
// daemon with short limits: the excess gets S3's SlowDown, stalled bodies S3's
// RequestTimeout, memory stays bounded by the limits and comes back, nothing of a
// cut upload is kept, oversized documents are refused unread, and the event loop
// keeps answering meanwhile.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import type { Socket } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3'
import type { S3Client } from '@aws-sdk/client-s3'
import { rawCidOfSha256 } from '../../protocol/retrieve-api.ts'
import { MiB, png, seededBytes } from '../helpers/bytes.ts'
import { adminFetch, blockFiles, rawExchange, startDaemon, writeAll } from '../helpers/daemon.ts'
import type { RawResponse, RunningDaemon } from '../helpers/daemon.ts'
import { createTenant, httpSend, s3Client, signRequest, xmlField } from '../helpers/s3.ts'
import type { HttpAnswer, Tenant } from '../helpers/s3.ts'

const BODY_TIMEOUT_MS = 4000
const UPLOADS_MAX = 10
const UPLOADS_PER_TENANT = 6
/** What the stalled uploads announce (and never send). */
const DECLARED = 50 * 1024 * 1024
/** What they send before they stall: a chunk and a half. */
const SENT = seededBytes(1536 * 1024, 'stalled')

interface Timed extends RawResponse {
  /** ms from the last byte sent to the answer */
  afterStall: number
}

/**
 * A signed PutObject (or any signed PUT to `path`) whose head and first
 * `sent.length` bytes of a body announced `declared` long go out, then
 * nothing. `stalled` resolves once those bytes are sent; `answer` when the
 * node has answered and closed (an upload refused from its head is answered
 * while its bytes still come: the node must read them, or the reset of the
 * connection could take the answer with it).
 */
async function stalledPut (daemon: RunningDaemon, tenant: Pick<Tenant, 'accessKeyId' | 'secretAccessKey'>, path: string, sent = SENT, declared = DECLARED): Promise<{ stalled: Promise<void>, answer: Promise<Timed> }> {
  const request = await signRequest(daemon, tenant, { method: 'PUT', path, contentSha256: 'UNSIGNED-PAYLOAD', headers: { 'content-length': String(declared) } })
  let stalledAt = 0
  let markStalled: () => void = () => {}
  const stalled = new Promise<void>((resolve) => { markStalled = resolve })
  const answer = rawExchange(daemon.http, async (socket: Socket) => {
    try {
      await writeAll(socket, [`PUT ${path} HTTP/1.1`, ...Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n'))
      await writeAll(socket, sent)
    } finally {
      stalledAt = performance.now()
      markStalled()
    }
  }, 20_000).then((response) => ({ ...response, afterStall: performance.now() - stalledAt }))
  answer.catch(() => {})
  return { stalled, answer }
}

/** A small, whole, signed PutObject. */
async function smallPut (daemon: RunningDaemon, tenant: Tenant, key: string): Promise<HttpAnswer> {
  const body = Buffer.from(`small ${key}`)
  const request = await signRequest(daemon, tenant, { method: 'PUT', path: `/${tenant.bucket}/${key}`, body })
  return await httpSend(request.url, { method: 'PUT', headers: request.headers, body })
}

function rssMiB (daemon: RunningDaemon): number {
  const status = readFileSync(`/proc/${daemon.process.pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN) / 1024
}

/** Samples the daemon's RSS every 20 ms until stopped; the highest seen. */
function rssPeak (daemon: RunningDaemon): () => number {
  let peak = rssMiB(daemon)
  const timer = setInterval(() => { peak = Math.max(peak, rssMiB(daemon)) }, 20)
  timer.unref()
  return () => {
    clearInterval(timer)
    return Math.max(peak, rssMiB(daemon))
  }
}

/** CPU time the daemon has used (all its threads), in ms. */
function cpuMs (daemon: RunningDaemon): number {
  // /proc/<pid>/stat: utime and stime, in clock ticks of 10 ms, after the command name
  const fields = readFileSync(`/proc/${daemon.process.pid}/stat`, 'utf8').replace(/^.*\) /, '').split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/**
 * Runs `work` while asking /healthz over and over: the slowest answer and
 * the CPU the daemon spent meanwhile, in ms (the CPU, unlike the latency,
 * does not depend on how busy the machine is).
 */
async function slowestHealthzDuring<T> (daemon: RunningDaemon, work: () => Promise<T>): Promise<{ result: T, slowest: number, cpu: number }> {
  let done = false
  let slowest = 0
  const cpuBefore = cpuMs(daemon)
  const probe = (async () => {
    while (!done) {
      const started = performance.now()
      const response = await fetch(`${daemon.http}/healthz`)
      await response.arrayBuffer()
      assert.equal(response.status, 200)
      slowest = Math.max(slowest, performance.now() - started)
      await sleep(20)
    }
  })()
  try {
    const result = await work()
    return { result, slowest, cpu: cpuMs(daemon) - cpuBefore }
  } finally {
    done = true
    await probe
  }
}

const code = (answer: { body: Buffer }): string | undefined => xmlField(answer.body.toString(), 'Code')

describe('S3 API: a tenant cannot exhaust the node', () => {
  let daemon: RunningDaemon
  let a: Tenant
  let b: Tenant
  let c: Tenant
  let s3: S3Client

  before(async () => {
    daemon = await startDaemon({
      env: {
        FDN_UPLOADS_MAX: String(UPLOADS_MAX),
        FDN_UPLOADS_PER_TENANT: String(UPLOADS_PER_TENANT),
        FDN_BODY_TIMEOUT: `${BODY_TIMEOUT_MS}ms`,
        FDN_BODY_MIN_RATE: '1KB',
        FDN_MAX_OBJECT_SIZE: '64MB'
      }
    })
    a = await createTenant(daemon, 'alpha')
    b = await createTenant(daemon, 'bravo')
    c = await createTenant(daemon, 'charlie')
    s3 = s3Client(daemon, a)
  })
  after(async () => {
    s3?.destroy()
    await daemon?.stop()
  })

  it('answers uploads beyond the tenant\'s limit SlowDown at once, cuts the stalled ones with RequestTimeout, keeps memory bounded and gives it back, keeps nothing', async (t) => {
    // warm the daemon up (heap, chunk slots) with a real upload, then take its measure
    const warm = seededBytes(3 * MiB, 'warm')
    await s3.send(new PutObjectCommand({ Bucket: a.bucket, Key: 'warm.bin', Body: warm }))
    const blocksBefore = await blockFiles(daemon.dataDir)
    await sleep(300)
    const baseline = rssMiB(daemon)
    const peak = rssPeak(daemon)

    // the tenant's slots fill with stalled uploads, then 34 more come at once
    const first = await Promise.all(Array.from({ length: UPLOADS_PER_TENANT }, async (_, i) => await stalledPut(daemon, a, `/${a.bucket}/stall-${i}`)))
    await Promise.all(first.map(async (u) => await u.stalled))
    const rest = await Promise.all(Array.from({ length: 40 - UPLOADS_PER_TENANT }, async (_, i) => await stalledPut(daemon, a, `/${a.bucket}/stall-more-${i}`)))
    const refused = await Promise.all(rest.map(async (u) => await u.answer))
    const cut = await Promise.all(first.map(async (u) => await u.answer))
    const highest = peak()

    assert.deepEqual(new Set(refused.map((r) => `${r.status} ${code(r)} ${r.headers['retry-after']}`)), new Set(['503 SlowDown 1']))
    for (const r of refused) assert.ok(r.afterStall < BODY_TIMEOUT_MS, 'refused at once')
    assert.deepEqual(new Set(cut.map((r) => `${r.status} ${code(r)}`)), new Set(['400 RequestTimeout']))
    for (const r of cut) {
      assert.equal(r.headers.connection, 'close')
      assert.ok(r.afterStall > BODY_TIMEOUT_MS - 250, `cut ${Math.round(r.afterStall)} ms after the stall, not before the ${BODY_TIMEOUT_MS} ms timeout`)
      assert.ok(r.afterStall < BODY_TIMEOUT_MS + 3000, `cut ${Math.round(r.afterStall)} ms after the stall`)
    }

    // each stalled upload held 1.5 MB (300 of them: +500 MB, kept); the limit leaves a few chunks
    await sleep(2500)
    const settled = rssMiB(daemon)
    t.diagnostic(`RSS ${baseline.toFixed(0)} MiB, at most ${highest.toFixed(0)} with 40 stalled uploads, ${settled.toFixed(0)} after`)
    assert.ok(highest - baseline < 32, `RSS rose from ${baseline.toFixed(0)} to ${highest.toFixed(0)} MiB`)
    // (the hash pool keeps up to 16 free 1 MiB chunk slots for the next uploads)
    assert.ok(settled - baseline < 24, `RSS stayed at ${settled.toFixed(0)} MiB after the uploads ended (from ${baseline.toFixed(0)})`)

    // nothing of a cut upload is kept, and nothing is left for gc
    const listed = await s3.send(new ListObjectsV2Command({ Bucket: a.bucket, Prefix: 'stall-' }))
    assert.equal(listed.KeyCount, 0)
    // each had written its first MiB as a block before it stalled (the tenants' small manifests may come meanwhile)
    const blocksAfter = await blockFiles(daemon.dataDir)
    assert.ok(blocksAfter.bytes - blocksBefore.bytes < MiB, `blocks of cut uploads left: ${JSON.stringify([blocksBefore, blocksAfter])}`)
    const gc = await (await adminFetch(daemon, '/admin/v1/gc', { method: 'POST' })).json() as { blocksRemoved: number }
    assert.equal(gc.blocksRemoved, 0)
    const verify = await (await adminFetch(daemon, '/admin/v1/verify', { method: 'POST' })).json() as { missing: unknown[], corrupt: unknown[] }
    assert.deepEqual([verify.missing, verify.corrupt], [[], []])

    // and a legitimate upload works as before
    const after = seededBytes(2 * MiB + 17, 'after')
    await s3.send(new PutObjectCommand({ Bucket: a.bucket, Key: 'after.bin', Body: after }))
    const got = await s3.send(new GetObjectCommand({ Bucket: a.bucket, Key: 'after.bin' }))
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(after))
  })

  it('limits uploads per tenant and in all, counts only authenticated ones, and shares the slots with the retrieve API\'s add by hash', async () => {
    // alpha's slots, all stalled
    const alpha = await Promise.all(Array.from({ length: UPLOADS_PER_TENANT }, async (_, i) => await stalledPut(daemon, a, `/${a.bucket}/alpha-${i}`)))
    await Promise.all(alpha.map(async (u) => await u.stalled))
    await sleep(200)

    // strangers take no slot: an unknown key, a wrong secret, no signature at all
    const strangers = await Promise.all([
      stalledPut(daemon, { accessKeyId: 'FDNNOSUCHKEY000000000', secretAccessKey: a.secretAccessKey }, `/${a.bucket}/stranger-1`),
      stalledPut(daemon, { accessKeyId: a.accessKeyId, secretAccessKey: `${a.secretAccessKey}x` }, `/${a.bucket}/stranger-2`)
    ])
    const anonymous = await rawExchange(daemon.http, async (socket) => {
      await writeAll(socket, `PUT /${a.bucket}/stranger-3 HTTP/1.1\r\nhost: x\r\ncontent-length: ${DECLARED}\r\n\r\n`)
      await writeAll(socket, SENT.subarray(0, 64 * 1024))
    })
    const strangerAnswers = [...await Promise.all(strangers.map(async (s) => await s.answer)), anonymous]
    assert.deepEqual(strangerAnswers.map((r) => [r.status, code(r)]), [[403, 'InvalidAccessKeyId'], [403, 'SignatureDoesNotMatch'], [403, 'AccessDenied']])

    // alpha is at its limit: S3 and the retrieve API alike say so
    const more = await smallPut(daemon, a, 'alpha-more')
    assert.deepEqual([more.status, code(more), more.headers['retry-after']], [503, 'SlowDown', '1'])
    const blob = png(2000, 'added by hash')
    const cid = rawCidOfSha256(createHash('sha256').update(blob).digest('hex'))
    const add = await signRequest(daemon, a, { method: 'PUT', path: `/api/v1/blobs/${cid}`, body: blob })
    const added = await httpSend(add.url, { method: 'PUT', headers: add.headers, body: blob })
    assert.equal(added.status, 503)
    assert.equal((JSON.parse(added.body.toString()) as { error: { code: string } }).error.code, 'unavailable')
    assert.equal(added.headers['retry-after'], '1')

    // bravo may still upload, until the node as a whole is at its limit
    const bravoOk = await smallPut(daemon, b, 'bravo-ok')
    assert.equal(bravoOk.status, 200)
    const bravo = await Promise.all(Array.from({ length: UPLOADS_MAX - UPLOADS_PER_TENANT }, async (_, i) => await stalledPut(daemon, b, `/${b.bucket}/bravo-${i}`)))
    await Promise.all(bravo.map(async (u) => await u.stalled))
    await sleep(200)
    for (const [tenant, key] of [[b, 'bravo-more'], [c, 'charlie-1']] as const) {
      const refused = await smallPut(daemon, tenant, key)
      assert.deepEqual([refused.status, code(refused)], [503, 'SlowDown'], `${tenant.name}: the node runs ${UPLOADS_MAX} uploads`)
    }

    // the stalled ones are cut, their slots come back
    const cut = await Promise.all([...alpha, ...bravo].map(async (u) => await u.answer))
    assert.deepEqual(new Set(cut.map((r) => `${r.status} ${code(r)}`)), new Set(['400 RequestTimeout']))
    for (const [tenant, key] of [[a, 'alpha-after'], [c, 'charlie-2']] as const) {
      assert.equal((await smallPut(daemon, tenant, key)).status, 200)
    }
    const addedLater = await httpSend(add.url, { method: 'PUT', headers: add.headers, body: blob })
    assert.equal(addedLater.status, 201)
  })

  it('cuts a body that trickles below the minimum rate, a stalled add by hash and a stalled request head, never an upload at a good rate however long', async () => {
    // four clients at once: a trickle, a stalled add by hash, a stalled head, a long upload at a good rate
    const trickling = (async () => {
      // 200 bytes every 400 ms: 0.5 KB/s, never idle for the timeout, under the 1 KB/s minimum
      const trickle = await signRequest(daemon, a, { method: 'PUT', path: `/${a.bucket}/trickle`, contentSha256: 'UNSIGNED-PAYLOAD', headers: { 'content-length': String(64 * 1024) } })
      const started = performance.now()
      const answer = await rawExchange(daemon.http, async (socket) => {
        await writeAll(socket, [`PUT /${a.bucket}/trickle HTTP/1.1`, ...Object.entries(trickle.headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n'))
        for (let i = 0; i < 40 && !socket.destroyed; i++) {
          await writeAll(socket, SENT.subarray(i * 200, (i + 1) * 200)).catch(() => {})
          await sleep(400)
        }
      })
      return { answer, elapsed: performance.now() - started }
    })()

    // an add by hash that stalls is cut the same way (a JSON error on that API)
    const blob = png(200 * 1024, 'stalled blob')
    const cid = rawCidOfSha256(createHash('sha256').update(blob).digest('hex'))
    const stalledAdd = (await stalledPut(daemon, a, `/api/v1/blobs/${cid}`, blob.subarray(0, 100 * 1024), blob.length)).answer

    // headers that never end are not waited for either
    const slowHead = (async () => {
      const started = performance.now()
      const answer = await rawExchange(daemon.http, async (socket) => { await writeAll(socket, `PUT /${a.bucket}/slow-head HTTP/1.1\r\nhost: x\r\nx-amz-date: `) })
      return { answer, elapsed: performance.now() - started }
    })()

    // 6 MiB at about 1.5 MiB/s, with a pause shorter than the timeout: longer than the timeout in all
    const data = seededBytes(6 * MiB, 'paced')
    const pacing = (async () => {
      const paced = await signRequest(daemon, a, { method: 'PUT', path: `/${a.bucket}/paced.bin`, contentSha256: 'UNSIGNED-PAYLOAD', headers: { 'content-length': String(data.length) } })
      const started = performance.now()
      const answer = await rawExchange(daemon.http, async (socket) => {
        await writeAll(socket, [`PUT /${a.bucket}/paced.bin HTTP/1.1`, ...Object.entries(paced.headers).map(([k, v]) => `${k}: ${v}`), '', ''].join('\r\n'))
        for (let offset = 0; offset < data.length; offset += 64 * 1024) {
          await writeAll(socket, data.subarray(offset, offset + 64 * 1024))
          await sleep(offset === 2 * MiB ? BODY_TIMEOUT_MS / 2 : 40)
        }
      }, 30_000)
      return { answer, elapsed: performance.now() - started }
    })()

    const trickled = await trickling
    assert.deepEqual([trickled.answer.status, code(trickled.answer)], [400, 'RequestTimeout'])
    assert.ok(trickled.elapsed > BODY_TIMEOUT_MS - 250 && trickled.elapsed < 2 * BODY_TIMEOUT_MS + 2000, `cut after ${Math.round(trickled.elapsed)} ms`)

    const add = await stalledAdd
    assert.equal(add.status, 400)
    assert.match(add.body.toString(), /not read from or written to within the timeout period/)
    assert.ok(add.afterStall > BODY_TIMEOUT_MS - 250)

    const head = await slowHead
    assert.equal(head.answer.status, 408)
    // (node looks for overdue heads every second here; it waited a minute before)
    assert.ok(head.elapsed > BODY_TIMEOUT_MS - 250 && head.elapsed < BODY_TIMEOUT_MS + 5000, `closed after ${Math.round(head.elapsed)} ms`)

    const done = await pacing
    assert.equal(done.answer.status, 200, done.answer.body.toString())
    assert.ok(done.elapsed > BODY_TIMEOUT_MS, 'the upload lasted longer than the body timeout')
    const got = await s3.send(new GetObjectCommand({ Bucket: a.bucket, Key: 'paced.bin' }))
    assert.ok(Buffer.from(await got.Body!.transformToByteArray()).equals(data))
  })

  it('refuses XML documents over S3\'s limits unread, reads the largest allowed ones in bounded time, and keeps answering meanwhile', async (t) => {
    /** `send`: body bytes that go out (a client stops at the answer; see stalledPut) — chunked, in one chunk. */
    const deleteObjects = async (body: Buffer, options: { chunked?: boolean, send?: number } = {}): Promise<RawResponse> => {
      const md5 = createHash('md5').update(body).digest('base64')
      const request = await signRequest(daemon, a, { method: 'POST', path: `/${a.bucket}`, query: { delete: '' }, contentSha256: 'UNSIGNED-PAYLOAD', headers: { 'content-md5': md5 } })
      const head = [`POST /${a.bucket}?delete= HTTP/1.1`, ...Object.entries(request.headers).map(([k, v]) => `${k}: ${v}`)]
      const sent = body.subarray(0, options.send ?? body.length)
      return await rawExchange(daemon.http, async (socket) => {
        if (options.chunked !== true) {
          await writeAll(socket, [...head, `content-length: ${body.length}`, '', ''].join('\r\n'))
          await writeAll(socket, sent)
          return
        }
        await writeAll(socket, [...head, 'transfer-encoding: chunked', '', ''].join('\r\n'))
        await writeAll(socket, Buffer.concat([Buffer.from(`${sent.length.toString(16)}\r\n`), sent, Buffer.from('\r\n')]))
        if (sent.length === body.length) await writeAll(socket, '0\r\n\r\n')
      })
    }

    // the report's 8 MB of <x/>: refused from its length, and when it comes chunked, as soon as it passes 2 MB
    const huge = Buffer.from(`<Delete>${'<x/>'.repeat(2 * 1024 * 1024 - 5)}</Delete>`)
    for (const options of [{ send: 64 * 1024 }, { chunked: true, send: 2048000 + 1000 }]) {
      const { result, slowest, cpu } = await slowestHealthzDuring(daemon, async () => await deleteObjects(huge, options))
      assert.deepEqual([result.status, code(result), xmlField(result.body.toString(), 'MaxMessageLengthBytes')], [400, 'MaxMessageLengthExceeded', '2048000'])
      // parsing it took 2.3 s of the event loop before
      assert.ok(cpu < 300, `${cpu} ms of CPU`)
      assert.ok(slowest < 1500, `/healthz took ${Math.round(slowest)} ms during it`)
    }

    // just under the limit: read in bounded time (too many elements: not 1000 keys)
    const dense = Buffer.from(`<Delete>${'<x/>'.repeat(511_990)}</Delete>`)
    assert.ok(dense.length <= 2048000)
    const { result: denseAnswer, slowest: denseSlowest, cpu: denseCpu } = await slowestHealthzDuring(daemon, async () => await deleteObjects(dense))
    assert.deepEqual([denseAnswer.status, code(denseAnswer)], [400, 'MalformedXML'])
    assert.ok(denseCpu < 300, `${denseCpu} ms of CPU`)
    assert.ok(denseSlowest < 1500, `/healthz took ${Math.round(denseSlowest)} ms during it`)

    // the largest CompleteMultipartUpload S3 allows (10,000 parts) is read, and answered, quickly
    const create = await signRequest(daemon, a, { method: 'POST', path: `/${a.bucket}/big-upload`, query: { uploads: '' } })
    const created = await httpSend(create.url, { method: 'POST', headers: create.headers })
    const uploadId = xmlField(created.body.toString(), 'UploadId')!
    let parts = ''
    for (let n = 1; n <= 10_000; n++) parts += `<Part><PartNumber>${n}</PartNumber><ETag>&quot;${createHash('md5').update(String(n)).digest('hex')}&quot;</ETag><ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>`
    const completeBody = Buffer.from(`<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts}</CompleteMultipartUpload>`)
    const complete = await signRequest(daemon, a, { method: 'POST', path: `/${a.bucket}/big-upload`, query: { uploadId }, body: completeBody })
    const { result: completed, slowest: completeSlowest, cpu: completeCpu } = await slowestHealthzDuring(daemon, async () =>
      await httpSend(complete.url, { method: 'POST', headers: complete.headers, body: completeBody }))
    assert.deepEqual([completed.status, code(completed)], [400, 'InvalidPart'], 'read whole: the parts were never uploaded')
    t.diagnostic(`CPU: ${denseCpu} ms for 2 MB of <x/>, ${completeCpu} ms for 10,000 parts`)
    // (a general parser took 0.3 to 1 s for 10,000 parts; this reader 20 to 120 ms, cold)
    assert.ok(completeCpu < 500, `${completeCpu} ms of CPU`)
    assert.ok(completeSlowest < 1500, `/healthz took ${Math.round(completeSlowest)} ms during it`)

    // an ACL document is small
    const acl = Buffer.from(`<AccessControlPolicy>${' '.repeat(64 * 1024)}</AccessControlPolicy>`)
    const putAcl = await signRequest(daemon, a, { method: 'PUT', path: `/${a.bucket}/warm.bin`, query: { acl: '' }, body: acl })
    const aclAnswer = await httpSend(putAcl.url, { method: 'PUT', headers: putAcl.headers, body: acl })
    assert.deepEqual([aclAnswer.status, code(aclAnswer)], [400, 'MaxMessageLengthExceeded'])

    // while a DeleteObjects of 1000 keys, escaped as clients escape them, works
    const keys = Array.from({ length: 1000 }, (_, i) => `gone/${i}&<'">${'k'.repeat(200)}`)
    const xml = Buffer.from(`<?xml version="1.0" encoding="UTF-8"?><Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Quiet>false</Quiet>${keys.map((k) => `<Object><Key>${k.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/'/g, '&apos;').replace(/"/g, '&quot;')}</Key></Object>`).join('')}</Delete>`)
    const deleted = await deleteObjects(xml)
    assert.equal(deleted.status, 200, deleted.body.toString())
    assert.equal(deleted.body.toString().match(/<Deleted>/g)?.length, 1000)
    assert.ok(deleted.body.toString().includes(`<Key>gone/999&amp;&lt;&apos;&quot;&gt;${'k'.repeat(200)}</Key>`))
  })
})
