import { Generation, type GenerationOptions } from './generation.js'

export interface RetentionOptions {
  /** How long a finished generation stays resumable and readable, in milliseconds. */
  retainFor: number
  /** Finished generations kept at most; the oldest go first. */
  maxFinished: number
  /**
   * Bytes of events the finished generations keep at most, all together; the oldest go first.
   * A bound on memory that a count alone is not (one generation may keep up to 32 MiB).
   */
  maxFinishedBytes: number
}

export const DEFAULT_RETENTION: RetentionOptions = {
  retainFor: 15 * 60_000,
  maxFinished: 1000,
  maxFinishedBytes: 64 * 1024 * 1024,
}

/**
 * The generations of this gateway by id: running ones until they end, finished ones for
 * `retainFor` so that a late reload still gets the whole answer.
 */
export class Generations {
  private readonly byId = new Map<string, Generation>()
  /** Oldest first: the order in which they expire. */
  private readonly finished: Generation[] = []
  private finishedBytes = 0
  /**
   * One timer, for the oldest finished generation. A timer per generation held each one (and its
   * bytes) for `retainFor` even after the bounds had let it go: the bounds bounded nothing.
   */
  private expiry: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly retention: RetentionOptions,
    private readonly onFinish: (generation: Generation) => void = () => {},
  ) {}

  create(options: GenerationOptions): Generation {
    const generation = new Generation(options, this.finish)
    this.byId.set(generation.id, generation)
    return generation
  }

  get(id: string): Generation | undefined {
    return this.byId.get(id)
  }

  get running(): number {
    return this.byId.size - this.finished.length
  }

  /** Aborts every running generation (shutdown). */
  cancelAll(reason: string): void {
    for (const generation of this.byId.values()) generation.cancel(reason)
  }

  private readonly finish = (generation: Generation): void => {
    this.onFinish(generation)
    this.finished.push(generation)
    this.finishedBytes += generation.keptBytes
    this.evict()
  }

  /** Forgets the oldest finished generations while over a bound or past `retainFor`. */
  private evict(): void {
    const { maxFinished, maxFinishedBytes, retainFor } = this.retention
    const now = Date.now()
    for (let oldest = this.finished[0]; oldest !== undefined; oldest = this.finished[0]) {
      const overBound =
        this.finished.length > maxFinished ||
        (this.finishedBytes > maxFinishedBytes && this.finished.length > 1)
      if (!overBound && now - (oldest.finishedAt ?? now) < retainFor) break
      this.finished.shift()
      this.finishedBytes -= oldest.keptBytes
      this.byId.delete(oldest.id)
      oldest.forget()
    }
    const oldest = this.finished[0]
    if (oldest === undefined || this.expiry !== undefined) return
    this.expiry = setTimeout(this.expire, (oldest.finishedAt ?? now) + retainFor - now)
    this.expiry.unref()
  }

  private readonly expire = (): void => {
    this.expiry = undefined
    this.evict()
  }
}
