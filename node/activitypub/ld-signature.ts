import { constants, createHash, verify } from 'node:crypto'
import { readFileSync } from 'node:fs'
import jsonld from 'jsonld'
import type { DocumentLoader, JsonLdError } from 'jsonld'
import { urlForMessage } from '../fetcher/errors.ts'
import { SignatureError } from './http-signatures.ts'
import type { KeyResolver, ResolvedKey } from './keys.ts'

/**
 * Linked Data Signatures (`RsaSignature2017`) on activities, verified the way
 * Mastodon signs and checks them (app/lib/activitypub/linked_data_signature.rb;
 * Fedify's signJsonLd/verifySignature compute the same): a relay forwards an
 * activity under its own HTTP signature, and the author's signature travels
 * in the body.
 *
 *   options  = signature without type, id and signatureValue, with
 *              '@context': 'https://w3id.org/identity/v1'
 *   document = activity without signature
 *   signed   = hex(sha256(URDNA2015 N-Quads of options)) + hex(sha256(URDNA2015 N-Quads of document))
 *
 * and signatureValue is the base64 RSASSA-PKCS1-v1_5 SHA-256 signature of
 * `signed` by the key `creator` names.
 *
 * The signature covers an RDF dataset, but the inbox reads the JSON. Two
 * known attacks keep the dataset and change what the JSON says: a @context
 * that gives a standard term another meaning (CVE-2022-24307: Mastodon now
 * compacts against its own context) and moving nodes around with @graph,
 * @included or @reverse (CVE-2026-46349: an Undo{Announce} re-read as an
 * Announce; Fedify refuses those keywords). Because the API returns only the
 * signer, this module refuses any activity whose JSON could read differently
 * from what was signed: see checkShape and the second canonicalisation in
 * verifyLdSignature.
 */

export interface LdSigned {
  /** The signature's `creator`. */
  keyId: string
  /** The key owner's actor id: the caller compares it with the activity's actor. */
  owner: string
}

const SIGNATURE_TYPE = 'RsaSignature2017'
const AS_CONTEXT = 'https://www.w3.org/ns/activitystreams'
const SECURITY_CONTEXT = 'https://w3id.org/security/v1'
const IDENTITY_CONTEXT = 'https://w3id.org/identity/v1'

/** Serialized size and JSON values (objects, arrays, scalars) allowed before any JSON-LD processing. */
const MAX_BYTES = 64 * 1024
const MAX_NODES = 2000
/** Mastodon's activities nest 5 levels deep. */
const MAX_DEPTH = 32
/** An RSA-8192 signature is 1 368 base64 characters. */
const MAX_SIGNATURE_CHARS = 2048
/** Canonicalising a real activity takes milliseconds. */
const CANONICALISE_BUDGET_MS = 2000
/**
 * rdf-canonize's bound on deep (N-degree) hashing: at most n iterations for
 * n blank nodes that share a first-degree hash, O(n) work. Activities have a
 * few blank nodes (collection pages, attachments without ids); a "poison"
 * graph built to need more is refused.
 */
const MAX_WORK_FACTOR = 1

/** The contexts a signed activity may name, bundled (node/activitypub/contexts/README.md): nothing is ever fetched. */
const BUNDLED_CONTEXTS = new Map<string, unknown>([
  [AS_CONTEXT, bundled('activitystreams.json')],
  [SECURITY_CONTEXT, bundled('security-v1.json')],
  [IDENTITY_CONTEXT, bundled('identity-v1.json')]
])

function bundled (file: string): unknown {
  return JSON.parse(readFileSync(new URL(`./contexts/${file}`, import.meta.url), 'utf8'))
}

/** Whether the activity carries an LD signature to check (an object `signature` of type RsaSignature2017). */
export function hasLdSignature (activity: Record<string, unknown>): boolean {
  const signature = objectOf(activity.signature)
  return signature != null && signature.type === SIGNATURE_TYPE
}

/**
 * Verifies it; the key comes from the KeyResolver (refreshed once on
 * failure, like HTTP signatures). Throws SignatureError ('signature_invalid'
 * for a bad signature or a document that cannot be canonicalised offline,
 * 'key_unavailable' from the resolver).
 */
