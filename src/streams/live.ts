import type { StreamState, StreamStore } from './stream-store.js'

/**
 * Who waits for a stream to grow (long-polls, SSE readers): one listener on the store for all of
 * them, and per path the waiters to wake with the stream's new state.
 */
export class LiveStreams {
  private readonly waiters = new Map<string, Set<(state: StreamState) => void>>()
  private readonly unsubscribe: () => void
  /** Readers waiting on any stream. */
  total = 0

  constructor(store: StreamStore) {
    this.unsubscribe = store.onAppend((state) => {
      const waiting = this.waiters.get(state.path)
      if (waiting === undefined) return
      for (const wake of [...waiting]) wake(state)
    })
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
      if (waiting.size === 0 && this.waiters.get(path) === waiting) this.waiters.delete(path)
    }
  }

  /** Readers waiting on `path` now. */
  readers(path: string): number {
    return this.waiters.get(path)?.size ?? 0
  }

  close(): void {
    this.unsubscribe()
    this.waiters.clear()
    this.total = 0
  }
}
