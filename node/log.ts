import { pino } from 'pino'
import type { Logger } from 'pino'
import type { LogLevel } from './config/settings.ts'

export type { Logger }

/** Structured JSON logs on stdout, one event a line. */
export function createLogger (level: LogLevel): Logger {
  return pino({ level, base: { service: 'fdn' } })
}
