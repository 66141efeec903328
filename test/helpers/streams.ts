import fc from 'fast-check'

const value = fc.string({ unit: 'binary', maxLength: 12 }).map((text) => text.replace(/[\r\n]/g, ''))
const lineEnd = fc.constantFrom('\n', '\r', '\r\n')

/** Streams that exercise every rule: known and unknown fields, odd separators, comments, blank lines. */
export const eventStream = fc
  .array(
    fc.oneof(
      fc.constant(''),
      fc
        .tuple(
          fc.constantFrom('data', 'data', 'data', 'event', 'id', 'retry', '', 'dat', 'x'),
          fc.constantFrom(':', ': ', '', ':  ', ' :'),
          fc.oneof(value, fc.constantFrom('1000', '12a', '\0', '😀')),
        )
        .map(([name, separator, text]) => name + separator + text),
    ),
    { maxLength: 30 },
  )
  .chain((lines) =>
    fc
      .array(lineEnd, { minLength: lines.length, maxLength: lines.length })
      .map((ends) => lines.map((line, index) => line + ends[index]).join('')),
  )