export async function verifyLdSignature (activity: Record<string, unknown>, keys: KeyResolver): Promise<LdSigned> {
  const signature = objectOf(activity.signature)
  if (signature == null || signature.type !== SIGNATURE_TYPE) {
    throw new SignatureError('signature_missing', `the activity has no ${SIGNATURE_TYPE} signature`)
  }
  const keyId = signature.creator
  if (typeof keyId !== 'string' || keyId === '') throw invalid('the LD signature has no creator')
  const signatureValue = decodeSignature(signature.signatureValue)

  // Everything offline comes first: a refused activity costs no key fetch.
  const contexts = checkShape(activity)
  const { type: _type, id: _id, signatureValue: _value, ...rest } = signature
  const options = { ...rest, '@context': IDENTITY_CONTEXT }
  const { signature: _signature, ...document } = activity
  const deadline = AbortSignal.timeout(CANONICALISE_BUDGET_MS)
  const optionsQuads = await canonicalise(options, deadline)
  const documentQuads = await canonicalise(document, deadline)
  // The JSON must mean what the standard contexts say it means: read with
  // its bundled contexts applied once more after its own (ActivityStreams
  // last of all), it must give the very same dataset. This refuses an inline
  // context, or a context order, that redefines a term the inbox reads
  // (`{"Delete": "as:Announce"}`: type "Delete" signed as an Announce).
  // (ActivityStreams and security/v1 share only identical terms: with no
  // other context there is nothing to redefine.)
  if (!contexts.every((context) => context === AS_CONTEXT || context === SECURITY_CONTEXT)) {
    const standardQuads = await canonicalise({ ...document, '@context': standardContext(contexts) }, deadline)
    if (standardQuads !== documentQuads) throw invalid('the activity\'s @context gives a standard term another meaning')
  }
  const signed = Buffer.from(sha256Hex(optionsQuads) + sha256Hex(documentQuads))

  let key = await keys.resolve(keyId)
  if (!verifiesWith(key, signed, signatureValue)) {
    // Key rotation: like Mastodon's HTTP signatures, refetch the key once.
    let fresh: ResolvedKey
    try {
      fresh = await keys.resolve(keyId, { refresh: true })
    } catch (err) {
      throw invalid(`the LD signature does not verify with key ${urlForMessage(keyId)}, and refreshing the key failed: ${(err as Error).message}`)
    }
    if (fresh === key || !verifiesWith(fresh, signed, signatureValue)) {
      throw invalid(`the LD signature does not verify with key ${urlForMessage(keyId)}${key.type === 'rsa' ? '' : ` (an ${key.type} key; ${SIGNATURE_TYPE} needs RSA)`}`)
    }
    key = fresh
  }
  return { keyId, owner: key.owner }
}

function verifiesWith (key: ResolvedKey, data: Buffer, signature: Buffer): boolean {
  if (key.type !== 'rsa') return false
  try {
    return verify('sha256', data, { key: key.key, padding: constants.RSA_PKCS1_PADDING }, signature)
  } catch {
    return false
  }
}

function invalid (message: string): SignatureError {
  return new SignatureError('signature_invalid', message)
}

function objectOf (value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value != null && !Array.isArray(value) ? value as Record<string, unknown> : undefined
}

