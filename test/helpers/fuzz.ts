/**
 * Property-based fuzzing of the parsers that read the network (the
 * test/unit/fuzz-*.test.ts files): a fixed seed so CI runs are repeatable,
 * `FDN_FUZZ_SEED` to explore others, 10,000 cases per property, a time limit
 * per case, and arbitraries that mutate valid inputs (much more likely to
 * reach deep code than random strings) as well as junk.
 *
 *     FDN_FUZZ_SEED=12345 node --test test/unit/fuzz-sigv4.test.ts
 *     FDN_FUZZ_RUNS=100000 …        (more cases; fewer only for a quick local try)
 */
import assert from 'node:assert/strict'
import fc from 'fast-check'
import { FdnError } from '../../protocol/errors.ts'
import { jsonStatus } from '../../gateway/errors.ts'
import { toS3Error } from '../../gateway/s3/error-map.ts'
import { S3Error } from '../../gateway/s3/errors.ts'

export { fc }

function envInt (name: string, fallback: number): number {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isSafeInteger(value)) throw new Error(`${name}=${raw} is not an integer`)
  return value
}

/** The seed every property starts from; fast-check wants a 32-bit integer. */
export const FUZZ_SEED = envInt('FDN_FUZZ_SEED', 0x0fd9_2025) | 0
export const FUZZ_RUNS = envInt('FDN_FUZZ_RUNS', 10_000)
/**
 * No single case may take longer than this: a hang, or an input that makes
 * a parser quadratic, shows as a slow case long before it shows as a hang.
 * Generous, because up to seven test processes share two cores here.
 */
export const CASE_LIMIT_MS = envInt('FDN_FUZZ_CASE_MS', 2000)

function parameters<T> (extra: fc.Parameters<T>): fc.Parameters<T> {
  return { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, ...extra }
}

/** fast-check's report already holds the seed and the counterexample; this puts the way to rerun it first. */
function withSeed (err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err)
  return new Error(`fuzz failure with FDN_FUZZ_SEED=${FUZZ_SEED} (FDN_FUZZ_RUNS=${FUZZ_RUNS}): rerun with that seed to reproduce\n${message}`, { cause: err })
}

function overLimit (started: number): void {
  const ms = performance.now() - started
  if (ms > CASE_LIMIT_MS) throw new Error(`the case took ${ms.toFixed(0)} ms, over the ${CASE_LIMIT_MS} ms limit per case`)
}

/** Runs a synchronous property `FUZZ_RUNS` times from `FUZZ_SEED`; every case must finish within CASE_LIMIT_MS. */
export function fuzz<T> (arbitrary: fc.Arbitrary<T>, predicate: (value: T) => void, extra: fc.Parameters<[T]> = {}): void {
  const property = fc.property(arbitrary, (value) => {
    const started = performance.now()
    predicate(value)
    overLimit(started)
  })
  try {
    fc.assert(property, parameters(extra))
  } catch (err) {
    throw withSeed(err)
  }
}

/** The same for an asynchronous property; a case still pending after CASE_LIMIT_MS fails (a hang). */
export async function fuzzAsync<T> (arbitrary: fc.Arbitrary<T>, predicate: (value: T) => Promise<void>, extra: fc.Parameters<[T]> = {}): Promise<void> {
  const property = fc.asyncProperty(arbitrary, async (value) => {
    const started = performance.now()
    await predicate(value)
    overLimit(started)
  })
  try {
    await fc.assert(property, parameters({ plugins: [fc.timeout(CASE_LIMIT_MS)], ...extra }))
  } catch (err) {
    throw withSeed(err)
  }
}

// ---------------------------------------------------------------------------
// What a refusal must be

