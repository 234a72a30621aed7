// `fdn peers`, `fdn recover` and `fdn status` as the user runs them, against a
// stand-in for the admin API that answers with fixed bodies (the daemon's side
// is tested by the integration tests).
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { writeFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { AdminClient, CliError } from '../../node/cli/admin-client.ts'
import type { CidString } from '../../protocol/cid.ts'
import type { PeersResponse, RecoverEvent, RecoverReport, StatusResponse } from '../../protocol/admin-api.ts'
import { runCli, tempDir } from '../helpers/daemon.ts'

const TOKEN = 'test-token-0123456789abcdef0123456789'
const SELF = '12D3KooWSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1fSe1f'
const PEER_A = '12D3KooWAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'
const PEER_B = '12D3KooWBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB'

const PEERS: PeersResponse = {
  self: { peerId: SELF, addresses: [`/ip4/127.0.0.1/tcp/4001/p2p/${SELF}`] },
  peers: [
    { peerId: PEER_B, addresses: ['/ip4/10.0.0.2/tcp/4001'], trusted: false, connected: true, health: 'healthy', lastSeen: new Date(Date.now() - 5000).toISOString(), latencyMs: 3.4 },
    { peerId: PEER_A, addresses: [], trusted: true, connected: false, health: 'unknown', lastSeen: null, latencyMs: null }
  ]
}

const REPORT: RecoverReport = {
  answered: [PEER_A, PEER_B],
  unanswered: [],
  manifests: [{ tenant: 'mastodon', version: 7, from: PEER_A }],
  tenantsRestored: 1,
  objectsRestored: 41,
  bytesRestored: 5 * 1024 * 1024,
  missing: [],
  peerErrors: [{ peer: PEER_B, reason: 'unreachable' }],
  durationMs: 2500
}

const STATUS: StatusResponse = {
  version: '0.1.0',
  peerId: SELF,
  addresses: { http: 'http://127.0.0.1:8080', admin: 'http://127.0.0.1:8081', swarm: [`/ip4/127.0.0.1/tcp/4001/p2p/${SELF}`] },
  uptimeSeconds: 12,
  objects: 3,
  blobs: 2,
  logicalBytes: 300,
  physicalBytes: 200,
  swarm: { connected: 2, trusted: 3, trustedHealthy: 1, private: true, cachedBlobs: 4, cachedBytes: 2048, heldForPeers: 9, receivedBlobs: 6, receivedBytes: 4096 },
  replication: { replicated: 5, 'under-replicated': 1, pending: 2 },
  retrieve: { local: 7, swarm: 3, origin: 2, failed: 1, originFetches: 2, originBytes: 5000, originWireBytes: 5400 },
  activitypub: {
    inbox: { received: 9, accepted: 6, refused: 3, busy: 0, notesFetched: 1, notesSkipped: 0 },
    deletions: { received: 4, applied: 3, refused: 1, fromPeers: 1, forwardedTo: 2, removedBlobs: 5 },
    prefetch: { offered: 6, queued: 5, fetched: 4, bytes: 4096, skipped: 1, failed: 1, dropped: 0 },
    relays: { accepted: 1, pending: 1, other: 0 }
  }
}

/** What the stand-in answers to POST /admin/v1/recover: chunks of body text, written with pauses. */
let recoverBody: { status: number, chunks: string[] } = { status: 200, chunks: [] }
/** The body of the last POST /admin/v1/recover. */
let recoverAsked = ''

function ndjson (events: RecoverEvent[]): string {
  return events.map(e => `${JSON.stringify(e)}\n`).join('')
}

async function handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
  if (req.headers.authorization !== `Bearer ${TOKEN}`) {
    res.writeHead(401, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: 'Unauthorized', message: 'bad token' } }))
    return
  }
  if (req.method === 'GET' && req.url === '/admin/v1/peers') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(PEERS))
  } else if (req.method === 'GET' && req.url === '/admin/v1/status') {
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(STATUS))
  } else if (req.method === 'POST' && req.url === '/admin/v1/recover') {
    recoverAsked = ''
    for await (const chunk of req) recoverAsked += (chunk as Buffer).toString()
    res.writeHead(recoverBody.status, { 'content-type': recoverBody.status === 200 ? 'application/x-ndjson' : 'application/json' })
    for (const chunk of recoverBody.chunks) {
      res.write(chunk)
      await sleep(20)
    }
    res.end()
  } else {
    res.writeHead(404).end()
  }
}

