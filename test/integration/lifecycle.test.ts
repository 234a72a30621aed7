// The daemon's life: health probes, a SIGTERM that lets in-flight uploads and
// downloads finish before a clean exit, and a restart that serves everything.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { access, rm } from 'node:fs/promises'
import { get } from 'node:http'
import type { IncomingMessage } from 'node:http'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { addBytes, adminFetch, rawExchange, runCli, sha256Hex, startDaemon, waitFor, writeAll } from '../helpers/daemon.ts'

const MiB = 1024 * 1024

async function exists (file: string): Promise<boolean> {
  return await access(file).then(() => true, () => false)
}

async function fetchBytes (url: string): Promise<Buffer> {
  const response = await fetch(url)
  assert.equal(response.status, 200, url)
  return Buffer.from(await response.arrayBuffer())
}

describe('daemon lifecycle', () => {
  it('/healthz and /readyz answer 200 once started', async () => {
    const daemon = await startDaemon()
    try {
      for (const route of ['/healthz', '/readyz']) {
        const response = await fetch(`${daemon.http}${route}`)
        assert.equal(response.status, 200, route)
        assert.match(response.headers.get('content-type') ?? '', /^application\/json/)
        assert.equal(response.headers.get('x-content-type-options'), 'nosniff')
        assert.ok(!(response.headers.get('cache-control') ?? '').includes('immutable'))
        const body = await response.json() as { status: string }
        assert.equal(typeof body.status, 'string')
      }
    } finally {
      assert.equal(await daemon.stop(), 0)
    }
    assert.equal(await exists(path.join(daemon.dataDir, 'daemon.json')), false, 'a clean stop removes daemon.json')
  })

  it('SIGTERM finishes an in-flight slow upload and a slow download, exits 0, and a restart serves everything', async () => {
    const daemon = await startDaemon()
    const early = randomBytes(300 * 1024)
    const earlyCid = (await addBytes(daemon, early)).cid
    const big = randomBytes(24 * MiB)
    const bigCid = (await addBytes(daemon, big)).cid

    // a download that the client reads slowly: paused after its first bytes
    const download = new Promise<{ response: IncomingMessage, first: Buffer }>((resolve, reject) => {
      get(`${daemon.http}/ipfs/${bigCid}`, (response) => {
        response.once('data', (first: Buffer) => { response.pause(); resolve({ response, first }) })
      }).once('error', reject)
    })
    const { response: slowDownload, first } = await download
    assert.equal(slowDownload.statusCode, 200)

    // an upload whose body trickles in: half of it before SIGTERM, the rest after
    const upload = randomBytes(3 * MiB + 12345)
    let sigtermSent!: () => void
    const sigterm = new Promise<void>(resolve => { sigtermSent = resolve })
    const uploadDone = rawExchange(daemon.admin, async (socket) => {
      await writeAll(socket, [
        'POST /admin/v1/blobs HTTP/1.1',
        `Host: ${new URL(daemon.admin).host}`,
        `Authorization: Bearer ${daemon.token}`,
        'Content-Type: application/octet-stream',
        `Content-Length: ${upload.length}`,
        'Connection: close', '', ''
      ].join('\r\n'))
      const half = Math.floor(upload.length / 2)
      await writeAll(socket, upload.subarray(0, half))
      await sigterm
      for (let offset = half; offset < upload.length; offset += 256 * 1024) {
        await sleep(50)
        await writeAll(socket, upload.subarray(offset, offset + 256 * 1024))
      }
    }, 30_000)
    await sleep(200)

    const exit = daemon.stop()
    sigtermSent()
    // shutting down: the daemon is no longer advertised, and takes no new connections
    await waitFor(async () => !await exists(path.join(daemon.dataDir, 'daemon.json')), 'daemon.json removed on SIGTERM')
    await waitFor(async () => await fetch(`${daemon.http}/healthz`).then(async r => { await r.arrayBuffer(); return false }, () => true), 'public listener closed')
    assert.equal(daemon.process.exitCode, null, 'still running while requests are in flight')

    const answer = await uploadDone
    assert.equal(answer.status, 201, answer.body.toString())
    const added = JSON.parse(answer.body.toString()) as { cid: string, size: number }
    assert.equal(added.size, upload.length)

    assert.equal(daemon.process.exitCode, null, 'still running while the download is in flight')
    const parts: Buffer[] = [first]
    slowDownload.on('data', (chunk: Buffer) => { parts.push(chunk) })
    const downloaded = new Promise<void>((resolve, reject) => {
      slowDownload.once('end', resolve)
      slowDownload.once('error', reject)
    })
    slowDownload.resume()
    await downloaded
    assert.equal(sha256Hex(Buffer.concat(parts)), sha256Hex(big), 'the download completed byte-identical')

    const finished = Date.now()
    assert.equal(await exit, 0, `exit code; output:\n${daemon.output()}`)
    // a keep-alive connection left idle by the finished download must not hold the exit back
    assert.ok(Date.now() - finished < 2000, `exited ${Date.now() - finished} ms after the last request finished`)
    assert.doesNotMatch(daemon.output(), /"level":(50|60)/, 'no error logged on shutdown')

    const restarted = await startDaemon({ dataDir: daemon.dataDir })
    try {
      assert.ok((await fetchBytes(`${restarted.http}/ipfs/${earlyCid}`)).equals(early))
      assert.equal(sha256Hex(await fetchBytes(`${restarted.http}/ipfs/${added.cid}`)), sha256Hex(upload))
      assert.equal(sha256Hex(await fetchBytes(`${restarted.http}/ipfs/${bigCid}`)), sha256Hex(big))
      const status = await (await adminFetch(restarted, '/admin/v1/status')).json() as { blobs: number, logicalBytes: number }
      assert.equal(status.blobs, 3)
      assert.equal(status.logicalBytes, early.length + big.length + upload.length)
      const verify = await runCli(['verify', '--json'], { FDN_DATA: restarted.dataDir })
      assert.equal(verify.code, 0, verify.stderr)
      const report = JSON.parse(verify.stdout) as { blobs: number, missing: unknown[], corrupt: unknown[] }
      assert.equal(report.blobs, 3)
      assert.deepEqual([report.missing, report.corrupt], [[], []])
    } finally {
      assert.equal(await restarted.stop(), 0)
    }
    await rm(daemon.dataDir, { recursive: true, force: true })
  })

  it('SIGTERM with nothing in flight exits 0 at once', async () => {
    const daemon = await startDaemon()
    const started = Date.now()
    assert.equal(await daemon.stop(), 0)
    assert.ok(Date.now() - started < 5000, `took ${Date.now() - started} ms`)
  })
})
