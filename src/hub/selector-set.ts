import { type PatternSelector, selectorMatches, type TopicSelector } from './topic-selector.js'

/**
 * The selectors of a subscription (or of a claim), arranged for matching: `*` decides at once, exact
 * topics are one set lookup however many there are, and only the patterns run their automata.
 */
export class SelectorSet {
  private readonly any: boolean
  private readonly exact = new Set<string>()
  private readonly patterns: PatternSelector[] = []

  constructor(selectors: readonly TopicSelector[]) {
    let any = false
    for (const selector of selectors) {
      if (selector.kind === 'any') any = true
      else if (selector.kind === 'exact') this.exact.add(selector.topic)
      else this.patterns.push(selector)
    }
    this.any = any
  }

  /** Whether some selector matches some of the topics. */
  matchesSome(topics: readonly string[]): boolean {
    if (this.any) return topics.length > 0
    for (const topic of topics) {
      if (this.exact.has(topic)) return true
      for (const pattern of this.patterns) if (selectorMatches(pattern, topic)) return true
    }
    return false
  }
}
