import type { Readable } from 'node:stream'

/**
 * Takes a response body as it arrives, without a stream in between. `bytes` may be handed a view
 * of a read buffer that is reused once it returns: a receiver keeps nothing it was given (it copies).
 */
export interface BodySink {
  bytes(data: Buffer): void
  end(): void
  error(error: Error): void
}

/** Feeds a stream's body to a sink (an upstream whose body is a stream, like the demo). */
export function drainInto(body: Readable, sink: BodySink): void {
  let ended = false
  body.on('data', (data: Buffer) => sink.bytes(data))
  body.once('end', () => {
    ended = true
    sink.end()
  })
  body.once('error', (error) => {
    ended = true
    sink.error(error)
  })
  body.once('close', () => {
    if (!ended) sink.error(new Error('the body closed before its end'))
  })
}
