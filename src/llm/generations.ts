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
  private readonly finished: Generation[] = []
  private finishedBytes = 0

  constructor(
    private readonly retention: RetentionOptions,
    private readonly onFinish: (generation: Generation) => void = () => {},
  ) {}

  create(options: Omit<GenerationOptions, 'onFinish'>): Generation {
    const generation = new Generation({ ...options, onFinish: (done) => this.finish(done) })
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

  private finish(generation: Generation): void {
    this.onFinish(generation)
    this.finished.push(generation)
    this.finishedBytes += generation.keptBytes
    while (
      this.finished.length > this.retention.maxFinished ||
      (this.finishedBytes > this.retention.maxFinishedBytes && this.finished.length > 1)
    )
      this.forget(this.finished[0] as Generation)
    setTimeout(() => this.forget(generation), this.retention.retainFor).unref()
  }

  private forget(generation: Generation): void {
    const index = this.finished.indexOf(generation)
    if (index === -1) return
    this.finished.splice(index, 1)
    this.finishedBytes -= generation.keptBytes
    this.byId.delete(generation.id)
  }
}
