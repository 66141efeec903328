import { type NewUpdate, type StoredUpdate, storedUpdate } from '../update.js'
import {
  DuplicateIdError,
  type HistoryBounds,
  type HistoryPage,
  newUpdateId,
  type ResumePoint,
  resolveResumePoint,
  type UpdateStore,
} from './store.js'

/** History in this process only: bounded by count, lost on restart. For tests and single-node dev. */
export class MemoryStore implements UpdateStore {
  private readonly updates: StoredUpdate[] = []
  private readonly sequenceById = new Map<string, number>()
  private readonly listeners = new Set<(update: StoredUpdate) => void>()
  private sequence = 0

  constructor(private readonly maxCount = 10_000) {}

  async append(update: NewUpdate): Promise<StoredUpdate> {
    const id = update.id ?? newUpdateId()
    if (this.sequenceById.has(id)) throw new DuplicateIdError(id)
    const stored = storedUpdate(update, id, ++this.sequence, Date.now())
    this.updates.push(stored)
    this.sequenceById.set(id, stored.sequence)
    if (this.updates.length > this.maxCount) this.drop(this.updates.length - this.maxCount)
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
    // Sequences are dense from the oldest kept one: jump straight to the first to read.
    const first = this.updates[0]?.sequence ?? 1
    for (let index = Math.max(0, after + 1 - first); index < this.updates.length; index++) {
      const update = this.updates[index] as StoredUpdate
      through = update.sequence
      if (matches(update)) {
        updates.push(update)
        if (updates.length >= limit) break
      }
    }
    return { known, updates, through }
  }

  async newestSequence(): Promise<number> {
    return this.sequence
  }

  async newestId(): Promise<string | undefined> {
    return this.updates.at(-1)?.id
  }

  async trim({ maxCount, maxAge }: HistoryBounds): Promise<number> {
    const oldestAllowed = Date.now() - maxAge
    let count = Math.max(0, this.updates.length - maxCount)
    while (count < this.updates.length && (this.updates[count] as StoredUpdate).publishedAt < oldestAllowed)
      count++
    this.drop(count)
    return count
  }

  onAppend(listener: (update: StoredUpdate) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.listeners.clear()
  }

  private drop(count: number): void {
    for (const update of this.updates.splice(0, count)) this.sequenceById.delete(update.id)
  }
}
