// The inbox fetches the key a signature names for anyone who POSTs: its answers must not tell the
// sender what the node's network said about the key's host (what a name resolves to, that an address
// is loopback or private), or the inbox maps internal names for whoever asks. The node's log keeps
// the reason. The retrieve API answers tenants in the same terms.
import { after, before, describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { createHash } from 'node:crypto'
import { startDaemon } from '../helpers/daemon.ts'
import type { RunningDaemon } from '../helpers/daemon.ts'
import { errorCode, retrieve } from '../helpers/api.ts'
import { createTenant } from '../helpers/s3.ts'
import type { Tenant } from '../helpers/s3.ts'

/** Words of a resolver's or an address policy's verdict, which must stay in the node. */
const NETWORK_FACTS = /resolves|127\.0\.0\.1|::1|10\.1\.2\.3|loopback|private|reserved|ENOTFOUND|EAI_/i

/** keyIds on hosts the SSRF guard refuses, each for another reason. */
const INTERNAL_KEY_IDS = ['http://localhost/actor#main-key', 'http://127.0.0.1/actor#main-key', 'http://[::1]/actor#main-key', 'http://10.1.2.3/actor#main-key']

async function postSigned (daemon: RunningDaemon, keyId: string): Promise<{ status: number, code: string, message: string }> {
  const body = JSON.stringify({ type: 'Delete', actor: keyId.replace(/#.*/, ''), object: `${keyId.replace(/#.*/, '')}/statuses/1` })
  const response = await fetch(`${daemon.http}/inbox`, {
    method: 'POST',
    headers: {
      'content-type': 'application/activity+json',
      date: new Date().toUTCString(),
      digest: `SHA-256=${createHash('sha256').update(body).digest('base64')}`,
      signature: `keyId="${keyId}",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="AAAA"`
    },
    body
  })
  const answer = await response.json() as { error: { code: string, message: string } }
  return { status: response.status, ...answer.error }
}

describe('what the inbox and the retrieve API tell about the node\'s network', () => {
  let daemon: RunningDaemon
  let tenant: Tenant

  before(async () => {
    daemon = await startDaemon({ env: { FDN_LOG_LEVEL: 'info' } })
    tenant = await createTenant(daemon, 'instance')
  })
  after(async () => { await daemon?.stop() })

  it('an inbox signature naming a key on an internal host gets a generic 401; the log has the reason', async () => {
    const messages = new Set<string>()
    for (const keyId of INTERNAL_KEY_IDS) {
      const answer = await postSigned(daemon, keyId)
      assert.equal(answer.status, 401, keyId)
      assert.equal(answer.code, 'key_unavailable', keyId)
      // the URLs are the sender's own words: the rest must not add to them
      const said = answer.message.replaceAll(keyId.replace(/#.*/, ''), '{actor}')
      assert.doesNotMatch(said, NETWORK_FACTS, `${keyId}: ${answer.message}`)
      assert.match(said, /could not be fetched/, keyId)
      messages.add(said)
    }
    assert.equal(messages.size, 1, `one answer whatever the host: ${[...messages].join(' | ')}`)
    const logged = daemon.output().split('\n').filter(line => line.includes('inbox: refused a signature') && line.includes('"level":30'))
    assert.ok(logged.some(line => /localhost resolves to/.test(line)), `the reason is logged at info:\n${logged.join('\n')}`)
  })

  it('a tenant asking to retrieve from a name that resolves to an internal address is refused without the address', async () => {
    const answer = await retrieve(daemon.http, tenant, { url: 'http://localhost/cat.png' })
    assert.equal(answer.status, 403, answer.text)
    assert.equal(errorCode(answer), 'address_not_allowed')
    assert.doesNotMatch(answer.text, /127\.0\.0\.1|::1|resolves/, answer.text)
    assert.match(daemon.output(), /localhost resolves to/, 'the log has the address')
  })
})
