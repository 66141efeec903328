import type { ProducerState } from './producer.js'
import {
  type AppendRequest,
  type AppendResult,
  type CreateRequest,
  type CreateResult,
  decideAppend,
  isExpired,
  type StreamPage,
  type StreamState,
  type StreamStore,
  sameConfiguration,
} from './stream-store.js'

interface MemoryStream {
  state: StreamState
  entries: Uint8Array[]
  producers: Map<string, ProducerState>
}

/** Streams in this process only (tests, development): every step is synchronous, hence atomic. */
export class MemoryStreamStore implements StreamStore {
  private readonly streams = new Map<string, MemoryStream>()
  private readonly listeners = new Set<(state: StreamState) => void>()

  constructor(private readonly now: () => number = Date.now) {}

  async create(request: CreateRequest): Promise<CreateResult> {
    const existing = this.live(request.path)
    if (existing !== undefined) {
      return sameConfiguration(existing.state, request)
        ? { kind: 'exists', state: { ...existing.state } }
        : { kind: 'conflict', state: { ...existing.state } }
    }
    const state: StreamState = {
      path: request.path,
      contentType: request.contentType,
      ttlSeconds: request.ttlSeconds,
      expiresAt: request.expiresAt,
      entries: request.entries.length,
      closed: request.close,
      touchedAt: this.now(),
    }
    this.streams.set(request.path, { state, entries: [...request.entries], producers: new Map() })
    return { kind: 'created', state: { ...state } }
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    const stream = this.live(request.path)
    if (stream === undefined) return { kind: 'not-found' }
    const producer = request.producer === undefined ? undefined : stream.producers.get(request.producer.id)
    const decision = decideAppend(stream.state, producer, request)
    if (decision.kind !== 'accept') return { ...decision, state: { ...stream.state } } as AppendResult
    const { state } = stream
    stream.entries.push(...request.entries)
    state.entries += request.entries.length
    state.touchedAt = this.now()
    if (request.streamSeq !== undefined) state.lastStreamSeq = request.streamSeq
    if (request.producer !== undefined && decision.producer !== undefined)
      stream.producers.set(request.producer.id, decision.producer)
    if (request.close) {
      state.closed = true
      state.closedBy = request.producer
    }
    const snapshot = { ...state }
    for (const listener of this.listeners) listener(snapshot)
    return { kind: 'appended', state: snapshot, producer: decision.producer }
  }

  async read(path: string, after: number, maxBytes: number): Promise<StreamPage | undefined> {
    const stream = this.live(path)
    if (stream === undefined) return undefined
    stream.state.touchedAt = this.now()
    const entries: Uint8Array[] = []
    let bytes = 0
    let through = Math.min(after, stream.entries.length)
    while (through < stream.entries.length) {
      const entry = stream.entries[through] as Uint8Array
      if (entries.length > 0 && bytes + entry.length > maxBytes) break
      entries.push(entry)
      bytes += entry.length
      through++
    }
    return { state: { ...stream.state }, entries, through }
  }

  async head(path: string): Promise<StreamState | undefined> {
    const stream = this.live(path)
    return stream === undefined ? undefined : { ...stream.state }
  }

  async delete(path: string): Promise<boolean> {
    return this.live(path) !== undefined && this.streams.delete(path)
  }

  onAppend(listener: (state: StreamState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.listeners.clear()
  }

  /** The stream at `path`, unless it is absent or expired (an expired one is dropped on the way). */
  private live(path: string): MemoryStream | undefined {
    const stream = this.streams.get(path)
    if (stream === undefined) return undefined
    if (!isExpired(stream.state, this.now())) return stream
    this.streams.delete(path)
    return undefined
  }
}
