import type { DestinationStream } from 'pino'

/** What a pretty stream writes its lines to (pino's sonic-boom destination). */
export interface LineSink {
  write: (line: string) => unknown
  flush?: (cb?: (err?: Error) => void) => void
  flushSync?: () => void
}

const LEVELS: Record<number, { label: string, color: number }> = {
  10: { label: 'TRACE', color: 90 },
  20: { label: 'DEBUG', color: 36 },
  30: { label: 'INFO ', color: 32 },
  40: { label: 'WARN ', color: 33 },
  50: { label: 'ERROR', color: 31 },
  60: { label: 'FATAL', color: 35 }
}

/** Fields every line has that a reader does not need to see on each one. */
const HIDDEN = new Set(['time', 'level', 'msg', 'pid', 'hostname', 'service', 'err'])

/**
 * A pino destination that writes each JSON event as one readable line:
 * local time, level, message, then the event's fields as `key=value`. An
 * error's message is a field; for ERROR and FATAL events its stack follows,
 * indented. Colours only when asked (a terminal).
 */
export function prettyStream (sink: LineSink, options: { colors: boolean }): DestinationStream & Pick<LineSink, 'flush' | 'flushSync'> {
  return {
    write: (line: string) => { sink.write(prettyLine(line, options.colors)) },
    flush: (cb) => { if (sink.flush != null) sink.flush(cb); else cb?.() },
    flushSync: () => { sink.flushSync?.() }
  }
}

/** One JSON log line as text (a line that is not JSON is written as it came). */
export function prettyLine (line: string, colors: boolean): string {
  let event: Record<string, unknown>
  try {
    event = JSON.parse(line) as Record<string, unknown>
  } catch {
    return line.endsWith('\n') ? line : `${line}\n`
  }
  const level = LEVELS[Number(event.level)] ?? { label: String(event.level).padEnd(5), color: 0 }
  const paint = (text: string, code: number): string => colors && code !== 0 ? `\u001b[${code}m${text}\u001b[39m` : text
  const parts = [paint(localTime(event.time), 90), paint(level.label, level.color), String(event.msg ?? '')]
  for (const [key, value] of Object.entries(event)) {
    if (!HIDDEN.has(key) && value !== undefined) parts.push(`${paint(key, 90)}=${text(value)}`)
  }
  const err = errorOf(event.err)
  if (err != null) parts.push(`${paint('err', 90)}=${text(err.message)}`)
  const stack = err?.stack != null && Number(event.level) >= 50
    ? `\n${err.stack.split('\n').slice(1).map(frame => `    ${frame.trim()}`).join('\n')}`
    : ''
  return `${parts.join(' ')}${stack}\n`
}

/** `2025-06-01 14:03:22.123` in the machine's time zone. */
function localTime (time: unknown): string {
  const date = new Date(typeof time === 'number' || typeof time === 'string' ? time : Date.now())
  const pad = (n: number, width = 2): string => String(n).padStart(width, '0')
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ` +
    `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}.${pad(date.getMilliseconds(), 3)}`
}

/** A value as it is shown after `key=`: bare when it has no spaces, quotes or `=`, else as JSON. */
function text (value: unknown): string {
  if (typeof value === 'string') return value !== '' && !/[\s"=\\]/.test(value) ? value : JSON.stringify(value)
  if (typeof value === 'object' && value !== null) return JSON.stringify(value)
  return String(value)
}

/** pino's serialised error (`{type, message, stack}`), or a string logged as `err`. */
function errorOf (value: unknown): { message: string, stack?: string } | undefined {
  if (typeof value === 'string') return { message: value }
  if (typeof value !== 'object' || value === null) return undefined
  const { type, message, stack } = value as { type?: unknown, message?: unknown, stack?: unknown }
  const name = typeof type === 'string' && type !== 'Error' ? `${type}: ` : ''
  return { message: `${name}${String(message ?? '')}`, ...(typeof stack === 'string' ? { stack } : {}) }
}
