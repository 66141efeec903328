import { createParser } from '../../src/protocol/parser.js'
import type { ServerSentEvent } from '../../src/protocol/types.js'

/** Reads an SSE response with our parser until it ends or `stopAfter` events came, then releases it. */
export async function readEvents(
  response: Response,
  stopAfter = Number.POSITIVE_INFINITY,
): Promise<ServerSentEvent[]> {
  const events: ServerSentEvent[] = []
  const parser = createParser({ onEvent: (event) => events.push(event) })
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  while (events.length < stopAfter) {
    const { done, value } = await reader.read()
    if (done) break
    parser.feed(value)
  }
  await reader.cancel()
  return events.slice(0, stopAfter)
}
