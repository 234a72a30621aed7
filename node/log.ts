import { pino } from 'pino'
import type { Logger } from 'pino'
import type { LogFormat, LogLevel } from './config/settings.ts'
import { prettyStream } from './log-pretty.ts'
import { redactSecrets } from './log-redact.ts'

export type { Logger }

/**
 * The daemon's logs on stdout, one event a line: JSON (pino) for machines, or
 * readable lines with local times for people (`pretty`; `auto` picks it on a
 * terminal). Every line has its signatures, credentials and tokens taken out
 * before it is written, whatever logged it (log-redact.ts).
 */
export function createLogger (level: LogLevel, format: LogFormat = 'json'): Logger {
  const stdout = pino.destination(1)
  const terminal = process.stdout.isTTY
  const pretty = format === 'pretty' || (format === 'auto' && terminal)
  // NO_COLOR: https://no-color.org
  const colors = terminal && (process.env.NO_COLOR ?? '') === ''
  return pino({ level, base: { service: 'fdn' }, hooks: { streamWrite: redactSecrets } }, pretty ? prettyStream(stdout, { colors }) : stdout)
}
