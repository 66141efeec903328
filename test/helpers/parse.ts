import { createParser, type ParserOptions } from '../../src/protocol/parser.js'
import type { ServerSentEvent } from '../../src/protocol/types.js'

export interface ParseResult {
  events: ServerSentEvent[]
  retries: number[]
  comments: string[]
  lastEventId: string
}

/** Feeds every chunk to one parser and records what it reports. */
export function parseChunks(
  chunks: Iterable<string | Uint8Array>,
  options: Partial<ParserOptions> = {},
): ParseResult {
  const result: ParseResult = { events: [], retries: [], comments: [], lastEventId: '' }
  const parser = createParser({
    onEvent: (event) => result.events.push(event),
    onRetry: (retry) => result.retries.push(retry),
    onComment: (comment) => result.comments.push(comment),
    ...options,
  })
  for (const chunk of chunks) parser.feed(chunk)
  result.lastEventId = parser.lastEventId
  return result
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text)

/** Splits bytes at the given offsets (sorted, deduplicated, within range). */
export function splitAt(bytes: Uint8Array, offsets: number[]): Uint8Array[] {
  const cuts = [...new Set(offsets.map((offset) => Math.min(Math.max(offset, 0), bytes.length)))].sort(
    (a, b) => a - b,
  )
  const chunks: Uint8Array[] = []
  let start = 0
  for (const cut of [...cuts, bytes.length]) {
    chunks.push(bytes.subarray(start, cut))
    start = cut
  }
  return chunks
}
