/**
 * Fediverse stand-ins on loopback for the ActivityPub tests.
 *
 * - An actor server: Mastodon-shaped `Person` actors that serve their own
 *   keys and sign what they deliver with Fedify, an ActivityPub library that
 *   shares no code with fdn, so fdn's inbox is tested against signatures it
 *   did not produce itself.
 * - A relay that subscribes followers and forwards activities the way
 *   Mastodon-style relays (pub-relay, Activity-Relay: the activity unchanged)
 *   and LitePub-style relays (Pleroma's relay: an `Announce` by the relay)
 *   do, as FEP-ae0c describes them. It checks the signatures of what it is
 *   sent with Fedify's verifier, so fdn's outgoing signatures are tested too.
 *
 * Keys are RSA 2048 (what Mastodon generates; Fedify's own generator makes
 * 4096-bit keys, too slow to create per test) and Ed25519.
 */
import { KeyObject, createHash, randomUUID } from 'node:crypto'
import type { webcrypto } from 'node:crypto'
import { createServer, request as httpRequest } from 'node:http'
import type { ClientRequest, IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { readFileSync } from 'node:fs'
import { generateCryptoKeyPair, signJsonLd, signRequest, verifyRequestDetailed } from '@fedify/fedify/sig'
import type { SignRequestOptions } from '@fedify/fedify/sig'
import { RFC9421SignatureBaseFactory } from '@misskey-dev/node-http-message-signatures'
import { base58btc } from 'multiformats/bases/base58'

export const AS_PUBLIC = 'https://www.w3.org/ns/activitystreams#Public'
export const ACTIVITY_JSON = 'application/activity+json'
const AS_CONTEXT = 'https://www.w3.org/ns/activitystreams'
const SECURITY_CONTEXT = 'https://w3id.org/security/v1'
const DATA_INTEGRITY_CONTEXT = 'https://w3id.org/security/data-integrity/v1'
/** Bodies above this are refused by the test servers (fdn never sends big activities). */
const MAX_BODY = 1024 * 1024
/** No exchange with a test server or with fdn should take longer. */
const REQUEST_TIMEOUT_MS = 10_000

export type JsonObject = Record<string, unknown>

/** What Fedify's verifier concluded about a request's signature. */
export type Verification =
  | { keyId: string, owner: string | null }
  | { error: string }

export interface ReceivedActivity {
  path: string
  /** The parsed body (an empty object when it was not a JSON object). */
  activity: JsonObject
  body: string
  /** Request headers, names in lower case. */
  headers: Record<string, string>
  /** The signature as Fedify's verifier sees it (the key is fetched from its keyId). */
  verification: Verification
}

export interface LoggedRequest {
  method: string
  /** Path and query. */
  path: string
  headers: Record<string, string>
}

export interface ActorOptions {
  /** `publicKey.owner` (and the standalone key's `owner`) set to this instead of the actor id. */
  keyOwner?: string
  /** `standalone`: the RSA keyId is `{url}/keys/{name}`, served there as a `Key` document. */
  keyDocument?: 'actor' | 'standalone'
  /** The RSA keyId signed with and published as `publicKey.id` (serve it yourself if it is not one of ours). */
  keyIdOverride?: string
}

export interface DeliverOptions {
  /** Default `draft-cavage`. */
  spec?: 'draft-cavage' | 'rfc9421'
  /** Default `rsa`; `ed25519` only with `rfc9421` (signed by hand: Fedify signs RSA only). */
  key?: 'rsa' | 'ed25519'
  /** draft-cavage `algorithm` parameter; `hs2019` is the same RSA-SHA256 signature under the newer name. */
  cavageAlgorithm?: 'rsa-sha256' | 'hs2019'
  /**
   * After signing: `body` appends a space to the body (same JSON, digest no
   * longer matches); `digest` does the same and recomputes the digest header
   * to match (the signature over it no longer does); `signature` flips a bit
   * of the signature.
   */
  tamper?: 'body' | 'digest' | 'signature'
  /** Sign as of this time (Date header and RFC 9421 `created`). */
  date?: Date
  /** No Signature header at all (the Date header is still sent). */
  unsigned?: boolean
  /** Sign with this actor's key and keyId instead (a forgery when the activity's actor is another). */
  signAs?: TestActor
  /** Send these bytes instead of `JSON.stringify(activity)`. */
  rawBody?: string
}

export interface TestActor {
  id: string
  name: string
  keyId: string
  ed25519KeyId: string
  inbox: string
  /** A status URI of this actor: `{id}/statuses/{n}`. */
  statusUri: (n: number | string) => string
  /** The actor document as served (reflects `rotateKey`). */
  document: () => JsonObject
  /** Replaces the RSA key: the document serves the new one, later deliveries are signed with it. */
  rotateKey: () => Promise<void>
  /** A `Create` of a public `Note` with these attachments, as Mastodon sends it. */
  create: (note: { id: string, content?: string, attachments: Array<{ url: string, mediaType: string, digestMultibase?: string, name?: string }> }) => JsonObject
  /**
   * A `Delete` as Mastodon sends it: of a status (a `Tombstone` with its id,
   * or the bare URI with `tombstone: false`), or with `objectId === id`, of the actor.
   */
  delete: (objectId: string, options?: { tombstone?: boolean }) => JsonObject
  /** Signs and POSTs an activity to an inbox URL. */
  deliver: (inbox: string, activity: object, options?: DeliverOptions) => Promise<{ status: number, body: string }>
  /** Adds a Linked Data signature (RsaSignature2017, made by Fedify's signJsonLd) as Mastodon does to the public activities relays pass on. */
  ldSign: (activity: JsonObject) => Promise<JsonObject>
}

export interface ActorServer {
  /** `http://127.0.0.1:<port>` */
  url: string
  addActor: (name: string, options?: ActorOptions) => Promise<TestActor>
  /** Activities POSTed to any inbox of this server, in order. */
  received: ReceivedActivity[]
  /** Every request this server answered, in order (to count key fetches…). */
  requests: LoggedRequest[]
  /** Serves a JSON document at a path (query included if any), before actors' own routes: a status, a key, a 410 for a deleted actor. */
  serve: (path: string, body: unknown, status?: number) => void
  close: () => Promise<void>
}

type KeyPair = webcrypto.CryptoKeyPair

interface SigningIdentity {
  keyId: string
  rsa: KeyPair
  ed25519KeyId?: string
  ed25519?: KeyPair
}

// ---------------------------------------------------------------------------
// HTTP plumbing

interface LoopbackServer {
  url: string
  close: () => Promise<void>
}

/** A node:http server on 127.0.0.1, port 0, whose close() also ends open sockets. */
async function listenLoopback (handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>): Promise<LoopbackServer> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' })
      res.end(String(err))
    })
  })
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => { sockets.delete(socket) })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>(resolve => server.close(() => { resolve() }))
    }
  }
}

