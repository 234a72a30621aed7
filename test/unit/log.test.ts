// The log's redaction of secrets (on the JSON text of each line) and its
// pretty format: what is taken out, what is left alone, and that a line stays JSON.
import { describe, it } from 'node:test'
import assert from 'node:assert/strict'
import { Writable } from 'node:stream'
import { pino } from 'pino'
import { prettyLine, prettyStream } from '../../node/log-pretty.ts'
import { redactSecrets } from '../../node/log-redact.ts'

const SIGNATURE = 'f3a1c9e8b2d74a6051e9c3b8a7d6e5f40123456789abcdef0123456789abcdef'
const CREDENTIAL = 'AKIAFDNTESTKEY123456/20250601/us-east-1/s3/aws4_request'
const TOKEN = 'Xk3v9QmT7bR2nL8pW4yZ6cJ1hD5fG0sA'

/** A line as pino writes it: the object through JSON.stringify, then the redaction. */
function logged (event: Record<string, unknown>): string {
  const line = redactSecrets(JSON.stringify(event))
  JSON.parse(line) // still one JSON object
  return line
}

describe('redactSecrets', () => {
  it('takes the signature and credentials out of a presigned URL, SigV4 and SigV2, and leaves the rest of the URL', () => {
    const url = `/media/cat.png?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${encodeURIComponent(CREDENTIAL)}&X-Amz-Date=20250601T120000Z&X-Amz-Expires=604800&X-Amz-Security-Token=${TOKEN}&X-Amz-SignedHeaders=host&X-Amz-Signature=${SIGNATURE}&x-id=GetObject`
    const line = logged({ msg: 'request', url })
    for (const secret of [SIGNATURE, TOKEN, encodeURIComponent(CREDENTIAL), 'AKIAFDNTESTKEY123456']) assert.ok(!line.includes(secret), `${secret} in ${line}`)
    assert.match(line, /X-Amz-Signature=\[redacted\]&x-id=GetObject/)
    assert.match(line, /X-Amz-Date=20250601T120000Z&X-Amz-Expires=604800/)
    assert.match(line, /\/media\/cat\.png\?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=\[redacted\]/)
    const v2 = logged({ url: `/b/k?AWSAccessKeyId=AKIAFDNTESTKEY123456&Expires=1750000000&Signature=${encodeURIComponent('n0tR3al/Sig+Value=')}` })
    assert.equal(JSON.parse(v2).url, '/b/k?AWSAccessKeyId=[redacted]&Expires=1750000000&Signature=[redacted]')
    assert.match(logged({ url: `/b/k?x-amz-signature=${SIGNATURE}` }), /x-amz-signature=\[redacted\]"/)
  })

  it('takes credentials and signatures out of Authorization headers and HTTP signatures, in strings and in header objects', () => {
    const sigv4 = `AWS4-HMAC-SHA256 Credential=${CREDENTIAL}, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=${SIGNATURE}`
    const rsa = Buffer.alloc(256, 7).toString('base64')
    const cavage = `keyId="https://example.social/users/alice#main-key",algorithm="rsa-sha256",headers="(request-target) host date digest",signature="${rsa}"`
    const rfc9421 = `sig1=:${Buffer.alloc(64, 9).toString('base64')}:`
    const inText = logged({ msg: `refused ${sigv4}; ${cavage}; Bearer ${TOKEN}; ${rfc9421}` })
    for (const secret of [SIGNATURE, CREDENTIAL, rsa, TOKEN, Buffer.alloc(64, 9).toString('base64')]) assert.ok(!inText.includes(secret), `${secret} in ${inText}`)
    const message = JSON.parse(inText).msg as string
    assert.ok(message.includes('Credential=[redacted], SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=[redacted]'), message)
    assert.ok(message.includes('headers="(request-target) host date digest",signature=[redacted]'), message)
    assert.ok(message.includes('Bearer [redacted]; sig1=:[redacted]:'), message)

    const headers = logged({ req: { headers: { host: 'fdn.example', Authorization: `Bearer ${TOKEN}`, signature: cavage, 'signature-input': 'sig1=("@method");keyid="k"', 'x-amz-security-token': TOKEN, cookie: 'a=b' } } })
    assert.deepEqual(JSON.parse(headers).req.headers, { host: 'fdn.example', Authorization: '[redacted]', signature: '[redacted]', 'signature-input': '[redacted]', 'x-amz-security-token': '[redacted]', cookie: '[redacted]' })
    assert.deepEqual(JSON.parse(logged({ tenant: { name: 't', secretAccessKey: 'sEcReT/with"quote', token: TOKEN } })).tenant, { name: 't', secretAccessKey: '[redacted]', token: '[redacted]' })
  })

  it('leaves lines without secrets as they are', () => {
    const lines = [
      { msg: 'admin API: missing or wrong bearer token (see $FDN_DATA/admin.token)' },
      { msg: 'request', method: 'GET', url: '/ipfs/bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku?format=raw', status: 200, ms: 3 },
      { msg: 'inbox: refused a signature', code: 'signature_mismatch', reason: 'the signature does not match the key https://example.social/users/alice#main-key' },
      { msg: 'x', note: 'a=:b:', equation: 'Signature= nothing' }
    ]
    for (const event of lines) assert.equal(logged(event), JSON.stringify(event))
  })

  it('is one hook of the logger: a child logger (fastify request logs) is redacted too', () => {
    let out = ''
    const sink = new Writable({ write (chunk: Buffer, _encoding, done) { out += chunk.toString(); done() } })
    const log = pino({ hooks: { streamWrite: redactSecrets } }, sink)
    log.child({ reqId: 'req-1' }).info({ url: `/b/k?X-Amz-Signature=${SIGNATURE}` }, 'request')
    assert.ok(out.includes('X-Amz-Signature=[redacted]') && !out.includes(SIGNATURE), out)
  })
})

describe('prettyLine', () => {
  const time = new Date(2025, 5, 1, 14, 3, 22, 123).getTime() // local time

  it('writes local time, level, message and fields as key=value on one line', () => {
    const line = prettyLine(JSON.stringify({ level: 30, time, pid: 1, hostname: 'h', service: 'fdn', reqId: 'req-7', msg: 'request', method: 'GET', url: '/b/k?a=1', status: 200, ms: 3, tags: ['x'] }), false)
    assert.equal(line, '2025-06-01 14:03:22.123 INFO  request reqId=req-7 method=GET url="/b/k?a=1" status=200 ms=3 tags=["x"]\n')
  })

  it('shows an error by its message, with the stack below only for ERROR and FATAL', () => {
    const err = { type: 'TypeError', message: 'boom', stack: 'TypeError: boom\n    at f (file.ts:1:1)\n    at g (file.ts:2:2)' }
    assert.equal(prettyLine(JSON.stringify({ level: 40, time, msg: 'odd', err }), false), '2025-06-01 14:03:22.123 WARN  odd err="TypeError: boom"\n')
    assert.equal(prettyLine(JSON.stringify({ level: 50, time, msg: 'failed', err }), false),
      '2025-06-01 14:03:22.123 ERROR failed err="TypeError: boom"\n    at f (file.ts:1:1)\n    at g (file.ts:2:2)\n')
  })

  it('colours level and keys only when asked, and passes a line that is not JSON through', () => {
    assert.match(prettyLine(JSON.stringify({ level: 40, time, msg: 'w', a: 1 }), true), /\u001b\[33mWARN \u001b\[39m w \u001b\[90ma\u001b\[39m=1/)
    assert.equal(prettyLine('not json', false), 'not json\n')
  })

  it('is a pino destination', () => {
    const lines: string[] = []
    const log = pino({ base: { service: 'fdn' }, hooks: { streamWrite: redactSecrets } }, prettyStream({ write: (line) => lines.push(line) }, { colors: false }))
    log.warn({ variable: 'FDN_LOG_LEVL', url: `/x?X-Amz-Signature=${SIGNATURE}` }, 'unknown FDN_* environment variable ignored')
    assert.equal(lines.length, 1)
    assert.match(lines[0] ?? '', /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} WARN  unknown FDN_\* environment variable ignored variable=FDN_LOG_LEVL url="\/x\?X-Amz-Signature=\[redacted\]"\n$/)
  })
})
