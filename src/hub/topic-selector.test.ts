import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  checkWildcards,
  exactSelector,
  SelectorError,
  selectorMatches,
  type TopicSelector,
  uriTemplateSelector,
  urlPatternSelector,
} from './topic-selector.js'

const matches = (selector: TopicSelector, topic: string) => selectorMatches(selector, topic)

describe('topic selectors', () => {
  it('matches exactly, or everything with *', () => {
    expect(matches(exactSelector('https://example.com/books/1'), 'https://example.com/books/1')).toBe(true)
    expect(matches(exactSelector('https://example.com/books/1'), 'https://example.com/books/10')).toBe(false)
    expect(matches(exactSelector('*'), 'anything')).toBe(true)
  })

  it('matches RFC 6570 URI templates', () => {
    const books = uriTemplateSelector('https://example.com/books/{id}')
    expect(matches(books, 'https://example.com/books/1')).toBe(true)
    expect(matches(books, 'https://example.com/books/abc-9')).toBe(true)
    expect(matches(books, 'https://example.com/books/1/reviews')).toBe(false)
    expect(matches(books, 'https://example.com/users/1')).toBe(false)
    const reserved = uriTemplateSelector('https://example.com/{+path}')
    expect(matches(reserved, 'https://example.com/a/b/c')).toBe(true)
    const path = uriTemplateSelector('https://example.com/users{/id}/posts')
    expect(matches(path, 'https://example.com/users/7/posts')).toBe(true)
    expect(matches(uriTemplateSelector('https://example.com/books/1'), 'https://example.com/books/1')).toBe(
      true,
    )
    expect(() => uriTemplateSelector('https://example.com/{id')).toThrow(SelectorError)
  })

  it('matches the URL Pattern subset: :name and *', () => {
    const book = urlPatternSelector('https://example.com/books/:id')
    expect(matches(book, 'https://example.com/books/42')).toBe(true)
    expect(matches(book, 'https://example.com/books/')).toBe(false)
    expect(matches(book, 'https://example.com/books/42/x')).toBe(false)
    const all = urlPatternSelector('https://example.com/books/*')
    expect(matches(all, 'https://example.com/books/42/reviews/1')).toBe(true)
    expect(matches(urlPatternSelector('https://example.com/a\\:b'), 'https://example.com/a:b')).toBe(true)
  })

  it.each(['https://example.com/(\\d+)', 'https://example.com/{a}?', 'https://example.com/:id?', ''])(
    'refuses %j with a reason',
    (pattern) => {
      expect(() => urlPatternSelector(pattern)).toThrow(SelectorError)
    },
  )

  it('refuses selectors over the length bound', () => {
    expect(() => exactSelector('x'.repeat(2000))).toThrow(/longer than 1024/)
  })

  it('stays fast on patterns built to make a backtracking matcher explode', () => {
    const hostile = urlPatternSelector(`https://e/${'*a'.repeat(40)}b`)
    const topic = `https://e/${'a'.repeat(4000)}`
    const started = performance.now()
    expect(matches(hostile, topic)).toBe(false)
    // A regular expression of the same shape takes longer than the age of the universe.
    expect(performance.now() - started).toBeLessThan(1000)
  })

  it('agrees with a reference glob matcher on random patterns', () => {
    const alphabet = fc.constantFrom('a', 'b', '/')
    fc.assert(
      fc.property(
        fc.array(fc.oneof(alphabet, fc.constant('*')), { minLength: 1, maxLength: 8 }),
        fc.array(alphabet, { maxLength: 10 }),
        (pattern, topic) => {
          const source = pattern.join('')
          const expected = new RegExp(`^${source.replace(/\*/g, '.*')}$`).test(topic.join(''))
          expect(matches(urlPatternSelector(source), topic.join(''))).toBe(expected)
        },
      ),
      { numRuns: 2000 },
    )
  })

  it('merges runs of stars, so that 1,023 stars cost what one does', () => {
    const stars = urlPatternSelector('*'.repeat(1023))
    expect(stars).toMatchObject({ kind: 'pattern', wildcards: 1, minLength: 0 })
    expect(matches(stars, 'https://e/a?b#c')).toBe(true)
    const run = urlPatternSelector(`https://e/${'*'.repeat(1000)}/x`)
    expect(run.kind === 'pattern' && run.wildcards).toBe(1)
    expect(matches(run, 'https://e/a/b/x')).toBe(true)
    // A segment run next to an any run is an any run; two segment runs are one.
    const template = uriTemplateSelector('https://e/{a}{b}{+c}')
    expect(template.kind === 'pattern' && template.wildcards).toBe(1)
    expect(matches(template, 'https://e/x/y/z')).toBe(true)
    const segments = uriTemplateSelector('https://e/{a}{b}')
    expect(segments.kind === 'pattern' && segments.wildcards).toBe(1)
    expect(matches(segments, 'https://e/x/y')).toBe(false)
  })

  it('counts wildcards over a subscription, and refuses more than the budget with the count', () => {
    const selectors = [
      urlPatternSelector('https://e/:a/:b'),
      uriTemplateSelector('https://e/{x}/{y}/{z}'),
      exactSelector('https://e/1'),
    ]
    expect(() => checkWildcards(selectors, 5)).not.toThrow()
    expect(() => checkWildcards(selectors, 4)).toThrow(/at most 4 wildcards .*these hold 5/)
    expect(() => checkWildcards(selectors, 4)).toThrow(SelectorError)
  })

  it('agrees with a reference matcher on random URI templates and URL patterns, segments included', () => {
    // The reference: the same pattern as a regular expression, built part by part (short patterns).
    const templateParts: Record<string, string> = {
      a: 'a',
      b: 'b',
      '/': '/',
      '{x}': '[^/?#]*',
      '{+x}': '.*',
      '{/x}': '/[^/?#]*',
      '{?x}': '\\?.*',
    }
    const patternParts: Record<string, string> = {
      a: 'a',
      b: 'b',
      '/': '/',
      '?': '\\?',
      ':n/': '[^/?#]+/',
      '*': '.*',
    }
    const topics = fc
      .array(fc.constantFrom('a', 'b', '/', '?'), { maxLength: 10 })
      .map((chars) => chars.join(''))
    const check = (parts: Record<string, string>, build: (source: string) => TopicSelector) =>
      fc.property(
        fc.array(fc.constantFrom(...Object.keys(parts)), { minLength: 1, maxLength: 7 }),
        topics,
        (pieces, topic) => {
          const source = pieces.join('')
          fc.pre(source !== '*')
          const expected = new RegExp(`^${pieces.map((piece) => parts[piece]).join('')}$`).test(topic)
          expect(matches(build(source), topic)).toBe(expected)
        },
      )
    fc.assert(check(templateParts, uriTemplateSelector), { numRuns: 3000 })
    fc.assert(check(patternParts, urlPatternSelector), { numRuns: 3000 })
  })
})
