import { describe, expect, it } from 'vitest'
import { parseChunks, utf8 } from '../../test/helpers/parse.js'
import { ParseError } from './errors.js'
import { createParser } from './parser.js'
import type { ServerSentEvent } from './types.js'

const message = (data: string, lastEventId = '', extra: Partial<ServerSentEvent> = {}): ServerSentEvent => ({
  data,
  event: undefined,
  id: undefined,
  lastEventId,
  ...extra,
})

// https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
describe('the spec’s own examples', () => {
  it('joins three data lines into one message', () => {
    const { events } = parseChunks(['data: YHOO\ndata: +2\ndata: 10\n\n'])
    expect(events).toEqual([message('YHOO\n+2\n10')])
  })

  it('sets, keeps and clears the last event ID; needs a blank line to dispatch the last block', () => {
    const stream =
      ': test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\ndata:  third event\n'
    const { events, comments } = parseChunks([stream])
    expect(comments).toEqual(['test stream'])
    expect(events).toEqual([
      message('first event', '1', { id: '1' }),
      message('second event', '', { id: '' }),
    ])
    expect(parseChunks([`${stream}\n`]).events[2]).toEqual(message(' third event'))
  })

  it('dispatches empty data and a lone newline; discards the unterminated block', () => {
    const { events } = parseChunks(['data\n\ndata\ndata\n\ndata:'])
    expect(events).toEqual([message(''), message('\n')])
  })

  it('treats "data:test" and "data: test" alike', () => {
    const { events } = parseChunks(['data:test\n\ndata: test\n\n'])
    expect(events).toEqual([message('test'), message('test')])
  })
})

describe('decoding', () => {
  it('drops one leading byte order mark, also when it arrives byte by byte', () => {
    const bytes = utf8('\uFEFFdata: a\n\n')
    expect(parseChunks([bytes]).events).toEqual([message('a')])
    expect(parseChunks([...bytes].map((byte) => Uint8Array.of(byte))).events).toEqual([message('a')])
    expect(parseChunks(['\uFEFFdata: a\n\n']).events).toEqual([message('a')])
  })

  it('keeps a second byte order mark and one that does not start the stream', () => {
    expect(parseChunks(['\uFEFF\uFEFFdata: a\n\n']).events).toEqual([])
    expect(parseChunks(['data: \uFEFFa\n\n']).events).toEqual([message('\uFEFFa')])
  })

  it('decodes a multi-byte character split across chunks', () => {
    const bytes = utf8('data: 😀é€\n\n')
    for (let cut = 0; cut <= bytes.length; cut++) {
      const { events } = parseChunks([bytes.subarray(0, cut), bytes.subarray(cut)])
      expect(events).toEqual([message('😀é€')])
    }
  })

  it('replaces invalid UTF-8 with U+FFFD as the WHATWG decoder does', () => {
    const bytes = Uint8Array.of(...utf8('data: '), 0xff, 0xe2, 0x82, 0x41, ...utf8('\n\n'))
    expect(parseChunks([bytes]).events).toEqual([message('\uFFFD\uFFFDA')])
  })

  it('accepts string and byte chunks mixed', () => {
    const { events } = parseChunks(['data: a', utf8('b\n'), '\n'])
    expect(events).toEqual([message('ab')])
  })
})

describe('line ends', () => {
  it('accepts CR, LF and CRLF', () => {
    for (const end of ['\r', '\n', '\r\n']) {
      const { events } = parseChunks([`data: a${end}data: b${end}${end}`])
      expect(events, JSON.stringify(end)).toEqual([message('a\nb')])
    }
  })

  it('dispatches at a CR without waiting for more input', () => {
    const { events } = parseChunks(['data: a\r\r'])
    expect(events).toEqual([message('a')])
  })

  it('skips an LF that follows a CR at the start of the next chunk', () => {
    const { events } = parseChunks(['data: a\r', '\ndata: b\r', '\n\r', '\n'])
    expect(events).toEqual([message('a\nb')])
  })

  it('does not skip an LF after a CR once other input came between', () => {
    const { events } = parseChunks(['data: a\r', '', 'x', '\n\n'])
    expect(events).toEqual([message('a')])
  })
})

describe('fields', () => {
  it('strips exactly one leading space from a value', () => {
    const { events } = parseChunks(['data:  two\nevent:  spaced\n\n'])
    expect(events).toEqual([message(' two', '', { event: ' spaced' })])
  })

  it('treats a line without a colon as a field with an empty value', () => {
    const { events } = parseChunks(['data\nevent\n\n'])
    expect(events).toEqual([message('')])
  })

  it('needs the exact field name (no space before the colon, case-sensitive)', () => {
    const { events } = parseChunks(['data : x\nData: y\n\ndata: z\n\n'])
    expect(events).toEqual([message('z')])
  })

  it('does not dispatch a block without data, but still applies its id', () => {
    const { events, lastEventId } = parseChunks(['id: 5\n\n', 'event: x\n\n', 'data: a\n\n'])
    expect(events).toEqual([message('a', '5')])
    expect(lastEventId).toBe('5')
  })

  it('reports event and id as set in the event’s own block only', () => {
    const { events } = parseChunks(['event: add\nid: 1\ndata: a\n\ndata: b\n\nevent:\ndata: c\n\n'])
    expect(events).toEqual([
      message('a', '1', { event: 'add', id: '1' }),
      message('b', '1'),
      message('c', '1'),
    ])
  })

  it('ignores an id containing NUL', () => {
    const { events } = parseChunks(['id: 1\ndata: a\n\nid: 2\u00003\ndata: b\n\n'])
    expect(events).toEqual([message('a', '1', { id: '1' }), message('b', '1')])
  })

  it('updates the last event ID only when the block is dispatched', () => {
    const parser = createParser({ onEvent: () => {} })
    parser.feed('id: 7\ndata: a\n')
    expect(parser.lastEventId).toBe('')
    parser.feed('\n')
    expect(parser.lastEventId).toBe('7')
  })

  it('accepts retry only when it is all ASCII digits', () => {
    const { retries, events } = parseChunks([
      'retry: 1000\nretry: 03000\nretry: 1000x\nretry: -1\nretry: 1.5\nretry:\nretry: ١٢\ndata: a\n\n',
    ])
    expect(retries).toEqual([1000, 3000])
    expect(events).toEqual([message('a')])
  })

  it('ignores unknown fields and comments', () => {
    const { events, comments } = parseChunks([':hi\n: there\nfoo: bar\nfoo\n:\ndata: a\n\n'])
    expect(events).toEqual([message('a')])
    expect(comments).toEqual(['hi', 'there', ''])
  })

  it('lets an event be named "message" or anything else', () => {
    const { events } = parseChunks(['event: message\ndata: a\n\nevent: open\ndata: b\n\n'])
    expect(events.map((event) => event.event)).toEqual(['message', 'open'])
  })
})