async function readBody (req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_BODY) throw new Error('body too large')
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

function headerRecord (req: IncomingMessage): Record<string, string> {
  const headers: Record<string, string> = {}
  for (const [name, value] of Object.entries(req.headers)) {
    if (value != null) headers[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return headers
}

function sendJson (res: ServerResponse, status: number, body: unknown, contentType = `${ACTIVITY_JSON}; charset=utf-8`): void {
  const bytes = Buffer.from(JSON.stringify(body))
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(bytes.length) })
  res.end(bytes)
}

function asObject (value: unknown): JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as JsonObject : {}
}

function parseObject (body: Buffer): JsonObject | undefined {
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'))
    return typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) ? parsed as JsonObject : undefined
  } catch {
    return undefined
  }
}

/** The id of an object or link given inline or by URI. */
function idOf (value: unknown): string | undefined {
  if (typeof value === 'string') return value
  const id = asObject(value).id
  return typeof id === 'string' ? id : undefined
}

/**
 * One request with node:http and no connection reuse (nothing stays open
 * after the answer); `inflight` lets an owner abort it on close. Network
 * errors reject.
 */
async function exchange (url: string, init: { method: string, headers: Record<string, string>, body?: Buffer }, inflight?: Set<ClientRequest>): Promise<{ status: number, body: string }> {
  return await new Promise((resolve, reject) => {
    const req = httpRequest(url, { method: init.method, headers: init.headers, agent: false, timeout: REQUEST_TIMEOUT_MS }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (chunk: Buffer) => chunks.push(chunk))
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }) })
      res.on('error', reject)
    })
    inflight?.add(req)
    req.on('close', () => inflight?.delete(req))
    req.on('timeout', () => req.destroy(new Error(`no answer from ${url} within ${REQUEST_TIMEOUT_MS} ms`)))
    req.on('error', reject)
    req.end(init.body)
  })
}

/** The User-Agent of the helpers' own GETs, to tell them apart from fdn's in `requests`. */
export const HELPER_USER_AGENT = 'fdn-test-fediverse/1.0'

