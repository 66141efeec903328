import { describe, expect, it } from 'vitest'
import { PRIVATE_SELECTORS, SelectorCounts } from './selector-counts.js'
import { Subscriber } from './subscriber.js'
import { exactSelector } from './topic-selector.js'

const subscriber = (topics: string[], allowed: string[] = []) =>
  new Subscriber(topics.map(exactSelector), allowed.map(exactSelector))

describe('SelectorCounts', () => {
  it('counts subscribers per selector as they come and go, the largest first and the rest as other', () => {
    const counts = new SelectorCounts()
    const subscribers = [
      subscriber(['a', 'b']),
      subscriber(['a']),
      subscriber(['a', 'c']),
      subscriber(['b']),
      subscriber(['d']),
    ]
    for (const each of subscribers) counts.add(each)
    expect(counts.top(2)).toEqual({ a: 3, b: 2, other: 2 })
    counts.remove(subscribers[0] as Subscriber)
    counts.remove(subscribers[1] as Subscriber)
    expect(counts.top(10)).toEqual({ a: 1, c: 1, b: 1, d: 1 })
  })

  it('never names a selector held only by subscriptions that may see private updates', () => {
    const counts = new SelectorCounts()
    counts.add(
      subscriber(['https://example.com/users/alice/inbox'], ['https://example.com/users/alice/inbox']),
    )
    counts.add(subscriber(['https://example.com/news'], ['https://example.com/users/bob/inbox']))
    counts.add(subscriber(['https://example.com/news']))
    const top = counts.top(10)
    expect(JSON.stringify(top)).not.toMatch(/alice|bob/)
    // A selector an anonymous subscription also holds is public knowledge: named, all its subscribers counted.
    expect(top).toEqual({ 'https://example.com/news': 2, [PRIVATE_SELECTORS]: 1 })
  })
})