describe('swarm commands against a stand-in admin API', () => {
  let server: Server
  let env: Record<string, string>
  let baseUrl: string

  before(async () => {
    server = createServer((req, res) => { handle(req, res).catch(() => { res.destroy() }) })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    const { port } = server.address() as AddressInfo
    baseUrl = `http://127.0.0.1:${port}`
    const data = await tempDir()
    await writeFile(path.join(data, 'admin.token'), `${TOKEN}\n`, { mode: 0o600 })
    env = { FDN_DATA: data, FDN_ADMIN_LISTEN: `127.0.0.1:${port}` }
  })

  after(async () => {
    await new Promise(resolve => server.close(resolve))
  })

  it('fdn peers prints this node and a table of peers, trusted first; --json the answer as is', async () => {
    const text = await runCli(['peers'], env)
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, new RegExp(`peer ID: +${SELF}`))
    assert.ok(text.stdout.includes(`/ip4/127.0.0.1/tcp/4001/p2p/${SELF}`))
    const rows = text.stdout.split('\n')
    const header = rows.findIndex(line => line.startsWith('PEER ID'))
    assert.ok(header > 0, text.stdout)
    assert.match(rows[header + 1] ?? '', new RegExp(`^${PEER_A} +yes +no +unknown +- +never +-$`))
    assert.match(rows[header + 2] ?? '', new RegExp(`^${PEER_B} +no +yes +healthy +3 ms +\\d+s ago +/ip4/10\\.0\\.0\\.2/tcp/4001$`))
    assert.match(text.stdout, /1 of 2 peers connected; trusted: 0 of 1 healthy/)

    const json = await runCli(['peers', '--json'], env)
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual(JSON.parse(json.stdout), PEERS)
  })

  it('fdn status shows the swarm, replication, retrieve and ActivityPub counters', async () => {
    const text = await runCli(['status'], env)
    assert.equal(text.code, 0, text.stderr)
    for (const line of [
      /swarm: +\/ip4\/127\.0\.0\.1\/tcp\/4001\/p2p\//,
      /peers: +2 connected; trusted 1\/3 healthy/,
      /private: +yes/,
      /cache: +4 blobs, 2\.0 KiB/,
      /held: +9 blobs for peers/,
      /received: +6 blobs, 4\.0 KiB from peers/,
      /replication: +5 replicated, 1 under-replicated, 2 pending/,
      /retrieve: +7 local, 3 from the swarm, 2 from origins, 1 failed/,
      /origins: +2 downloads, 4\.9 KiB received/,
      /deletions: +4 received, 3 applied \(1 from peers\), 1 refused; 5 blobs freed/,
      /relays: +1 accepted, 1 pending$/m,
      /prefetch: +4 fetched \(4\.0 KiB\), 1 skipped, 0 dropped, 1 failed/
    ]) assert.match(text.stdout, line)
  })

  it('fdn recover reads NDJSON split anywhere, prints the report and exits 0 when nothing is missing', async () => {
    const body = ndjson([
      { type: 'progress', phase: 'manifests', done: 0, total: 1, bytes: 0 },
      { type: 'progress', phase: 'objects', done: 20, total: 41, bytes: 1024 },
      { type: 'report', report: REPORT }
    ])
    recoverBody = { status: 200, chunks: [body.slice(0, 7), body.slice(7, 100), body.slice(100, 101), body.slice(101)] }
    const text = await runCli(['recover'], env)
    assert.equal(text.code, 0, text.stderr)
    assert.match(text.stdout, /^Recovered 1 tenant, 41 objects, 5\.0 MiB in 2\.5 s\./)
    assert.match(text.stdout, new RegExp(`mastodon +version 7 +from ${PEER_A}`))
    assert.match(text.stdout, new RegExp(`peer errors \\(1\\):\\n +${PEER_B} +unreachable`))
    assert.equal(text.stderr, '')

    const json = await runCli(['recover', '--json'], env)
    assert.equal(json.code, 0, json.stderr)
    assert.deepEqual(JSON.parse(json.stdout), REPORT, 'only the report')
  })

  it('fdn recover exits 1 and says so on stderr when objects are missing', async () => {
    const missing = [{ tenant: 'mastodon', key: 'media/a.png', cid: 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy' as CidString, reason: 'no peer holds it' }]
    recoverBody = { status: 200, chunks: [ndjson([{ type: 'report', report: { ...REPORT, missing } }])] }
    const text = await runCli(['recover'], env)
    assert.equal(text.code, 1)
    assert.match(text.stdout, /missing \(1\):\n +mastodon\/media\/a\.png +bafkrei\S+ +no peer holds it/)
    assert.match(text.stderr, /^fdn: 1 object could not be recovered/)

    const json = await runCli(['recover', '--json'], env)
    assert.equal(json.code, 1)
    assert.deepEqual((JSON.parse(json.stdout) as RecoverReport).missing, missing)
    assert.match(json.stderr, /^fdn: 1 object could not be recovered/)
  })

  it('fdn recover asks the daemon to wait --wait for the trusted peers (30s by default), and refuses a bad duration', async () => {
    recoverBody = { status: 200, chunks: [ndjson([{ type: 'report', report: REPORT }])] }
    assert.equal((await runCli(['recover'], env)).code, 0)
    assert.deepEqual(JSON.parse(recoverAsked), { waitMs: 30_000 })
    assert.equal((await runCli(['recover', '--wait', '2m'], env)).code, 0)
    assert.deepEqual(JSON.parse(recoverAsked), { waitMs: 120_000 })
    recoverAsked = ''
    for (const bad of ['soon', '-1s', '2d']) {
      const refused = await runCli(['recover', '--wait', bad], env)
      assert.equal(refused.code, 2, bad)
      assert.match(refused.stderr, /^fdn: --wait: /, bad)
    }
    assert.equal(recoverAsked, '', 'nothing asked of the daemon')
  })

  it('fdn recover exits 1 when no trusted peer answered, naming the peers asked (--json: the report)', async () => {
    const report: RecoverReport = {
      ...REPORT,
      answered: [],
      unanswered: [{ peer: PEER_A, reason: 'no answer within the wait: connect ECONNREFUSED' }, { peer: PEER_B, reason: 'refused (untrusted): not a trusted peer' }],
      manifests: [],
      tenantsRestored: 0,
      objectsRestored: 0,
      bytesRestored: 0,
      peerErrors: []
    }
    recoverBody = { status: 200, chunks: [ndjson([{ type: 'report', report }])] }
    const text = await runCli(['recover', '--wait', '2s'], env)
    assert.equal(text.code, 1)
    assert.match(text.stderr, new RegExp(`^fdn: no trusted peer answered within 2s \\(asked ${PEER_A}, ${PEER_B}\\): nothing was recovered`))
    assert.match(text.stdout, new RegExp(`^trusted peers asked:\n +${PEER_A} +no answer within the wait: connect ECONNREFUSED\n +${PEER_B} +refused \\(untrusted\\)`))
    assert.doesNotMatch(text.stdout, /Recovered/)

    const json = await runCli(['recover', '--wait', '2s', '--json'], env)
    assert.equal(json.code, 1)
    assert.deepEqual(JSON.parse(json.stdout), report)
    assert.match(json.stderr, /^fdn: no trusted peer answered within 2s/)
  })

  it('fdn recover exits 1 when some trusted peers did not answer, naming them', async () => {
    const report: RecoverReport = { ...REPORT, answered: [PEER_A], unanswered: [{ peer: PEER_B, reason: 'no answer within the wait: timed out' }], peerErrors: [] }
    recoverBody = { status: 200, chunks: [ndjson([{ type: 'report', report }])] }
    const text = await runCli(['recover'], env)
    assert.equal(text.code, 1)
    assert.match(text.stdout, /^Recovered 1 tenant, 41 objects/)
    assert.match(text.stdout, new RegExp(`trusted peers that did not answer \\(1 of 2\\):\n +${PEER_B} +no answer within the wait: timed out`))
    assert.match(text.stderr, /^fdn: 1 of 2 trusted peers did not answer, so what only they hold was not recovered \(listed above\): run 'fdn recover' again once those peers are back\n$/)

    const json = await runCli(['recover', '--json'], env)
    assert.equal(json.code, 1)
    assert.deepEqual(JSON.parse(json.stdout), report)
    assert.match(json.stderr, /^fdn: 1 of 2 trusted peers did not answer/)
  })

  it('fdn recover reports a refusal, a stream without a report, an error line and a line that is not JSON', async () => {
    recoverBody = { status: 409, chunks: [JSON.stringify({ error: { code: 'NotEmpty', message: 'the node already holds tenants' } })] }
    const refused = await runCli(['recover'], env)
    assert.equal(refused.code, 1)
    assert.equal(refused.stderr, 'fdn: the node already holds tenants (NotEmpty)\n')

    recoverBody = { status: 200, chunks: [ndjson([{ type: 'progress', phase: 'manifests', done: 0, total: 1, bytes: 0 }])] }
    const cut = await runCli(['recover'], env)
    assert.equal(cut.code, 1)
    assert.match(cut.stderr, /^fdn: the daemon ended the recovery without a report/)

    recoverBody = { status: 200, chunks: [ndjson([{ type: 'error', error: { code: 'conflict', message: 'a recovery is running already' } }])] }
    const failed = await runCli(['recover'], env)
    assert.equal(failed.code, 1)
    assert.equal(failed.stderr, 'fdn: recovery failed: a recovery is running already\n')

    recoverBody = { status: 200, chunks: ['<html>\n'] }
    const garbage = await runCli(['recover'], env)
    assert.equal(garbage.code, 1)
    assert.match(garbage.stderr, /^fdn: the daemon sent a line that is not JSON: <html>/)
  })

  it('requestLines yields each line as it comes and says when there is no daemon', async () => {
    recoverBody = { status: 200, chunks: ['{"a":1}\n{"b"', ':2}\n\n', '{"c":3}'] }
    const client = new AdminClient(baseUrl, TOKEN)
    const lines: unknown[] = []
    for await (const line of client.requestLines('/admin/v1/recover', { method: 'POST' })) lines.push(line)
    assert.deepEqual(lines, [{ a: 1 }, { b: 2 }, { c: 3 }])

    const nobody = new AdminClient('http://127.0.0.1:1', TOKEN)
    await assert.rejects(async () => { for await (const line of nobody.requestLines('/admin/v1/recover', { method: 'POST' })) assert.fail(`unexpected ${JSON.stringify(line)}`) },
      (err: unknown) => err instanceof CliError && err.exitCode === 3 && /no fdn daemon answers/.test(err.message))
  })

  it('every swarm command documents itself', async () => {
    for (const command of ['peers', 'recover']) {
      const help = await runCli([command, '--help'])
      assert.equal(help.code, 0)
      assert.match(help.stdout, /--json/)
    }
    const recover = await runCli(['recover', '--help'])
    assert.match(recover.stdout, /identity\.key/)
    assert.match(recover.stdout, /FDN_TRUSTED_PEERS, FDN_SWARM_KEY and\s+FDN_BOOTSTRAP/)
  })
})
