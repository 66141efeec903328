import type { Subscriber } from './subscriber.js'
import { selectorSource } from './topic-selector.js'

/** The label under which the selectors of subscriptions that may receive private updates are counted. */
export const PRIVATE_SELECTORS = '(subscriptions with private access)'

/**
 * Subscribers per topic selector, kept as subscribers come and go: a count on a public page must
 * not walk every subscriber (1,000 subscribers × 100 selectors took 516 ms per request). A selector
 * is shown by name only when a subscription that can see no private update holds it; the others
 * may name what is private (`…/users/alice/inbox`) and are shown as one count.
 */
export class SelectorCounts {
  readonly #counts = new Map<string, { subscribers: number; publicOnly: number }>()

  add(subscriber: Subscriber): void {
    this.#change(subscriber, 1)
  }

  remove(subscriber: Subscriber): void {
    this.#change(subscriber, -1)
  }

  /** The `limit` selectors with the most subscribers; the rest summed as "other". */
  top(limit: number): Record<string, number> {
    const shown: [string, number][] = []
    let other = 0
    let hidden = 0
    for (const [label, { subscribers, publicOnly }] of this.#counts) {
      if (publicOnly === 0) {
        hidden += subscribers
        continue
      }
      // A bounded insertion: O(selectors × limit), never a sort of every selector.
      if (shown.length < limit || subscribers > (shown.at(-1)?.[1] ?? 0)) {
        let at = shown.length
        while (at > 0 && (shown[at - 1]?.[1] ?? 0) < subscribers) at--
        shown.splice(at, 0, [label, subscribers])
        if (shown.length > limit) other += (shown.pop() as [string, number])[1]
      } else other += subscribers
    }
    const result: Record<string, number> = Object.fromEntries(shown)
    if (other > 0) result.other = other
    if (hidden > 0) result[PRIVATE_SELECTORS] = hidden
    return result
  }

  #change(subscriber: Subscriber, delta: 1 | -1): void {
    const publicOnly = subscriber.allowedPrivate.length === 0 ? delta : 0
    for (const selector of subscriber.selectors) {
      const label = selectorSource(selector)
      const count = this.#counts.get(label) ?? { subscribers: 0, publicOnly: 0 }
      count.subscribers += delta
      count.publicOnly += publicOnly
      if (count.subscribers <= 0) this.#counts.delete(label)
      else this.#counts.set(label, count)
    }
  }
}