/** GETs an ActivityPub document the way servers fetch actors and keys. */
async function fetchDocument (url: string, inflight?: Set<ClientRequest>): Promise<JsonObject> {
  const headers = { accept: `${ACTIVITY_JSON}, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`, 'user-agent': HELPER_USER_AGENT }
  const answer = await exchange(url, { method: 'GET', headers }, inflight)
  if (answer.status !== 200) throw new Error(`GET ${url}: ${answer.status}`)
  const document = parseObject(Buffer.from(answer.body))
  if (document == null) throw new Error(`GET ${url}: not a JSON object`)
  return document
}

type DocumentLoader = (url: string) => Promise<{ contextUrl: null, document: unknown, documentUrl: string }>

/**
 * A Fedify document loader for loopback servers (its default loader refuses
 * private addresses). JSON-LD contexts still come from Fedify's preloaded
 * copies (activitystreams, security/v1, data-integrity/v1, multikey/v1…), so
 * nothing leaves the machine; a document using another context fails to parse.
 */
function loopbackLoader (inflight?: Set<ClientRequest>): DocumentLoader {
  return async (url) => ({ contextUrl: null, document: await fetchDocument(url, inflight), documentUrl: url })
}

export const loopbackDocumentLoader: DocumentLoader = loopbackLoader()

/** A fetch `Request` for a request a node:http server received, as Fedify's verifier takes it. */
export function toFetchRequest (req: IncomingMessage, body: Buffer): Request {
  const headers = new Headers()
  for (const [name, value] of Object.entries(headerRecord(req))) headers.set(name, value)
  const url = `http://${req.headers.host ?? '127.0.0.1'}${req.url ?? '/'}`
  const method = req.method ?? 'GET'
  return new Request(url, { method, headers, body: method === 'GET' || method === 'HEAD' ? undefined : new Uint8Array(body) })
}

/**
 * Checks a request's HTTP signature (draft-cavage, or RFC 9421 when
 * Signature-Input is present) with Fedify, fetching the key from its keyId;
 * the fetches join `inflight` so that their owner can abort them on close.
 */
export async function verifyWithFedify (request: Request, inflight?: Set<ClientRequest>): Promise<Verification> {
  const spec = request.headers.has('signature-input') ? 'rfc9421' : 'draft-cavage-http-signatures-12'
  const result = await verifyRequestDetailed(request, { spec, documentLoader: loopbackLoader(inflight) })
  if (result.verified) return { keyId: result.key.id?.href ?? '', owner: result.key.ownerId?.href ?? null }
  const reason = result.reason
  return { error: reason.type === 'keyFetchError' ? `keyFetchError ${reason.keyId.href}` : reason.type }
}

// ---------------------------------------------------------------------------
// Keys and signing

async function rsaKeyPair (): Promise<KeyPair> {
  return await crypto.subtle.generateKey({ name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['sign', 'verify'])
}

function spkiPem (key: webcrypto.CryptoKey): string {
  return KeyObject.from(key).export({ type: 'spki', format: 'pem' }).toString()
}

/** FEP-521a `publicKeyMultibase`: base58btc of the ed25519-pub multicodec (0xed 0x01) and the raw key. */
async function ed25519Multibase (key: webcrypto.CryptoKey): Promise<string> {
  const raw = new Uint8Array(await crypto.subtle.exportKey('raw', key))
  return base58btc.encode(Uint8Array.from([0xed, 0x01, ...raw]))
}

function sha256Base64 (bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('base64')
}

type Instant = NonNullable<SignRequestOptions['currentTime']>

/**
 * Fedify takes the signing time as a Temporal.Instant, which Node 24 lacks;
 * its signer reads only these two members of it.
 */
function instantOf (date: Date): Instant {
  const instant = { epochMilliseconds: date.getTime(), toString: () => date.toISOString() }
  return instant as unknown as Instant
}

interface SignedMessage {
  headers: Record<string, string>
  body: Buffer
}

/** Signs a POST of `body` to `url` (all headers present are covered, as Fedify does). */
async function signPost (url: string, body: Buffer, identity: SigningIdentity, options: DeliverOptions = {}): Promise<SignedMessage> {
  const spec = options.spec ?? 'draft-cavage'
  const key = options.key ?? 'rsa'
  const date = options.date ?? new Date()
  const headers = new Headers({ 'content-type': ACTIVITY_JSON, date: date.toUTCString() })
  if (options.unsigned === true) return { headers: Object.fromEntries(headers), body }
  let signed: Headers
  if (key === 'ed25519') {
    if (spec !== 'rfc9421') throw new TypeError('ed25519 signatures are sent with RFC 9421 only')
    signed = await signRfc9421Ed25519(new URL(url), headers, body, identity, date)
  } else {
    const request = new Request(url, { method: 'POST', headers, body: new Uint8Array(body) })
    const arrayBuffer = body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength) as ArrayBuffer
    signed = (await signRequest(request, identity.rsa.privateKey, new URL(identity.keyId), {
      spec: spec === 'rfc9421' ? 'rfc9421' : 'draft-cavage-http-signatures-12',
      currentTime: instantOf(date),
      body: arrayBuffer
    })).headers
    if (spec === 'draft-cavage' && options.cavageAlgorithm === 'hs2019') {
      signed.set('signature', (signed.get('signature') ?? '').replace('algorithm="rsa-sha256"', 'algorithm="hs2019"'))
    }
  }
  return tamper({ headers: Object.fromEntries(signed), body }, options.tamper)
}

