import type { StreamPage, StreamState, StreamStore } from './stream-store.js'

/**
 * Who waits for a stream to grow (long-polls, SSE readers): one listener on the store for all of
 * them, and per path the waiters to wake with the stream's new state. Readers woken by the same
 * append read the same page: they share one store read (`read`).
 */
export class LiveStreams {
  private readonly waiters = new Map<string, Set<(state: StreamState) => void>>()
  /** The last state an append announced, per watched path: the version a shared read must reach. */
  private readonly latest = new Map<string, StreamState>()
  private readonly reading = new Map<string, Promise<StreamPage | undefined>>()
  /** Streams appended to in this turn, woken at its end. */
  private readonly due = new Set<string>()
  private readonly unsubscribe: () => void
  /** Readers waiting on any stream. */
  total = 0

  constructor(private readonly store: StreamStore) {
    this.unsubscribe = store.onAppend((state) => {
      if (!this.waiters.has(state.path)) return
      this.latest.set(state.path, state)
      this.due.add(state.path)
      if (this.due.size === 1) setImmediate(() => this.wakeDue())
    })
  }

  /**
   * Wakes the readers of the streams appended to in the turn that ended: once per stream per turn,
   * however many appends it took, so that each reader reads and writes them as one page (as the
   * hub batches the updates of a turn). One write per append per reader had cost 14 CPU-seconds per
   * million deliveries at saturation (N=1,000, `npm run bench -- streams`); one per turn, 3.5.
   */
  private wakeDue(): void {
    const paths = [...this.due]
    this.due.clear()
    for (const path of paths) {
      const state = this.latest.get(path)
      const waiting = this.waiters.get(path)
      if (state === undefined || waiting === undefined) continue
      for (const wake of [...waiting]) wake(state)
    }
  }

  /** Calls `wake` on every append to `path` until the returned function is called. */
  watch(path: string, wake: (state: StreamState) => void): () => void {
    let waiting = this.waiters.get(path)
    if (waiting === undefined) {
      waiting = new Set()
      this.waiters.set(path, waiting)
    }
    waiting.add(wake)
    this.total++
    return () => {
      if (waiting.delete(wake)) this.total--
      if (waiting.size === 0 && this.waiters.get(path) === waiting) {
        this.waiters.delete(path)
        this.latest.delete(path)
      }
    }
  }

  /**
   * `store.read`, shared by the readers that ask for the same page while it is read. The key holds
   * the last announced state of the stream, so a read started before an append is never handed to
   * a reader woken by that append: it waits for a read that sees it.
   */
  read(path: string, after: number, maxBytes: number): Promise<StreamPage | undefined> {
    const known = this.latest.get(path)
    const key = `${after}:${maxBytes}:${known?.id}:${known?.entries}:${known?.closed}:${path}`
    let page = this.reading.get(key)
    if (page === undefined) {
      page = this.store.read(path, after, maxBytes).finally(() => this.reading.delete(key))
      this.reading.set(key, page)
    }
    return page
  }

  /** Readers waiting on `path` now. */
  readers(path: string): number {
    return this.waiters.get(path)?.size ?? 0
  }

  close(): void {
    this.unsubscribe()
    this.waiters.clear()
    this.latest.clear()
    this.due.clear()
    this.total = 0
  }
}
