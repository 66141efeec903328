import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { nestingExceeds, withUsageRequested } from './request-json.js'

/** How deep a JSON value nests, counted on the parsed value. */
function depth(value: unknown): number {
  if (typeof value !== 'object' || value === null) return 0
  return 1 + Math.max(0, ...Object.values(value).map(depth))
}

describe('request bodies', () => {
  it('nest deeper than a limit exactly when their parsed value does, brackets in strings aside', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 8 }), fc.integer({ min: 0, max: 8 }), (value, limit) => {
        const text = JSON.stringify(value)
        expect(nestingExceeds(text, limit)).toBe(depth(value) > limit)
      }),
      { numRuns: 2000 },
    )
    expect(nestingExceeds('{"a":"[[[[{{{{\\"[[["}', 1)).toBe(false)
    expect(nestingExceeds('['.repeat(257), 256)).toBe(true)
  })

  it('ask for usage as their first member, the client’s bytes otherwise as sent', () => {
    fc.assert(
      fc.property(
        // A streamed request: it has `"stream": true` at least.
        fc.dictionary(
          fc.string().filter((key) => key !== 'stream_options' && key !== 'stream'),
          fc.jsonValue(),
        ),
        fc.constantFrom('', ' ', '\n  '),
        (members, space) => {
          const body = Buffer.from(`${space}${JSON.stringify({ stream: true, ...members })}`)
          const rewritten = Buffer.concat(withUsageRequested(body)).toString('utf8')
          expect(rewritten).toBe(
            `${space}{"stream_options":{"include_usage":true},${body.toString('utf8').slice(space.length + 1)}`,
          )
          expect(JSON.parse(rewritten)).toEqual({
            stream_options: { include_usage: true },
            ...JSON.parse(body.toString('utf8')),
          })
        },
      ),
      { numRuns: 500 },
    )
  })
})
