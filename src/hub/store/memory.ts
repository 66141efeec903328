import { type NewUpdate, type StoredUpdate, storedUpdate } from '../update.js'
import {
  DEFAULT_PRESENCE_HISTORY,
  DuplicateIdError,
  type HistoryBounds,
  type HistoryPage,
  newUpdateId,
  type ResumePoint,
  resolveResumePoint,
  type UpdateStore,
} from './store.js'

/**
 * History in this process only: bounded by count, lost on restart. For tests and single-node dev.
 * Kept in sequence order; presence updates beyond their bound are taken out of the middle.
 */
export class MemoryStore implements UpdateStore {
  private readonly updates: StoredUpdate[] = []
  private readonly sequenceById = new Map<string, number>()
  private readonly listeners = new Set<(update: StoredUpdate) => void>()
  /** Sequences of the presence updates kept, oldest first. */
  private readonly presence: number[] = []
  private sequence = 0

  constructor(
    private readonly maxCount = 10_000,
    private readonly maxPresence = DEFAULT_PRESENCE_HISTORY,
  ) {}

  async append(update: NewUpdate): Promise<StoredUpdate> {
    const id = update.id ?? newUpdateId()
    if (this.sequenceById.has(id)) throw new DuplicateIdError(id)
    const stored = storedUpdate(update, id, ++this.sequence, Date.now())
    this.updates.push(stored)
    this.sequenceById.set(id, stored.sequence)
    if (update.presence === true) {
      this.presence.push(stored.sequence)
      if (this.presence.length > this.maxPresence) this.remove(this.presence.shift() as number)
    }
    this.trimCount(this.maxCount)
    for (const listener of this.listeners) listener(stored)
    return stored
  }

  async readAfter(
    from: ResumePoint,
    matches: (update: StoredUpdate) => boolean,
    limit: number,
    afterSequence?: number,
  ): Promise<HistoryPage> {
    const { known, after } = resolveResumePoint(from, afterSequence, (id) => this.sequenceById.get(id))
    const updates: StoredUpdate[] = []
    let through = after
    const start = this.indexAfter(after)
    const end = Math.min(this.updates.length, start + limit)
    for (let index = start; index < end; index++) {
      const update = this.updates[index] as StoredUpdate
      through = update.sequence
      if (matches(update)) updates.push(update)
    }
    return { known, updates, through, done: end === this.updates.length }
  }

  async newestSequence(): Promise<number> {
    return this.sequence
  }

  async newestId(): Promise<string | undefined> {
    return this.updates.at(-1)?.id
  }

  async trim({ maxCount, maxAge }: HistoryBounds): Promise<number> {
    const before = this.updates.length
    this.trimCount(maxCount)
    const oldestAllowed = Date.now() - maxAge
    let count = 0
    while (count < this.updates.length && (this.updates[count] as StoredUpdate).publishedAt < oldestAllowed)
      count++
    this.drop(count)
    return before - this.updates.length
  }

  onAppend(listener: (update: StoredUpdate) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.listeners.clear()
  }

  /** Drops the oldest updates until at most `maxCount` publishers' updates (not presence) are kept. */
  private trimCount(maxCount: number): void {
    let excess = this.updates.length - this.presence.length - maxCount
    let index = 0
    let presence = 0
    for (; excess > 0 && index < this.updates.length; index++) {
      if (this.presence[presence] === (this.updates[index] as StoredUpdate).sequence) presence++
      else excess--
    }
    this.drop(index)
  }

  /** Drops the oldest `count` updates, with their ids. */
  private drop(count: number): void {
    if (count === 0) return
    for (const update of this.updates.splice(0, count)) this.sequenceById.delete(update.id)
    const keptFrom = this.updates[0]?.sequence ?? this.sequence + 1
    while ((this.presence[0] ?? keptFrom) < keptFrom) this.presence.shift()
  }

  /** Takes one update out of history; its id is forgotten (resuming from it: unknown). */
  private remove(sequence: number): void {
    const index = this.indexAfter(sequence - 1)
    const [update] = this.updates.splice(index, 1)
    if (update !== undefined) this.sequenceById.delete(update.id)
  }

  /** The index of the first update after `sequence` (binary search: sequences increase, with gaps). */
  private indexAfter(sequence: number): number {
    let low = 0
    let high = this.updates.length
    while (low < high) {
      const middle = (low + high) >>> 1
      if ((this.updates[middle] as StoredUpdate).sequence <= sequence) low = middle + 1
      else high = middle
    }
    return low
  }
}