/**
 * RFC 9421 with an Ed25519 key, which Fedify cannot sign: the signature base
 * is built by Misskey's library from the same components Fedify covers.
 */
async function signRfc9421Ed25519 (url: URL, headers: Headers, body: Buffer, identity: SigningIdentity, date: Date): Promise<Headers> {
  if (identity.ed25519 == null || identity.ed25519KeyId == null) throw new TypeError('this identity has no Ed25519 key')
  const signed = new Headers(headers)
  signed.set('host', url.host)
  signed.set('content-digest', `sha-256=:${sha256Base64(body)}:`)
  const components = ['@method', '@target-uri', '@authority', 'host', 'date', 'content-digest'].map(name => `"${name}"`).join(' ')
  const created = Math.floor(date.getTime() / 1000)
  signed.set('signature-input', `sig1=(${components});created=${created};keyid="${identity.ed25519KeyId}";alg="ed25519"`)
  const base = new RFC9421SignatureBaseFactory({ method: 'POST', url: url.href, headers: Object.fromEntries(signed) }).generate('sig1')
  const signature = await crypto.subtle.sign('Ed25519', identity.ed25519.privateKey, new TextEncoder().encode(base))
  signed.set('signature', `sig1=:${Buffer.from(signature).toString('base64')}:`)
  return signed
}

function tamper (message: SignedMessage, how: DeliverOptions['tamper']): SignedMessage {
  if (how == null) return message
  const headers = { ...message.headers }
  if (how === 'signature') {
    const flip = (encoded: string): string => {
      const bytes = Buffer.from(encoded, 'base64')
      bytes[0] ^= 1
      return bytes.toString('base64')
    }
    headers.signature = (headers.signature ?? '')
      .replace(/signature="([^"]+)"/, (_, value: string) => `signature="${flip(value)}"`)
      .replace(/=:([^:]+):/, (_, value: string) => `=:${flip(value)}:`)
    return { headers, body: message.body }
  }
  const body = Buffer.concat([message.body, Buffer.from(' ')])
  if (how === 'digest') {
    if (headers.digest != null) headers.digest = `SHA-256=${sha256Base64(body)}`
    if (headers['content-digest'] != null) headers['content-digest'] = `sha-256=:${sha256Base64(body)}:`
  }
  return { headers, body }
}

async function post (url: string, message: SignedMessage, inflight?: Set<ClientRequest>): Promise<{ status: number, body: string }> {
  const headers = { ...message.headers, 'content-length': String(message.body.length) }
  return await exchange(url, { method: 'POST', headers, body: message.body }, inflight)
}

// ---------------------------------------------------------------------------
// Actor server

interface ActorState {
  name: string
  id: string
  keyId: string
  ed25519KeyId: string
  options: ActorOptions
  rsa: KeyPair
  ed25519: KeyPair
  ed25519Multibase: string
  published: string
}

function actorDocument (baseUrl: string, actor: ActorState): JsonObject {
  return {
    '@context': [AS_CONTEXT, SECURITY_CONTEXT, DATA_INTEGRITY_CONTEXT, {
      manuallyApprovesFollowers: 'as:manuallyApprovesFollowers',
      toot: 'http://joinmastodon.org/ns#',
      discoverable: 'toot:discoverable'
    }],
    id: actor.id,
    type: 'Person',
    following: `${actor.id}/following`,
    followers: `${actor.id}/followers`,
    inbox: `${actor.id}/inbox`,
    outbox: `${actor.id}/outbox`,
    preferredUsername: actor.name,
    name: actor.name,
    summary: '',
    url: `${baseUrl}/@${actor.name}`,
    manuallyApprovesFollowers: false,
    discoverable: true,
    published: actor.published,
    publicKey: { id: actor.keyId, owner: actor.options.keyOwner ?? actor.id, publicKeyPem: spkiPem(actor.rsa.publicKey) },
    assertionMethod: [{ id: actor.ed25519KeyId, type: 'Multikey', controller: actor.id, publicKeyMultibase: actor.ed25519Multibase }],
    endpoints: { sharedInbox: `${baseUrl}/inbox` }
  }
}