function sha256Hex (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** Standard base64 (line breaks allowed, as some signers wrap it). */
function decodeSignature (value: unknown): Buffer {
  if (typeof value !== 'string' || value === '') throw invalid('the LD signature has no signatureValue')
  const compact = value.replace(/\s+/g, '')
  if (compact.length > MAX_SIGNATURE_CHARS || !/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 !== 0) {
    throw invalid('the LD signature\'s signatureValue is not base64')
  }
  return Buffer.from(compact, 'base64')
}

// ---------------------------------------------------------------------------
// What the activity may look like

/**
 * Bounds the activity, then refuses every JSON-LD construct with which the
 * JSON tree can say something other than the signed dataset (what Mastodon's
 * and Misskey's activities never use). Returns the entries of the top-level
 * `@context`.
 *
 * - `@context` only at the top: a list of bundled context URLs and inline
 *   objects, ActivityStreams among them. No other URL (it would be fetched),
 *   no scoped or nested contexts.
 * - Inline contexts only map terms to IRIs: no keywords (`@vocab`, `@base`,
 *   `@import`, `@protected`, …), no keyword aliases (`"kind": "@type"`), no
 *   scoped contexts, reverse or nested properties, `@json`/`@vocab` values or
 *   index/id/type/graph containers.
 * - Nowhere a property named by a keyword (`@graph`, `@included`, `@reverse`,
 *   `@nest`, `@id`, `@type`, `@value`, …) or by an IRI (`"as:object"`): every
 *   property is a term the contexts define.
 */
function checkShape (activity: Record<string, unknown>): unknown[] {
  let bytes: number
  try {
    bytes = Buffer.byteLength(JSON.stringify(activity))
  } catch (err) {
    throw invalid(`the activity cannot be serialised: ${(err as Error).message}`)
  }
  if (bytes > MAX_BYTES) throw invalid(`the activity is ${bytes} bytes, more than the ${MAX_BYTES} an LD-signed activity may have`)

  let nodes = 0
  const walk = (value: unknown, depth: number, visit: (object: Record<string, unknown>) => void): void => {
    if (++nodes > MAX_NODES) throw invalid(`the activity has more than ${MAX_NODES} JSON values`)
    if (depth > MAX_DEPTH) throw invalid(`the activity is nested more than ${MAX_DEPTH} levels deep`)
    if (Array.isArray(value)) {
      for (const item of value) walk(item, depth + 1, visit)
    } else if (typeof value === 'object' && value != null) {
      const object = value as Record<string, unknown>
      visit(object)
      for (const key of Object.keys(object)) walk(object[key], depth + 1, visit)
    }
  }
  const contexts = activity['@context'] == null ? [] : Array.isArray(activity['@context']) ? activity['@context'] : [activity['@context']]
  const body = (object: Record<string, unknown>): void => {
    for (const key of Object.keys(object)) {
      if (key.startsWith('@')) throw invalid(`the JSON-LD keyword ${key.slice(0, 40)} is not allowed in an LD-signed activity`)
      if (key.includes(':')) throw invalid(`the property '${key.slice(0, 80)}' is not a term of the activity's contexts`)
    }
  }
  nodes++ // the activity itself
  for (const [key, value] of Object.entries(activity)) {
    if (key === '@context') {
      walk(value, 1, () => {})
    } else if (key === 'signature') {
      // Its own @context (Fedify writes one) is replaced by identity/v1, as Mastodon does.
      const { '@context': _ignored, ...signature } = objectOf(value) ?? {}
      nodes++
      body(signature)
      for (const item of Object.values(signature)) walk(item, 2, body)
    } else {
      body({ [key]: value })
      walk(value, 1, body)
    }
  }

  if (contexts.length === 0) throw invalid('the activity has no @context')
  if (!contexts.includes(AS_CONTEXT)) throw invalid(`the activity's @context does not include ${AS_CONTEXT}`)
  for (const context of contexts) {
    if (typeof context === 'string') {
      if (!BUNDLED_CONTEXTS.has(context)) throw invalid(`unknown JSON-LD context ${urlForMessage(context)}`)
      continue
    }
    const inline = objectOf(context)
    if (inline == null) throw invalid('the activity\'s @context holds something other than context URLs and objects')
    for (const [term, definition] of Object.entries(inline)) checkTermDefinition(term, definition)
  }
  return contexts
}

const ALLOWED_CONTAINERS = new Set(['@list', '@set', '@language'])

function checkTermDefinition (term: string, definition: unknown): void {
  const refuse = (why: string): never => { throw invalid(`the inline context's term '${term.slice(0, 80)}' ${why}`) }
  if (term.startsWith('@')) refuse('is a keyword')
  if (term.includes(':') || term.includes('/')) refuse('is an IRI')
  if (typeof definition === 'string') {
    if (definition.startsWith('@')) refuse(`aliases the keyword ${definition.slice(0, 40)}`)
    return
  }
  const object = objectOf(definition)
  if (object == null) return refuse('is not mapped to an IRI')
  for (const [key, value] of Object.entries(object)) {
    switch (key) {
      case '@id':
        if (typeof value !== 'string' || value.startsWith('@')) refuse('is not mapped to an IRI')
        break
      case '@type':
        if (typeof value !== 'string' || (value.startsWith('@') && value !== '@id')) refuse('has a type other than @id or a datatype')
        break
      case '@container':
        if (![value].flat().every((container) => typeof container === 'string' && ALLOWED_CONTAINERS.has(container))) refuse('has a container other than @list, @set or @language')
        break
      default:
        refuse(`uses ${key.slice(0, 40)}`)
    }
  }
  if (typeof object['@id'] !== 'string') refuse('is not mapped to an IRI')
}

/**
 * The document's own contexts, then its bundled ones again, ActivityStreams
 * last: the inline terms keep the prefixes they were written with, and every
 * standard term gets back its standard meaning.
 */
function standardContext (contexts: unknown[]): unknown[] {
  const urls = new Set(contexts.filter((context): context is string => typeof context === 'string' && context !== AS_CONTEXT))
  return [...contexts, ...urls, AS_CONTEXT]
}

// ---------------------------------------------------------------------------
// Canonicalisation

/**
 * URDNA2015 (RDFC-1.0, its standard name) N-Quads of a JSON-LD document,
 * offline and bounded.
 *
 * Safe mode: jsonld fails where JSON-LD would silently drop or mangle data
 * (an undefined term, a relative IRI, a value it cannot map). Mastodon
 * canonicalises without it (Ruby json-ld has no safe mode) and so signs
 * without the dropped parts; Fedify canonicalises with jsonld 9's default,
 * safe mode. A dropped property was never covered by the signature, yet the
 * inbox would read it, so we refuse such activities rather than accept
 * unsigned data: Mastodon's and Misskey's activities define every term they
 * use and verify the same either way.
 */
async function canonicalise (input: Record<string, unknown>, deadline: AbortSignal): Promise<string> {
  let refusedUrl: string | undefined
  const documentLoader: DocumentLoader = async (url) => {
    const document = BUNDLED_CONTEXTS.get(url)
    if (document == null) {
      refusedUrl ??= url
      throw new Error(`unknown JSON-LD context ${url}`)
    }
    return { contextUrl: null, documentUrl: url, document: structuredClone(document) }
  }
  const work = jsonld.canonize(input, {
    format: 'application/n-quads',
    documentLoader,
    safe: true,
    base: null,
    canonizeOptions: { algorithm: 'RDFC-1.0', maxWorkFactor: MAX_WORK_FACTOR, signal: deadline }
  })
  // The signal stops rdf-canonize; the race also bounds the JSON-LD expansion before it.
  let onAbort = (): void => {}
  const aborted = new Promise<never>((_resolve, reject) => {
    onAbort = () => reject(new Error(`canonicalisation took more than ${CANONICALISE_BUDGET_MS} ms`))
    if (deadline.aborted) onAbort()
    else deadline.addEventListener('abort', onAbort, { once: true })
  })
  try {
    return await Promise.race([work, aborted])
  } catch (err) {
    work.catch(() => {})
    if (refusedUrl != null) throw invalid(`unknown JSON-LD context ${urlForMessage(refusedUrl)}`)
    throw invalid(`the activity cannot be canonicalised: ${describe(err)}`)
  } finally {
    deadline.removeEventListener('abort', onAbort)
    aborted.catch(() => {})
  }
}

function describe (error: unknown): string {
  if (!(error instanceof Error)) return String(error).slice(0, 200)
  const err = error as JsonLdError
  const event = err.details?.event
  if (event?.code != null) {
    const term = event.details?.property ?? event.details?.term ?? event.details?.iri ?? event.details?.id
    return `${event.code}${typeof term === 'string' ? ` (${term.slice(0, 80)})` : ''}`
  }
  return err.message.slice(0, 200)
}
