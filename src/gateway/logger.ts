import { type Logger, pino } from 'pino'

/** Structured JSON logs on stdout, one line per event worth knowing (connections open and close). */
export function createLogger(level: string): Logger {
  return pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime })
}