function keyDocument (actor: ActorState): JsonObject {
  return {
    '@context': [AS_CONTEXT, SECURITY_CONTEXT],
    id: actor.keyId,
    // `CryptographicKey` (security/v1's other name for sec:Key): Fedify's parser refuses the short `Key`
    type: 'CryptographicKey',
    owner: actor.options.keyOwner ?? actor.id,
    publicKeyPem: spkiPem(actor.rsa.publicKey)
  }
}

function createActivity (actor: ActorState, note: Parameters<TestActor['create']>[0]): JsonObject {
  const published = new Date().toISOString()
  const followers = `${actor.id}/followers`
  return {
    '@context': [AS_CONTEXT, {
      sensitive: 'as:sensitive',
      toot: 'http://joinmastodon.org/ns#',
      blurhash: 'toot:blurhash',
      digestMultibase: 'https://w3id.org/security#digestMultibase'
    }],
    id: `${note.id}/activity`,
    type: 'Create',
    actor: actor.id,
    published,
    to: [AS_PUBLIC],
    cc: [followers],
    object: {
      id: note.id,
      type: 'Note',
      summary: null,
      inReplyTo: null,
      published,
      url: note.id,
      attributedTo: actor.id,
      to: [AS_PUBLIC],
      cc: [followers],
      sensitive: false,
      content: note.content ?? '<p>a post with media</p>',
      attachment: note.attachments.map(attachment => ({
        type: 'Document',
        mediaType: attachment.mediaType,
        url: attachment.url,
        name: attachment.name ?? null,
        ...(attachment.digestMultibase != null ? { digestMultibase: attachment.digestMultibase } : {})
      })),
      tag: []
    }
  }
}

function deleteActivity (actor: ActorState, objectId: string, tombstone: boolean): JsonObject {
  if (objectId === actor.id) {
    return { '@context': [AS_CONTEXT, SECURITY_CONTEXT], id: `${actor.id}#delete`, type: 'Delete', actor: actor.id, to: [AS_PUBLIC], object: actor.id }
  }
  return {
    '@context': [AS_CONTEXT, { ostatus: 'http://ostatus.org#', atomUri: 'ostatus:atomUri' }],
    id: `${objectId}#delete`,
    type: 'Delete',
    actor: actor.id,
    to: [AS_PUBLIC],
    object: tombstone ? { id: objectId, type: 'Tombstone', atomUri: objectId } : objectId
  }
}

/** The signing identity behind each TestActor, for `signAs` across actor servers. */
const identities = new WeakMap<TestActor, () => SigningIdentity>()

