import { Generation, type GenerationOptions } from './generation.js'
import type { StoredGenerations } from './stored-generations.js'

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

/** In memory; the store keeps generations longer (see StoredGenerations), and they are read back from it. */
export const DEFAULT_RETENTION: RetentionOptions = {
  retainFor: 15 * 60_000,
  maxFinished: 1000,
  maxFinishedBytes: 64 * 1024 * 1024,
}

/**
 * The generations of this gateway by id: running ones until they end, finished ones for
 * `retainFor` so that a late reload still gets the whole answer. With a store, one it does not hold
 * (from before a restart, or run by another node) is read back from the store when asked for.
 */
export class Generations {
  private readonly byId = new Map<string, Generation>()
  /** Generations being read back from the store, so that one is read once however many ask. */
  private readonly loading = new Map<string, Promise<Generation | undefined>>()
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
    readonly stored?: StoredGenerations,
  ) {
    stored?.nodes.onControl(({ type, id }) => {
      const generation = this.byId.get(id)
      if (generation === undefined || generation.isReplica) return
      if (type === 'cancel') generation.cancel('cancelled by request (through another node)')
      else if (type === 'joined') generation.remoteViewerJoined()
      else generation.remoteViewerLeft()
    })
  }

  /** A new generation, run here: stored as it goes when there is a store. */
  create(options: GenerationOptions): Generation {
    const generation = new Generation(
      this.stored === undefined ? options : { ...options, sink: this.stored },
      this.finish,
    )
    this.byId.set(generation.id, generation)
    return generation
  }

  /** A generation held in memory. */
  get(id: string): Generation | undefined {
    return this.byId.get(id)
  }

  /** A generation held in memory, else read back from the store. */
  async find(id: string): Promise<Generation | undefined> {
    const held = this.byId.get(id)
    if (held !== undefined || this.stored === undefined) return held
    let loading = this.loading.get(id)
    if (loading === undefined) {
      loading = this.stored
        .load(id, ({ created, provider, owner }) => {
          const generation = new Generation(
            {
              provider,
              model: created.model,
              keyId: created.keyId,
              resumeGrace: 0,
              background: created.background,
              inputEstimate: created.inputEstimate,
              hideUsageChunk: false,
              maxBytes: Number.POSITIVE_INFINITY,
            },
            this.finish,
            undefined,
            { id, createdAt: created.createdAt, owner },
          )
          this.byId.set(id, generation)
          return generation
        })
        .finally(() => this.loading.delete(id))
      this.loading.set(id, loading)
    }
    return loading
  }

  /** Generations run here, not finished. */
  get running(): number {
    let running = 0
    for (const generation of this.byId.values())
      if (generation.state === 'streaming' && !generation.isReplica) running++
    return running
  }

  /**
   * Ends every running generation as `interrupted` (shutdown), and resolves once their ends are
   * stored.
   */
  async interruptAll(reason: string): Promise<void> {
    const running = [...this.byId.values()].filter(
      (generation) => generation.state === 'streaming' && !generation.isReplica,
    )
    for (const generation of running) generation.interrupt(reason)
    await Promise.all(running.map((generation) => generation.ended))
  }

  private readonly finish = (generation: Generation): void => {
    if (!generation.readBack) this.onFinish(generation)
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
