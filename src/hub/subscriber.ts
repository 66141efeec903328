import type { EventStream } from '../server/event-stream.js'
import { SelectorSet } from './selector-set.js'
import { newUrn } from './store/store.js'
import type { TopicSelector } from './topic-selector.js'
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
  readonly #wanted: SelectorSet
  readonly #allowed: SelectorSet

  constructor(
    readonly selectors: readonly TopicSelector[],
    /** Selectors of the JWT's subscribe claim: who may see private updates. */
    readonly allowedPrivate: readonly TopicSelector[],
    readonly claimsPayload: unknown = undefined,
  ) {
    this.#wanted = new SelectorSet(selectors)
    this.#allowed = new SelectorSet(allowedPrivate)
  }

  wants(update: StoredUpdate): boolean {
    return (
      this.#wanted.matchesSome(update.topics) && (!update.private || this.#allowed.matchesSome(update.topics))
    )
  }
}
