import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { ChunkedDecoder, ChunkedEncodingError } from './chunked-decoder.js'

/** Feeds `wire` cut at `cuts`, each read a buffer of its own (as a socket gives them). */
function decode(wire: Buffer, cuts: number[]): { body: Buffer; done: boolean } {
  const decoder = new ChunkedDecoder()
  const parts: Buffer[] = []
  let previous = 0
  for (const cut of [...new Set(cuts.map((cut) => cut % (wire.length + 1))), wire.length].sort(
    (a, b) => a - b,
  )) {
    // Copied: the decoder works in place, as it may on a socket read.
    parts.push(Buffer.from(decoder.decode(Buffer.from(wire.subarray(previous, cut)))))
    previous = cut
  }
  return { body: Buffer.concat(parts), done: decoder.done }
}

const encode = (chunks: string[], tail = '0\r\n\r\n') =>
  Buffer.from(
    `${chunks.map((chunk) => `${Buffer.byteLength(chunk).toString(16)}\r\n${chunk}\r\n`).join('')}${tail}`,
  )

describe('ChunkedDecoder', () => {
  it('gives back the body of any chunking, however the reads cut it', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ minLength: 1, maxLength: 300, unit: 'binary' }), { maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        fc.constantFrom('', ';name=value', ' ; ext'),
        fc.constantFrom('', 'x-trailer: 1\r\n', 'a: b\r\nc: d\r\n'),
        fc.boolean(),
        (chunks, cuts, extension, trailer, upperHex) => {
          const wire = Buffer.from(
            `${chunks
              .map((chunk) => {
                const size = Buffer.byteLength(chunk).toString(16)
                return `${upperHex ? size.toUpperCase() : size}${extension}\r\n${chunk}\r\n`
              })
              .join('')}0${extension}\r\n${trailer}\r\n`,
          )
          const { body, done } = decode(wire, cuts)
          expect(body.toString()).toBe(chunks.join(''))
          expect(done).toBe(true)
        },
      ),
      { numRuns: 500 },
    )
  })

  it('is not done before the last chunk and the blank line after it', () => {
    const wire = encode(['data: a\n\n'])
    for (let end = 0; end < wire.length; end++) expect(decode(wire.subarray(0, end), []).done).toBe(false)
    expect(decode(wire, []).done).toBe(true)
  })

  it('takes bare LF line ends, as lenient parsers do', () => {
    expect(decode(Buffer.from('3\nabc\n0\n\n'), []).body.toString()).toBe('abc')
  })

  it.each([
    ['a size that is not hexadecimal', 'zz\r\nabc\r\n0\r\n\r\n', /not hexadecimal|does not start/],
    ['a missing size', '\r\nabc\r\n', /does not start with its size/],
    ['data longer than its size', '2\r\nabc\r\n0\r\n\r\n', /longer than its size/],
    ['a bare CR after the size', '3\rabc\r\n', /bare CR/],
    ['a size past 2^52', `${'f'.repeat(14)}\r\n`, /too large/],
    ['bytes after the end', '0\r\n\r\nHTTP/1.1 200 OK\r\n', /after the end/],
  ])('refuses %s', (_, wire, message) => {
    const decoder = new ChunkedDecoder()
    expect(() => decoder.decode(Buffer.from(wire))).toThrow(ChunkedEncodingError)
    expect(() => new ChunkedDecoder().decode(Buffer.from(wire))).toThrow(message)
  })
})
