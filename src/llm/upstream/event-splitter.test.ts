import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createParser } from '../../protocol/parser.js'
import type { ServerSentEvent } from '../../protocol/types.js'
import { EventSplitter } from './event-splitter.js'

function parseAll(chunks: readonly (string | Uint8Array)[]): ServerSentEvent[] {
  const events: ServerSentEvent[] = []
  const parser = createParser({ onEvent: (event) => events.push(event) })
  for (const chunk of chunks) parser.feed(chunk)
  return events
}

function split(text: string, cuts: number[]): Buffer[] {
  const bytes = Buffer.from(text)
  const splitter = new EventSplitter()
  const out: Buffer[] = []
  let previous = 0
  for (const cut of [...new Set(cuts.map((cut) => cut % (bytes.length + 1)))].sort((a, b) => a - b)) {
    out.push(...splitter.push(bytes.subarray(previous, cut)))
    previous = cut
  }
  out.push(...splitter.push(bytes.subarray(previous)))
  return out
}

describe('EventSplitter', () => {
  it('cuts OpenAI and Anthropic streams into their events, byte for byte', () => {
    const openai = 'data: {"a":1}\n\ndata: [DONE]\n\n'
    expect(split(openai, [3, 15]).map(String)).toEqual(['data: {"a":1}\n\n', 'data: [DONE]\n\n'])
    const anthropic = 'event: ping\r\ndata: {}\r\n\r\nevent: message_stop\r\ndata: {}\r\n\r\n'
    expect(split(anthropic, [10, 30]).map(String)).toEqual([
      'event: ping\r\ndata: {}\r\n\r\n',
      'event: message_stop\r\ndata: {}\r\n\r\n',
    ])
    expect(split(': keep-alive\n\n\n\ndata: x\r\rdata: y\n\n', [16]).map(String)).toEqual([
      ': keep-alive\n\n',
      'data: x\r\r',
      'data: y\n\n',
    ])
  })

  it('holds back an event until its blank line arrives', () => {
    const splitter = new EventSplitter()
    expect(splitter.push(Buffer.from('data: a\n'))).toEqual([])
    expect(splitter.pending).toBe(8)
    expect(splitter.push(Buffer.from('\ndata: b\r')).map(String)).toEqual(['data: a\n\n'])
    expect(splitter.push(Buffer.from('\r')).map(String)).toEqual(['data: b\r\r'])
    // The LF of a CRLF that arrives after the event was cut is not relayed as an empty line.
    expect(splitter.push(Buffer.from('\ndata: c\n\n')).map(String)).toEqual(['data: c\n\n'])
  })

  it('relayed events, each parsed on its own, are the events of the whole stream (any chunking, any line ends)', () => {
    const line = fc.oneof(
      fc.constantFrom('data: x', 'data:', 'event: e', 'id: 7', ': c', 'retry: 5', 'data: ünï 🚀'),
      fc.string({ unit: fc.constantFrom('a', ':', ' ', 'é') }),
    )
    const ending = fc.constantFrom('\n', '\r', '\r\n')
    const block = fc.tuple(fc.array(fc.tuple(line, ending), { minLength: 1, maxLength: 4 }), ending)
    fc.assert(
      fc.property(fc.array(block, { maxLength: 6 }), fc.array(fc.nat(), { maxLength: 8 }), (blocks, cuts) => {
        const text = blocks
          .map(([lines, end]) => lines.map(([content, lineEnd]) => content + lineEnd).join('') + end)
          .join('')
        const events = split(text, cuts)
        expect(Buffer.concat(events).length).toBeLessThanOrEqual(Buffer.byteLength(text))
        // Each relayed piece is a whole event: parsing them one parser each gives the same events.
        const separately = events.flatMap((event) => parseAll([event]).map((parsed) => parsed.data))
        expect(separately).toEqual(parseAll([text]).map((parsed) => parsed.data))
      }),
      { numRuns: 500 },
    )
  })
})