function describeError (err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}\n${err.stack ?? ''}` : String(err)
}

/** Asserts `err` is a `type`; anything else fails with its stack, read only then (building a stack costs). */
export function assertTyped<T> (err: unknown, type: abstract new (...args: never[]) => T, what: string): asserts err is T {
  if (!(err instanceof type)) assert.fail(`not ${what}: ${describeError(err)}`)
}

/** An S3 surface refusal: an S3Error (not an arbitrary error turned InternalError) whose S3 answer is a 4xx. */
export function assertS3Refusal (err: unknown): S3Error {
  assertTyped(err, S3Error, 'a typed S3 refusal')
  const status = toS3Error(err).status
  assert.ok(status >= 400 && status < 500, `${err.code} maps to ${status}, not a 4xx`)
  return err
}

/** A refusal of the JSON surfaces (gateway, retrieve API): an FdnError whose status is a 4xx. */
export function assertJsonRefusal (err: unknown): FdnError {
  assertTyped(err, FdnError, 'a typed FdnError refusal')
  const status = jsonStatus(err.code)
  assert.ok(status >= 400 && status < 500, `${err.code} maps to ${status}, not a 4xx`)
  return err
}

/** The value `run` returns, or undefined when it throws a refusal that `check` accepts (check throws otherwise). */
export function refusedOr<T> (run: () => T, check: (err: unknown) => unknown): T | undefined {
  try {
    return run()
  } catch (err) {
    check(err)
    return undefined
  }
}

export async function refusedOrAsync<T> (run: () => Promise<T>, check: (err: unknown) => unknown): Promise<T | undefined> {
  try {
    return await run()
  } catch (err) {
    check(err)
    return undefined
  }
}

// ---------------------------------------------------------------------------
// Arbitraries

/**
 * Characters that tend to matter to parsers: separators, quotes, escapes,
 * whitespace and line ends, controls, bytes above ASCII, a lone surrogate,
 * an astral character.
 */
export const TRICKY_CHARS = [
  ' ', '\t', '\r', '\n', '\r\n', ',', ';', '=', ':', '/', '\\', '"', '\'', '%', '+', '&', '?', '#', '<', '>', '[', ']', '{', '}',
  '-', '_', '.', '*', '0', '9', 'a', 'f', 'F', 'z', 'Z', '\0', '\x7f', '\x80', '\xff', 'é', '\u2028', '\ufeff', '\ud800', '😀', '%0', '%zz', '%2F', '&amp;', '&#0;'
]

/** One character: mostly tricky ones, sometimes any code point. */
export const trickyChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...TRICKY_CHARS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }) }
)

/** Short junk text made of tricky characters and printable ASCII. */
export const junkText = (maxLength = 40): fc.Arbitrary<string> =>
  fc.array(fc.oneof(trickyChar, fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 4 })), { maxLength }).map((parts) => parts.join(''))

type Edit =
  | { op: 'replace', at: number, text: string }
  | { op: 'insert', at: number, text: string }
  | { op: 'delete', at: number, length: number }
  | { op: 'duplicate', at: number, length: number }
  | { op: 'truncate', at: number }
  | { op: 'swap', at: number, other: number }

const editArb = (piece: fc.Arbitrary<string>): fc.Arbitrary<Edit> => fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('replace' as const), at: fc.nat(), text: piece }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), text: piece }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 8 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('duplicate' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('swap' as const), at: fc.nat(), other: fc.nat() }) }
)

function applyEdit (text: string, edit: Edit): string {
  const n = text.length
  const at = n === 0 ? 0 : edit.at % (n + (edit.op === 'insert' ? 1 : 0))
  switch (edit.op) {
    case 'replace': return n === 0 ? edit.text : text.slice(0, at) + edit.text + text.slice(at + 1)
    case 'insert': return text.slice(0, at) + edit.text + text.slice(at)
    case 'delete': return text.slice(0, at) + text.slice(at + edit.length)
    case 'duplicate': return text.slice(0, at + edit.length) + text.slice(at, at + edit.length) + text.slice(at + edit.length)
    case 'truncate': return text.slice(0, at)
    case 'swap': {
      // by UTF-16 code unit: splitting a surrogate pair is one more way to be malformed
      const units = text.split('')
      const other = edit.other % n
      ;[units[at], units[other]] = [units[other]!, units[at]!]
      return units.join('')
    }
  }
}

/** A few edits (replace, insert, delete, duplicate, truncate, swap) of a string. */
export function mutateString (base: fc.Arbitrary<string>, options: { maxEdits?: number, piece?: fc.Arbitrary<string> } = {}): fc.Arbitrary<string> {
  const edits = fc.array(editArb(options.piece ?? trickyChar), { minLength: 1, maxLength: options.maxEdits ?? 3 })
  return fc.tuple(base, edits).map(([text, list]) => list.reduce(applyEdit, text))
}

export type ByteEdit =
  | { op: 'flip', at: number, bit: number }
  | { op: 'set', at: number, value: number }
  | { op: 'insert', at: number, bytes: Uint8Array }
  | { op: 'delete', at: number, length: number }
  | { op: 'truncate', at: number }

const byteEditArb: fc.Arbitrary<ByteEdit> = fc.oneof(
  { weight: 3, arbitrary: fc.record({ op: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('set' as const), at: fc.nat(), value: fc.constantFrom(0x00, 0x0a, 0x0d, 0x20, 0x2c, 0x30, 0x3a, 0x3b, 0x3d, 0x66, 0x7f, 0x80, 0xff) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 4 }) }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 16 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), at: fc.nat() }) }
)

function applyByteEdit (bytes: Buffer, edit: ByteEdit): Buffer {
  const n = bytes.length
  if (n === 0) return edit.op === 'insert' ? Buffer.from(edit.bytes) : bytes
  const at = edit.at % (n + (edit.op === 'insert' ? 1 : 0))
  switch (edit.op) {
    case 'flip': { const out = Buffer.from(bytes); out[at]! ^= 1 << edit.bit; return out }
    case 'set': { const out = Buffer.from(bytes); out[at] = edit.value; return out }
    case 'insert': return Buffer.concat([bytes.subarray(0, at), edit.bytes, bytes.subarray(at)])
    case 'delete': return Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + edit.length)])
    case 'truncate': return bytes.subarray(0, at)
  }
}

/** A few byte-level edits (bit flips, special bytes, insertions, deletions, truncation), to apply with applyByteEdits. */
export function byteEdits (maxEdits = 3): fc.Arbitrary<ByteEdit[]> {
  return fc.array(byteEditArb, { minLength: 1, maxLength: maxEdits })
}

export function applyByteEdits (bytes: Uint8Array, edits: readonly ByteEdit[]): Buffer {
  return edits.reduce(applyByteEdit, Buffer.from(bytes))
}

/** Bytes with a few byte-level edits. */
export function mutateBytes (base: fc.Arbitrary<Uint8Array>, maxEdits = 3): fc.Arbitrary<Buffer> {
  return fc.tuple(base, byteEdits(maxEdits)).map(([bytes, list]) => applyByteEdits(bytes, list))
}

/** Exactly one byte changed to another value: the corruption every integrity check must catch. */
export function oneByteChanged (base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<{ original: Buffer, changed: Buffer, at: number }> {
  return fc.tuple(base.filter((b) => b.length > 0), fc.nat(), fc.integer({ min: 1, max: 255 })).map(([bytes, at, delta]) => {
    const original = Buffer.from(bytes)
    const i = at % original.length
    const changed = Buffer.from(original)
    changed[i] = (changed[i]! + delta) & 0xff
    return { original, changed, at: i }
  })
}

type JsonPath = ReadonlyArray<string | number>

function paths (value: unknown, prefix: JsonPath = [], out: JsonPath[] = []): JsonPath[] {
  out.push(prefix)
  if (Array.isArray(value)) value.forEach((v, i) => paths(v, [...prefix, i], out))
  else if (value !== null && typeof value === 'object') for (const [k, v] of Object.entries(value)) paths(v, [...prefix, k], out)
  return out
}

function setAt (value: unknown, path: JsonPath, replace: (old: unknown) => unknown): unknown {
  if (path.length === 0) return replace(value)
  const [head, ...rest] = path
  if (Array.isArray(value)) {
    const copy = [...value]
    const i = head as number
    const next = setAt(copy[i], rest, replace)
    if (next === REMOVE) copy.splice(i, 1)
    else copy[i] = next
    return copy
  }
  const copy: Record<string, unknown> = { ...(value as Record<string, unknown>) }
  const next = setAt(copy[head as string], rest, replace)
  if (next === REMOVE) delete copy[head as string]
  else copy[head as string] = next
  return copy
}

const REMOVE = Symbol('remove')

type JsonEdit =
  | { op: 'replace', at: number, value: unknown }
  | { op: 'remove', at: number }
  | { op: 'add', at: number, name: string, value: unknown }

/** Junk JSON values, including the shapes that matter: big and odd numbers, long strings, nesting. */
export const junkJson: fc.Arbitrary<unknown> = fc.oneof(
  fc.jsonValue({ maxDepth: 3 }),
  fc.constantFrom(null, true, false, 0, -1, 1.5, 1e308, -0, 2 ** 53, '', ' ', 'null', '\u0000', '\ud800', [], {}, [[[[[]]]]], { '': {} }),
  junkText(20)
)

/** Structural edits of a JSON value: a field removed, replaced by junk, or an unknown one added. */
export function mutateJson (base: fc.Arbitrary<unknown>, maxEdits = 2): fc.Arbitrary<unknown> {
  const edit: fc.Arbitrary<JsonEdit> = fc.oneof(
    fc.record({ op: fc.constant('replace' as const), at: fc.nat(), value: junkJson }),
    fc.record({ op: fc.constant('remove' as const), at: fc.nat() }),
    fc.record({ op: fc.constant('add' as const), at: fc.nat(), name: fc.oneof(fc.constantFrom('__proto__', 'constructor', 'toString', 'type', 'id', ''), fc.string({ maxLength: 8 })), value: junkJson })
  )
  return fc.tuple(base, fc.array(edit, { minLength: 1, maxLength: maxEdits })).map(([value, list]) => list.reduce((current: unknown, e) => {
    const all = paths(current)
    const path = all[e.at % all.length]!
    if (e.op === 'replace') return setAt(current, path, () => e.value)
    if (e.op === 'remove') return path.length === 0 ? current : setAt(current, path, () => REMOVE)
    return setAt(current, path, (old) => {
      if (old === null || typeof old !== 'object' || Array.isArray(old)) return old
      const copy: Record<string, unknown> = { ...(old as Record<string, unknown>) }
      // defineProperty: '__proto__' becomes an own field, as JSON.parse makes it
      Object.defineProperty(copy, e.name, { value: e.value, enumerable: true, writable: true, configurable: true })
      return copy
    })
  }, value))
}
