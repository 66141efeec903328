import fc from 'fast-check'
import { expect } from 'vitest'
import { parseChunks, splitAt, utf8 } from '../helpers/parse.js'
import { eventStream } from '../helpers/streams.js'
import { referenceParse } from './reference-parser.js'

// Random streams: the structured ones of the property tests, and raw bytes biased towards the
// characters that matter (line ends, colons, spaces, field names, UTF-8 lead and continuation
// bytes), each cut into random chunks.
const interestingByte = fc.oneof(
  fc.constantFrom(0x0a, 0x0d, 0x3a, 0x20, 0x00, 0xef, 0xbb, 0xbf),
  fc.constantFrom(...utf8('dataeventidretry')),
  fc.integer({ min: 0, max: 0xff }),
)
const rawStream = fc.array(interestingByte, { maxLength: 200 }).map((bytes) => Uint8Array.from(bytes))
const anyStream = fc.oneof(
  eventStream.map((text) => utf8(text)),
  fc.tuple(fc.boolean(), eventStream).map(([bom, text]) => utf8((bom ? '\uFEFF' : '') + text)),
  rawStream,
)

/** Our parser, fed in random chunks, against the reference on the whole stream. */
export function fuzzParser(runs: number, seed?: number): void {
  fc.assert(
    fc.property(anyStream, fc.array(fc.nat(220), { maxLength: 10 }), (bytes, cuts) => {
      expect(parseChunks(splitAt(bytes, cuts))).toEqual(referenceParse(bytes))
    }),
    { numRuns: runs, seed },
  )
}
