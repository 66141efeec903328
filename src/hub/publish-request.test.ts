import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { PublishError, parsePublishBody } from './publish-request.js'

const FORM = 'application/x-www-form-urlencoded'
const bytes = (text: string) => new TextEncoder().encode(text)

describe('parsePublishBody', () => {
  it('parses a 1 MiB body of repeated fields in linear time (it took 11 s for 120 KB when quadratic)', () => {
    const body = bytes('data=x&'.repeat(Math.floor((1024 * 1024) / 7)))
    const started = performance.now()
    expect(() => parsePublishBody(FORM, body)).toThrow(/the field data may appear only once/)
    // A bound for the complexity, not a speed target: linear takes milliseconds, quadratic minutes.
    expect(performance.now() - started).toBeLessThan(2000)
  })

  it('refuses more topics than --max-topics allows', () => {
    const body = bytes(`${Array.from({ length: 101 }, (_, index) => `topic=t${index}`).join('&')}&data=x`)
    expect(() => parsePublishBody(FORM, body)).toThrow(
      expect.objectContaining({ status: 400, code: 'SG_ERR_TOO_MANY_TOPICS' }),
    )
    expect(parsePublishBody(FORM, body, 101).topics).toHaveLength(101)
  })

  it('refuses a topic longer than a selector may be (every pattern subscriber would run through it)', () => {
    const long = `https://example.com/${'x'.repeat(1005)}`
    expect(long.length).toBe(1025)
    expect(() => parsePublishBody(FORM, bytes(`topic=${long}&data=x`))).toThrow(/at most 1024 characters/)
    expect(parsePublishBody(FORM, bytes(`topic=${long.slice(1)}&data=x`)).topics).toEqual([long.slice(1)])
  })

  it('for random form and JSON bodies: an update, or a PublishError with a reason, and nothing else', () => {
    const field = fc.constantFrom(
      'topic',
      'data',
      'id',
      'type',
      'retry',
      'private',
      'x',
      '',
      '%',
      '%ff',
      '%E6%97%A5',
    )
    const value = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 12 }),
      fc.constantFrom('%', '%zz', '%c3', '+', '&', '='),
    )
    const form = fc
      .array(fc.tuple(field, value), { maxLength: 12 })
      .map((pairs) => pairs.map(([name, text]) => `${name}=${text}`).join('&'))
    const json = fc.jsonValue().map((value) => JSON.stringify(value))
    fc.assert(
      fc.property(
        fc.oneof(
          form.map((text) => [FORM, text] as const),
          json.map((text) => ['application/json', text] as const),
        ),
        ([type, text]) => {
          try {
            const update = parsePublishBody(type, bytes(text))
            expect(update.topics.length).toBeGreaterThan(0)
          } catch (error) {
            expect(error).toBeInstanceOf(PublishError)
            expect((error as PublishError).message).not.toBe('')
          }
        },
      ),
      { numRuns: 3000 },
    )
  })
})