describe('end of stream and reset', () => {
  it('discards the pending event and line on reset, keeps the last event ID', () => {
    const events: ServerSentEvent[] = []
    const parser = createParser({ onEvent: (event) => events.push(event) })
    parser.feed('id: 1\ndata: a\n\nid: 2\ndata: b\n')
    parser.reset()
    parser.feed('data: c\n\n')
    expect(events).toEqual([message('a', '1', { id: '1' }), message('c', '1')])
    expect(parser.lastEventId).toBe('1')
  })

  it('starts from a given last event ID', () => {
    const { events } = parseChunks(['data: a\n\n'], { lastEventId: '42' })
    expect(events).toEqual([message('a', '42')])
  })

  it('strips a byte order mark again after reset (a new stream)', () => {
    const events: ServerSentEvent[] = []
    const parser = createParser({ onEvent: (event) => events.push(event) })
    parser.feed('\uFEFFdata: a\n\n')
    parser.reset()
    parser.feed('\uFEFFdata: b\n\n')
    expect(events.map((event) => event.data)).toEqual(['a', 'b'])
  })

  it('lets onEvent reset the parser', () => {
    const events: string[] = []
    const parser = createParser({
      onEvent: (event) => {
        events.push(event.data)
        parser.reset()
      },
    })
    parser.feed('data: a\n\ndata: b\n\n')
    expect(events).toEqual(['a', 'b'])
  })
})

describe('bounded memory', () => {
  it('reports a line over the limit that arrives in pieces, and resumes after the event', () => {
    const errors: ParseError[] = []
    const events: string[] = []
    const parser = createParser({
      maxEventSize: 100,
      onEvent: (event) => events.push(event.data),
      onError: (error) => errors.push(error),
    })
    parser.feed('data: ok\n\ndata: ')
    for (let index = 0; index < 50; index++) parser.feed('x'.repeat(10))
    parser.feed('\ndata: tail of the dropped event\n\ndata: next\n\n')
    expect(events).toEqual(['ok', 'next'])
    expect(errors).toHaveLength(1)
    expect(errors[0]).toBeInstanceOf(ParseError)
    expect(errors[0]?.code).toBe('SG_ERR_EVENT_TOO_LARGE')
  })

  it('reports an event whose data lines add up past the limit', () => {
    const errors: ParseError[] = []
    const { events } = parseChunks([`${'data: 0123456789\n'.repeat(20)}\n`, 'data: small\n\n'], {
      maxEventSize: 100,
      onError: (error) => errors.push(error),
    })
    expect(events.map((event) => event.data)).toEqual(['small'])
    expect(errors.map((error) => error.code)).toEqual(['SG_ERR_EVENT_TOO_LARGE'])
  })

  it('reports a single oversized line inside one chunk', () => {
    const errors: ParseError[] = []
    const { events } = parseChunks([`event: ${'y'.repeat(200)}\ndata: a\n\ndata: b\n\n`], {
      maxEventSize: 100,
      onError: (error) => errors.push(error),
    })
    expect(events.map((event) => event.data)).toEqual(['b'])
    expect(errors).toHaveLength(1)
  })

  it('throws the error from feed when there is no onError', () => {
    const parser = createParser({ maxEventSize: 10, onEvent: () => {} })
    expect(() => parser.feed(`data: ${'z'.repeat(20)}`)).toThrow(ParseError)
  })

  it('parses text normally after throwing out of a non-ASCII byte chunk', () => {
    const events: string[] = []
    const parser = createParser({ maxEventSize: 10, onEvent: (event) => events.push(event.data) })
    expect(() => parser.feed(utf8(`data: é\n\ndata: ${'z'.repeat(20)}\n`))).toThrow(ParseError)
    parser.feed('\ndata: ü\n\n')
    expect(events).toEqual(['é', 'ü'])
  })

  it('keeps a line whose end lands exactly at the limit', () => {
    const { events } = parseChunks(['data: ', 'x'.repeat(94), '\n\n'], { maxEventSize: 100 })
    expect(events.map((event) => event.data.length)).toEqual([94])
  })

  it('does not read a lone LF after an oversized carried line as a blank line', () => {
    const errors: ParseError[] = []
    const events: string[] = []
    const parser = createParser({
      maxEventSize: 10,
      onEvent: (event) => events.push(event.data),
      onError: (error) => errors.push(error),
    })
    parser.feed(`data: ${'x'.repeat(20)}`)
    parser.feed('\n')
    parser.feed('data: rest\n\ndata: ok\n\n')
    expect(events).toEqual(['ok'])
    expect(errors).toHaveLength(1)
  })
})
