import { describe, expect, it } from 'vitest'
import { parseChunks } from '../../test/helpers/parse.js'
import { encodeEvent, encodeEventBytes } from './encoder.js'

describe('encodeEvent', () => {
  it('writes id, event and data in order and ends the block with a blank line', () => {
    expect(encodeEvent({ id: '1', event: 'update', data: '{"a":1}' })).toBe(
      'id: 1\nevent: update\ndata: {"a":1}\n\n',
    )
  })

  it('splits data on CR, LF and CRLF into data lines', () => {
    expect(encodeEvent({ data: 'a\nb\r\nc\rd' })).toBe('data: a\ndata: b\ndata: c\ndata: d\n\n')
    expect(encodeEvent({ data: '' })).toBe('data: \n\n')
    expect(encodeEvent({ data: '\n' })).toBe('data: \ndata: \n\n')
  })

  it('keeps leading spaces of data lines (the one after the colon is the separator)', () => {
    const wire = encodeEvent({ data: '  indented\n x' })
    expect(parseChunks([wire]).events[0]?.data).toBe('  indented\n x')
  })

  it('writes comments as ": text" lines without a blank line, for heartbeats', () => {
    expect(encodeEvent({ comment: 'ping' })).toBe(': ping\n')
    expect(encodeEvent({ comment: 'two\nlines' })).toBe(': two\n: lines\n')
  })

  it('writes retry and an id-only block', () => {
    expect(encodeEvent({ retry: 2500 })).toBe('retry: 2500\n')
    expect(encodeEvent({ retry: 0, id: '9' })).toBe('retry: 0\nid: 9\n\n')
    expect(encodeEvent({ id: '' })).toBe('id: \n\n')
  })

  it.each([
    [{ id: 'a\nb' }, /^id must not contain CR, LF or NUL$/],
    [{ id: 'a\rb' }, /^id/],
    [{ id: 'a\0b' }, /^id/],
    [{ event: 'a\nb' }, /^event must not contain CR or LF$/],
    [{ event: 'a\rb' }, /^event/],
    [{ retry: -1 }, /^retry must be a non-negative integer/],
    [{ retry: 1.5 }, /^retry/],
    [{ retry: Number.NaN }, /^retry/],
    [{ data: 42 as unknown as string }, /^data must be a string/],
  ])('refuses %j with a TypeError naming the field', (event, reason) => {
    expect(() => encodeEvent(event)).toThrow(TypeError)
    expect(() => encodeEvent(event)).toThrow(reason)
  })

  it('encodes bytes identical to the string form', () => {
    const event = { id: 'é', event: 'x', data: '😀\nb', comment: 'c', retry: 5 }
    expect(new TextDecoder().decode(encodeEventBytes(event))).toBe(encodeEvent(event))
    expect(encodeEventBytes(event)).toBeInstanceOf(Uint8Array)
  })

  it('round-trips through the parser', () => {
    const wire = encodeEvent({ comment: 'hi', retry: 10, id: '3', event: 'e', data: 'a\r\nb' })
    expect(parseChunks([wire])).toEqual({
      events: [{ data: 'a\nb', event: 'e', id: '3', lastEventId: '3' }],
      retries: [10],
      comments: ['hi'],
      lastEventId: '3',
    })
  })
})
