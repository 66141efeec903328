import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { encodeEvent } from '../../src/protocol/encoder.js'
import type { OutgoingEvent } from '../../src/protocol/types.js'
import { parseChunks, splitAt, utf8 } from './parse.js'
import { eventStream } from './streams.js'

const outgoingEvent: fc.Arbitrary<OutgoingEvent> = fc.record(
  {
    data: fc.string({ unit: 'binary', maxLength: 40 }),
    event: fc.string({ unit: 'binary', minLength: 1, maxLength: 10 }).filter((text) => !/[\r\n]/.test(text)),
    id: fc.string({ unit: 'binary', maxLength: 10 }).filter((text) => !/[\r\n\0]/.test(text)),
    retry: fc.nat(),
    comment: fc.string({ unit: 'binary', maxLength: 10 }),
  },
  { requiredKeys: ['data'] },
)

// Bytes biased towards UTF-8 structure: ASCII, continuation, lead and never-valid bytes.
const valueByte = fc.oneof(
  fc.integer({ min: 0x00, max: 0x7f }).filter((byte) => byte !== 0x0a && byte !== 0x0d),
  fc.integer({ min: 0x80, max: 0xbf }),
  fc.integer({ min: 0xc0, max: 0xff }),
)

/** The parser's properties; run once per decoding path. */
export function describeParserProperties(): void {
  describe('chunking never changes the result', () => {
    it('splits anywhere: inside multi-byte characters and between CR and LF', () => {
      fc.assert(
        fc.property(
          eventStream,
          fc.array(fc.nat(400), { maxLength: 12 }),
          fc.boolean(),
          (stream, cuts, bom) => {
            const bytes = utf8((bom ? '\uFEFF' : '') + stream)
            expect(parseChunks(splitAt(bytes, cuts))).toEqual(parseChunks([bytes]))
          },
        ),
        { numRuns: 3000 },
      )
    })

    it('gives the same result one byte at a time, as text, and as text and bytes mixed', () => {
      fc.assert(
        fc.property(eventStream, fc.array(fc.nat(400), { maxLength: 6 }), (stream, cuts) => {
          const bytes = utf8(stream)
          const whole = parseChunks([stream])
          expect(parseChunks([...bytes].map((byte) => Uint8Array.of(byte)))).toEqual(whole)
          expect(parseChunks([...stream])).toEqual(whole)
          const mixed = splitAt(bytes, cuts).map((chunk, index) =>
            index % 2 === 0 ? new TextDecoder().decode(chunk) : chunk,
          )
          // A text chunk only ever holds whole characters; compare against the same cut decoded alone.
          const expected = parseChunks([
            mixed
              .map((chunk) => (typeof chunk === 'string' ? chunk : new TextDecoder().decode(chunk)))
              .join(''),
          ])
          expect(parseChunks(mixed)).toEqual(expected)
        }),
        { numRuns: 500 },
      )
    })
  })

  describe('UTF-8 decoding', () => {
    it('decodes any bytes in a value exactly as TextDecoder does, in any chunking', () => {
      fc.assert(
        fc.property(
          fc.array(valueByte, { maxLength: 48 }),
          fc.array(fc.nat(60), { maxLength: 6 }),
          (value, cuts) => {
            const bytes = Uint8Array.from([...utf8('data:'), ...value, 0x0a, 0x0a])
            const expected = new TextDecoder('utf-8', { ignoreBOM: true }).decode(Uint8Array.from(value))
            expect(parseChunks(splitAt(bytes, cuts)).events.map((event) => event.data)).toEqual([
              expected.startsWith(' ') ? expected.slice(1) : expected,
            ])
          },
        ),
        { numRuns: 5000 },
      )
    })
  })

  describe('parse(encode(events))', () => {
    it('gives back the events for arbitrary Unicode, in any chunking', () => {
      fc.assert(
        fc.property(fc.array(outgoingEvent, { maxLength: 10 }), fc.array(fc.nat(600)), (events, cuts) => {
          const wire = utf8(events.map(encodeEvent).join(''))
          let lastEventId = ''
          const expected = events.map((event) => {
            if (event.id !== undefined) lastEventId = event.id
            return {
              data: (event.data ?? '').replace(/\r\n?/g, '\n'),
              event: event.event,
              id: event.id,
              lastEventId,
            }
          })
          const result = parseChunks(splitAt(wire, cuts))
          expect(result.events).toEqual(expected)
          expect(result.retries).toEqual(events.flatMap((event) => event.retry ?? []))
        }),
        { numRuns: 2000 },
      )
    })
  })
}
