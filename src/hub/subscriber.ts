import type { EventStream } from '../server/event-stream.js'
import { newUrn } from './store/store.js'
import { selectorMatches, type TopicSelector } from './topic-selector.js'
import type { StoredUpdate } from './update.js'

/**
 * One subscription: the topics it selects, the private topics its JWT allows, and its stream. While
 * its history is replayed, live updates wait in `pending`, so that none is lost or sent twice.
 */
export class Subscriber {
  readonly id = newUrn()
  stream: EventStream | undefined
  /** The highest sequence sent (or skipped as not wanted): live updates at or below it are old. */
  lastSequence = 0
  pending: StoredUpdate[] | undefined = []

  constructor(
    readonly selectors: readonly TopicSelector[],
    /** Selectors of the JWT's subscribe claim: who may see private updates. */
    readonly allowedPrivate: readonly TopicSelector[],
    readonly claimsPayload: unknown = undefined,
  ) {}

  wants(update: StoredUpdate): boolean {
    return (
      update.topics.some((topic) => this.selectors.some((selector) => selectorMatches(selector, topic))) &&
      (!update.private ||
        update.topics.some((topic) =>
          this.allowedPrivate.some((selector) => selectorMatches(selector, topic)),
        ))
    )
  }
}
