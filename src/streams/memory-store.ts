import { randomBytes } from 'node:crypto'
import type { ProducerState } from './producer.js'
import {
  type AppendRequest,
  type AppendResult,
  byteLength,
  type CreateRequest,
  type CreateResult,
  configurationConflict,
  decideAppend,
  type ForkPlan,
  isExpired,
  planFork,
  type StreamPage,
  type StreamState,
  type StreamStore,
} from './stream-store.js'

interface MemoryStream {
  state: StreamState
  entries: Uint8Array[]
  producers: Map<string, ProducerState>
  /** The stream this one was forked from, and how many forks of this one exist. */
  source?: MemoryStream
  forks: number
}

/**
 * Streams in this process only (tests, development): every step is synchronous, hence atomic. A fork
 * copies its source's entry references (not their bytes) up to its fork point.
 */
export class MemoryStreamStore implements StreamStore {
  private readonly streams = new Map<string, MemoryStream>()
  private readonly listeners = new Set<(state: StreamState) => void>()

  constructor(private readonly now: () => number = Date.now) {}

  async create(request: CreateRequest): Promise<CreateResult> {
    const existing = this.find(request.path)
    if (existing !== undefined) {
      const conflict = configurationConflict(existing.state, request)
      return conflict === undefined
        ? { kind: 'exists', state: { ...existing.state } }
        : { kind: 'conflict', reason: conflict }
    }
    let source: MemoryStream | undefined
    let plan: ForkPlan | undefined
    if (request.fork !== undefined) {
      source = this.find(request.fork.from)
      if (source === undefined) return { kind: 'source-not-found' }
      const from = source
      const planned = planFork(from.state, { ...request, fork: request.fork }, (seq) => from.entries[seq - 1])
      if ('kind' in planned) return planned
      plan = planned
    }
    const own = [...(plan?.partial === undefined ? [] : [plan.partial]), ...request.entries]
    const entries = [...(source?.entries.slice(0, plan?.inherited) ?? []), ...own]
    const state: StreamState = {
      path: request.path,
      id: randomBytes(6).toString('base64url'),
      contentType: plan?.contentType ?? request.contentType ?? 'application/octet-stream',
      ttlSeconds: plan === undefined ? request.ttlSeconds : plan.ttlSeconds,
      expiresAt: plan === undefined ? request.expiresAt : plan.expiresAt,
      entries: entries.length,
      bytes: byteLength(own),
      closed: request.close,
      touchedAt: this.now(),
      fork: plan?.point,
    }
    if (source !== undefined) source.forks++
    this.streams.set(request.path, { state, entries, producers: new Map(), source, forks: 0 })
    return { kind: 'created', state: { ...state } }
  }

  async append(request: AppendRequest): Promise<AppendResult> {
    const stream = this.find(request.path)
    if (stream === undefined) return { kind: 'not-found' }
    if (stream.state.softDeleted === true) return { kind: 'gone' }
    const producer = request.producer === undefined ? undefined : stream.producers.get(request.producer.id)
    const decision = decideAppend(stream.state, producer, request)
    if (decision.kind !== 'accept') return { ...decision, state: { ...stream.state } } as AppendResult
    const { state } = stream
    stream.entries.push(...request.entries)
    state.entries += request.entries.length
    state.bytes += byteLength(request.entries)
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
    const stream = this.find(path)
    if (stream === undefined || stream.state.softDeleted === true) return undefined
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
    const stream = this.find(path)
    return stream === undefined ? undefined : { ...stream.state }
  }

  async delete(path: string): Promise<'deleted' | 'not-found' | 'gone'> {
    const stream = this.find(path)
    if (stream === undefined) return 'not-found'
    if (stream.state.softDeleted === true) return 'gone'
    this.drop(stream)
    return 'deleted'
  }

  count(): number {
    let count = 0
    for (const stream of this.streams.values()) if (stream.state.softDeleted !== true) count++
    return count
  }

  onAppend(listener: (state: StreamState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.listeners.clear()
  }

  /** The stream at `path` (soft-deleted ones included), unless absent or expired. */
  private find(path: string): MemoryStream | undefined {
    const stream = this.streams.get(path)
    if (stream === undefined) return undefined
    if (stream.state.softDeleted === true || !isExpired(stream.state, this.now())) return stream
    this.drop(stream)
    // Expired with forks: kept, soft-deleted.
    return this.streams.get(path) === stream ? stream : undefined
  }

  /** Deletes a stream, or soft-deletes it while forks exist; a source left without forks goes too. */
  private drop(stream: MemoryStream): void {
    if (stream.forks > 0) {
      stream.state.softDeleted = true
      return
    }
    if (this.streams.get(stream.state.path) === stream) this.streams.delete(stream.state.path)
    const source = stream.source
    if (source === undefined) return
    source.forks--
    if (source.forks === 0 && source.state.softDeleted === true) this.drop(source)
  }
}
