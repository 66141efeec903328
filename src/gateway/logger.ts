import { type Logger, pino } from 'pino'
import sonicBoom, { type SonicBoomOpts } from 'sonic-boom'

/** Log lines that may wait for a slow reader of stdout; past this, lines are dropped, not queued. */
const MAX_QUEUED_LOG_BYTES = 16 * 1024 * 1024
/** How long a final flush may wait for a reader that does not read: 10 × 100 ms. */
const FLUSH_RETRIES = 10

export interface GatewayLogger {
  readonly logger: Logger
  /** Writes what is queued, at once; gives up on a stdout that is gone or does not drain. */
  flush(): void
}

/**
 * Structured JSON logs on stdout, one line per event worth knowing (connections open and close).
 * Written asynchronously with a bounded queue, and our own destination rather than pino's: with
 * pino's, a process whose stdout reader had gone (EPIPE) retried the write forever at exit
 * (sonic-boom 4), so SIGTERM never ended it. A broken stdout stops the logging, not the serving.
 */
export function createLogger(level: string): GatewayLogger {
  // `maxWriteRetries` is documented but missing from sonic-boom's types.
  const options: SonicBoomOpts & { maxWriteRetries: number } = {
    fd: 1,
    sync: false,
    maxLength: MAX_QUEUED_LOG_BYTES,
    maxWriteRetries: FLUSH_RETRIES,
  }
  const destination = new sonicBoom.SonicBoom(options)
  let broken = false
  destination.on('error', () => {
    broken = true
    destination.write = () => true
  })
  return {
    logger: pino({ level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime }, destination),
    flush() {
      if (broken) return
      try {
        destination.flushSync()
      } catch {
        // stdout is gone or stalled: what is queued is lost, and exiting matters more.
      }
    },
  }
}
