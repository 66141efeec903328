import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
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
})
