// A reference implementation of the WHATWG "Server-sent events" parsing algorithm (§9.2.5–9.2.6),
// written for the fuzzer to be obviously right rather than fast: the whole stream decoded at once,
// split into lines, each line interpreted as the specification words it.
import type { ServerSentEvent } from '../../src/protocol/types.js'
import type { ParseResult } from '../helpers/parse.js'

export function referenceParse(bytes: Uint8Array): ParseResult {
  // "Streams must be decoded using the UTF-8 decode algorithm": BOM stripped, errors replaced.
  const text = new TextDecoder('utf-8').decode(bytes)
  const result: ParseResult = { events: [], retries: [], comments: [], lastEventId: '' }
  let data = ''
  let eventType = ''
  let lastEventId = ''
  // The event source's "last event ID string": set from the buffer at every dispatch (a blank
  // line), also one that dispatches nothing; what a reconnection sends.
  let sourceLastEventId = ''
  // What the event's own block set (the API reports these besides the last-event-ID buffer).
  let blockEvent: string | undefined
  let blockId: string | undefined
  // Lines end with CRLF, LF or CR; text after the last line end is an incomplete line, ignored.
  const lines: string[] = []
  let start = 0
  for (let index = 0; index < text.length; index++) {
    const char = text[index]
    if (char === '\r' || char === '\n') {
      lines.push(text.slice(start, index))
      if (char === '\r' && text[index + 1] === '\n') index++
      start = index + 1
    }
  }
  for (const line of lines) {
    if (line === '') {
      sourceLastEventId = lastEventId
      if (data === '') {
        eventType = ''
        blockEvent = undefined
        blockId = undefined
        continue
      }
      if (data.endsWith('\n')) data = data.slice(0, -1)
      const event: ServerSentEvent = {
        data,
        event: blockEvent !== undefined && eventType !== '' ? eventType : undefined,
        id: blockId,
        lastEventId,
      }
      result.events.push(event)
      data = ''
      eventType = ''
      blockEvent = undefined
      blockId = undefined
      continue
    }
    if (line.startsWith(':')) {
      result.comments.push(line.slice(1).startsWith(' ') ? line.slice(2) : line.slice(1))
      continue
    }
    const colon = line.indexOf(':')
    const field = colon === -1 ? line : line.slice(0, colon)
    let value = colon === -1 ? '' : line.slice(colon + 1)
    if (value.startsWith(' ')) value = value.slice(1)
    switch (field) {
      case 'event':
        eventType = value
        blockEvent = value
        break
      case 'data':
        data += `${value}\n`
        break
      case 'id':
        if (!value.includes('\0')) {
          lastEventId = value
          blockId = value
        }
        break
      case 'retry':
        if (/^[0-9]+$/.test(value)) result.retries.push(Number(value))
        break
      default:
      // Other fields are ignored.
    }
  }
  result.lastEventId = sourceLastEventId
  return result
}