/** Starts an actor server on 127.0.0.1 (no actors until `addActor`). */
export async function startActorServer (): Promise<ActorServer> {
  const actors = new Map<string, ActorState>()
  const served = new Map<string, { body: unknown, status: number }>()
  const received: ReceivedActivity[] = []
  const requests: LoggedRequest[] = []
  const inflight = new Set<ClientRequest>()
  let baseUrl = ''

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = req.url ?? '/'
    const pathname = new URL(path, 'http://x').pathname
    requests.push({ method: req.method ?? 'GET', path, headers: headerRecord(req) })
    if (req.method === 'POST') {
      const inboxOf = /^\/users\/([^/]+)\/inbox$/.exec(pathname)
      if (pathname !== '/inbox' && (inboxOf == null || !actors.has(inboxOf[1]))) return sendJson(res, 404, { error: 'no such inbox' })
      const body = await readBody(req)
      const verification = await verifyWithFedify(toFetchRequest(req, body), inflight)
      received.push({ path, activity: parseObject(body) ?? {}, body: body.toString('utf8'), headers: headerRecord(req), verification })
      res.writeHead(202).end()
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendJson(res, 405, { error: 'method not allowed' })
    const document = served.get(path) ?? served.get(pathname)
    if (document != null) return sendJson(res, document.status, document.body)
    const actorOf = /^\/users\/([^/]+)$/.exec(pathname)
    const actor = actorOf != null ? actors.get(actorOf[1]) : undefined
    if (actor != null) return sendJson(res, 200, actorDocument(baseUrl, actor))
    const keyOf = /^\/keys\/([^/]+)$/.exec(pathname)
    const keyOwner = keyOf != null ? actors.get(keyOf[1]) : undefined
    if (keyOwner?.options.keyDocument === 'standalone') return sendJson(res, 200, keyDocument(keyOwner))
    sendJson(res, 404, { error: 'not found' })
  }

  const server = await listenLoopback(handle)
  baseUrl = server.url

  const addActor = async (name: string, options: ActorOptions = {}): Promise<TestActor> => {
    if (actors.has(name)) throw new Error(`actor ${name} exists already`)
    const id = `${baseUrl}/users/${name}`
    const ed25519 = await generateCryptoKeyPair('Ed25519')
    const state: ActorState = {
      name,
      id,
      keyId: options.keyIdOverride ?? (options.keyDocument === 'standalone' ? `${baseUrl}/keys/${name}` : `${id}#main-key`),
      ed25519KeyId: `${id}#ed25519-key`,
      options,
      rsa: await rsaKeyPair(),
      ed25519,
      ed25519Multibase: await ed25519Multibase(ed25519.publicKey),
      published: new Date().toISOString()
    }
    actors.set(name, state)
    const identity = (): SigningIdentity => ({ keyId: state.keyId, rsa: state.rsa, ed25519KeyId: state.ed25519KeyId, ed25519: state.ed25519 })
    const testActor: TestActor = {
      id,
      name,
      keyId: state.keyId,
      ed25519KeyId: state.ed25519KeyId,
      inbox: `${id}/inbox`,
      statusUri: n => `${id}/statuses/${n}`,
      document: () => actorDocument(baseUrl, state),
      rotateKey: async () => { state.rsa = await rsaKeyPair() },
      create: note => createActivity(state, note),
      delete: (objectId, deleteOptions = {}) => deleteActivity(state, objectId, deleteOptions.tombstone ?? true),
      ldSign: async activity => await ldSign(activity, state.rsa.privateKey, state.keyId),
      deliver: async (inbox, activity, deliverOptions = {}) => {
        const signer = deliverOptions.signAs != null ? identities.get(deliverOptions.signAs)?.() : identity()
        if (signer == null) throw new Error('signAs: not an actor of an actor server')
        const body = Buffer.from(deliverOptions.rawBody ?? JSON.stringify(activity))
        return await post(inbox, await signPost(inbox, body, signer, deliverOptions))
      }
    }
    identities.set(testActor, identity)
    return testActor
  }

  return {
    url: baseUrl,
    addActor,
    received,
    requests,
    serve: (path, body, status = 200) => { served.set(path, { body, status }) },
    close: async () => {
      for (const req of inflight) req.destroy()
      await server.close()
    }
  }
}

// ---------------------------------------------------------------------------
// Relay

export interface RelayOptions {
  /** `mastodon` (default): Follow of as:Public, activities forwarded unchanged; `litepub`: Follow of the relay actor, Create/Announce forwarded as an Announce. */
  style?: 'mastodon' | 'litepub'
  /** Accept verified Follows at once (default true); otherwise call `accept` or `reject`. */
  autoAccept?: boolean
  /** LitePub relays follow their subscribers back after accepting; off by default. */
  reciprocalFollow?: boolean
}

export interface RelayDelivery {
  inbox: string
  activity: JsonObject
  /** 0 when the request failed without an answer. */
  status: number
}

export interface TestRelay {
  url: string
  /** `{url}/actor`, an `Application`. */
  actorUrl: string
  /** `{url}/inbox` (also the actor's inbox and shared inbox). */
  inboxUrl: string
  keyId: string
  style: 'mastodon' | 'litepub'
  /** Subscribers whose Follow was accepted: inbox (shared inbox if any) per follower actor id. */
  subscribers: Map<string, string>
  /** Follows whose signature and object were valid, in order. */
  follows: JsonObject[]
  /** Undos of a Follow, in order. */
  undos: JsonObject[]
  /** Requests to the inbox that were refused, with the status answered and why. */
  rejected: Array<{ activity: JsonObject, status: number, reason: string }>
  /** Other verified activities POSTed to the inbox (e.g. an Accept of a reciprocal Follow). */
  received: JsonObject[]
  /** Everything the relay POSTed (Accept, Reject, Follow, relayed activities), once answered. */
  sent: RelayDelivery[]
  /** Accepts a pending Follow of this actor (with `autoAccept: false`); resolves to the delivery status. */
  accept: (actorId: string) => Promise<number>
  reject: (actorId: string) => Promise<number>
  /**
   * Forwards an activity to every subscriber inbox, signed by the relay
   * (draft-cavage): mastodon = the activity unchanged; litepub = a Create or
   * Announce becomes an Announce by the relay of its object (embedded, or
   * its id with `embed: false` as Pleroma's relay does), other types
   * unchanged. Resolves to the statuses, one per distinct inbox.
   */
  relay: (activity: object, options?: { embed?: boolean }) => Promise<number[]>
  /** Resolves when the deliveries the relay started by itself (Accepts…) are done. */
  idle: () => Promise<void>
  close: () => Promise<void>
}

/** Starts a relay on 127.0.0.1. */
export async function startRelay (options: RelayOptions = {}): Promise<TestRelay> {
  const style = options.style ?? 'mastodon'
  const autoAccept = options.autoAccept ?? true
  const rsa = await rsaKeyPair()
  const subscribers = new Map<string, string>()
  const pending = new Map<string, { follow: JsonObject, inbox: string }>()
  const follows: JsonObject[] = []
  const undos: JsonObject[] = []
  const rejected: TestRelay['rejected'] = []
  const received: JsonObject[] = []
  const sent: RelayDelivery[] = []
  const inflight = new Set<ClientRequest>()
  const background = new Set<Promise<unknown>>()
  let url = ''
  const actorUrl = (): string => `${url}/actor`
  const identity = (): SigningIdentity => ({ keyId: `${actorUrl()}#main-key`, rsa })
  const activityId = (): string => `${url}/activities/${randomUUID()}`

  const deliver = async (inbox: string, activity: JsonObject): Promise<number> => {
    const status = await post(inbox, await signPost(inbox, Buffer.from(JSON.stringify(activity)), identity()), inflight)
      .then(answer => answer.status, () => 0)
    sent.push({ inbox, activity, status })
    return status
  }
  const inBackground = (task: Promise<unknown>): void => {
    background.add(task)
    void task.finally(() => background.delete(task))
  }

  const answerFollow = async (actorId: string, type: 'Accept' | 'Reject'): Promise<number> => {
    const request = pending.get(actorId)
    if (request == null) throw new Error(`no pending Follow from ${actorId}`)
    pending.delete(actorId)
    if (type === 'Accept') subscribers.set(actorId, request.inbox)
    const status = await deliver(request.inbox, {
      '@context': AS_CONTEXT, id: activityId(), type, actor: actorUrl(), to: [actorId], object: request.follow
    })
    if (type === 'Accept' && style === 'litepub' && options.reciprocalFollow === true) {
      await deliver(request.inbox, { '@context': AS_CONTEXT, id: activityId(), type: 'Follow', actor: actorUrl(), to: [actorId], object: actorId })
    }
    return status
  }

  const refuse = (res: ServerResponse, activity: JsonObject, status: number, reason: string): void => {
    rejected.push({ activity, status, reason })
    sendJson(res, status, { error: reason }, 'application/json')
  }

  const onInbox = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const body = await readBody(req)
    const activity = parseObject(body)
    if (activity == null) return refuse(res, {}, 400, 'body is not a JSON object')
    const verification = await verifyWithFedify(toFetchRequest(req, body), inflight)
    if ('error' in verification) return refuse(res, activity, 401, `signature: ${verification.error}`)
    const actorId = idOf(activity.actor)
    if (actorId == null || verification.owner !== actorId) return refuse(res, activity, 401, `key ${verification.keyId} is owned by ${verification.owner ?? 'nobody'}, not by the actor ${actorId ?? '(none)'}`)
    if (activity.type === 'Follow') {
      const expected = style === 'mastodon' ? AS_PUBLIC : actorUrl()
      if (idOf(activity.object) !== expected) return refuse(res, activity, 400, `a ${style} relay is followed with object ${expected}`)
      let follower: JsonObject
      try {
        follower = await fetchDocument(actorId, inflight)
      } catch (err) {
        return refuse(res, activity, 400, `follower actor: ${String(err)}`)
      }
      const inbox = idOf(asObject(follower.endpoints).sharedInbox) ?? idOf(follower.inbox)
      if (inbox == null) return refuse(res, activity, 400, 'follower has no inbox')
      follows.push(activity)
      pending.set(actorId, { follow: activity, inbox })
      res.writeHead(202).end()
      if (autoAccept) inBackground(answerFollow(actorId, 'Accept'))
      return
    }
    const undone = asObject(activity.object)
    const undoneId = idOf(activity.object)
    const undoesFollow = undone.type === 'Follow' || follows.some(follow => follow.id === undoneId && idOf(follow.actor) === actorId)
    if (activity.type === 'Undo' && undoesFollow) {
      undos.push(activity)
      subscribers.delete(actorId)
      pending.delete(actorId)
    } else {
      received.push(activity)
    }
    res.writeHead(202).end()
  }

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const { pathname } = new URL(req.url ?? '/', 'http://x')
    if (req.method === 'POST' && pathname === '/inbox') return await onInbox(req, res)
    if (req.method === 'GET' && pathname === '/actor') {
      return sendJson(res, 200, {
        '@context': [AS_CONTEXT, SECURITY_CONTEXT],
        id: actorUrl(),
        type: 'Application',
        preferredUsername: 'relay',
        name: 'ActivityRelay',
        summary: 'ActivityRelay bot',
        inbox: `${url}/inbox`,
        outbox: `${url}/outbox`,
        followers: `${url}/followers`,
        following: `${url}/following`,
        url: actorUrl(),
        endpoints: { sharedInbox: `${url}/inbox` },
        publicKey: { id: identity().keyId, owner: actorUrl(), publicKeyPem: spkiPem(rsa.publicKey) }
      })
    }
    if (req.method === 'GET' && pathname === '/.well-known/webfinger') {
      return sendJson(res, 200, {
        subject: `acct:relay@${new URL(url).host}`,
        aliases: [actorUrl()],
        links: [{ rel: 'self', type: ACTIVITY_JSON, href: actorUrl() }]
      }, 'application/jrd+json')
    }
    sendJson(res, 404, { error: 'not found' }, 'application/json')
  }

  const server = await listenLoopback(handle)
  url = server.url

  const relayForm = (activity: JsonObject, embed: boolean): JsonObject => {
    if (style === 'mastodon' || (activity.type !== 'Create' && activity.type !== 'Announce')) return activity
    return {
      '@context': AS_CONTEXT,
      id: activityId(),
      type: 'Announce',
      actor: actorUrl(),
      to: [`${url}/followers`],
      published: new Date().toISOString(),
      object: embed ? activity.object : idOf(activity.object)
    }
  }

  return {
    url,
    actorUrl: actorUrl(),
    inboxUrl: `${url}/inbox`,
    keyId: identity().keyId,
    style,
    subscribers,
    follows,
    undos,
    rejected,
    received,
    sent,
    accept: async actorId => await answerFollow(actorId, 'Accept'),
    reject: async actorId => await answerFollow(actorId, 'Reject'),
    relay: async (activity, relayOptions = {}) => {
      const message = relayForm(asObject(activity), relayOptions.embed ?? true)
      const inboxes = [...new Set(subscribers.values())]
      return await Promise.all(inboxes.map(async inbox => await deliver(inbox, message)))
    },
    idle: async () => {
      while (background.size > 0) await Promise.allSettled([...background])
    },
    close: async () => {
      for (const req of inflight) req.destroy()
      await Promise.allSettled([...background])
      await server.close()
    }
  }
}

/** The JSON-LD contexts Mastodon's activities use, as the signer loads them (never from the network). */
const LD_CONTEXTS: Record<string, string> = {
  'https://www.w3.org/ns/activitystreams': 'activitystreams.json',
  'https://w3id.org/security/v1': 'security-v1.json',
  'https://w3id.org/identity/v1': 'identity-v1.json'
}

async function ldSign (activity: JsonObject, privateKey: webcrypto.CryptoKey, keyId: string): Promise<JsonObject> {
  const contextLoader = async (url: string): Promise<{ contextUrl: null, documentUrl: string, document: unknown }> => {
    const file = LD_CONTEXTS[url]
    if (file == null) throw new Error(`the test signer has no context ${url}`)
    return { contextUrl: null, documentUrl: url, document: JSON.parse(readFileSync(new URL(`../../node/activitypub/contexts/${file}`, import.meta.url), 'utf8')) }
  }
  const signed = await signJsonLd(activity, privateKey, new URL(keyId), { contextLoader }) as JsonObject
  // Mastodon adds security/v1 to the context after signing (it adds no statement)
  const context = [signed['@context']].flat()
  return { ...signed, '@context': context.includes('https://w3id.org/security/v1') ? context : [...context, 'https://w3id.org/security/v1'] }
}
