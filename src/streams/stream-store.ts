import {
  decideProducer,
  type ProducerDecision,
  type ProducerRequest,
  type ProducerState,
} from './producer.js'

/*
 * The storage contract of durable streams (Durable Streams PROTOCOL.md), below the HTTP protocol:
 * a stream is a path, a content type, a lifetime, and entries (an append's bytes, or one message of
 * a JSON stream) counted from 1; offsets name entry counts (offset.ts). Memory, sqlite and Redis
 * implement it; `decideAppend` is the one place that says what an append may do.
 */

export interface StreamLifetime {
  /** Sliding time-to-live in seconds: every read or write starts it again. */
  ttlSeconds?: number
  /** Absolute expiry, milliseconds since the epoch. */
  expiresAt?: number
}

export interface StreamState extends StreamLifetime {
  path: string
  contentType: string
  /** Entries so far: the tail offset names this count. */
  entries: number
  closed: boolean
  /** The producer request that closed the stream: its retry is a duplicate, not a conflict. */
  closedBy?: ProducerRequest
  /** The last `Stream-Seq` accepted (scope: the stream). */
  lastStreamSeq?: string
  /** When the stream was last read or written (the sliding TTL counts from here). */
  touchedAt: number
}

export interface CreateRequest extends StreamLifetime {
  path: string
  contentType: string
  entries: Uint8Array[]
  close: boolean
}

export type CreateResult =
  | { kind: 'created'; state: StreamState }
  /** The stream exists with this configuration: an idempotent create. */
  | { kind: 'exists'; state: StreamState }
  /** The stream exists with another configuration (content type, lifetime, closure). */
  | { kind: 'conflict'; state: StreamState }

export interface AppendRequest {
  path: string
  /** The request's content type; compared only when it brings entries. */
  contentType: string | undefined
  entries: Uint8Array[]
  /** Close the stream after these entries (or without any). */
  close: boolean
  producer?: ProducerRequest
  streamSeq?: string
}

export type AppendResult =
  | { kind: 'appended'; state: StreamState; producer?: ProducerState }
  /** A producer request seen before, or the retry of the request that closed the stream. */
  | { kind: 'duplicate'; state: StreamState; producer?: ProducerState }
  /** A close-only request on a stream already closed: idempotent. */
  | { kind: 'already-closed'; state: StreamState }
  | { kind: 'not-found' }
  /** 409 with `Stream-Closed: true`. */
  | { kind: 'closed'; state: StreamState }
  | { kind: 'content-type-mismatch'; state: StreamState }
  | { kind: 'stream-seq-regression'; state: StreamState }
  | {
      kind: 'producer-refused'
      state: StreamState
      decision: Exclude<ProducerDecision, { kind: 'accept' | 'duplicate' }>
    }

export interface StreamPage {
  state: StreamState
  /** Entries after the requested count, in order. */
  entries: Uint8Array[]
  /** The entry count after the last entry returned: the next offset. */
  through: number
}

export interface StreamStore {
  create(request: CreateRequest): Promise<CreateResult>
  append(request: AppendRequest): Promise<AppendResult>
  /** Entries after `after`, at least one when there is one, and no more than `maxBytes` beyond it. */
  read(path: string, after: number, maxBytes: number): Promise<StreamPage | undefined>
  /** The stream's state without touching its sliding TTL (HEAD), undefined when absent or expired. */
  head(path: string): Promise<StreamState | undefined>
  delete(path: string): Promise<boolean>
  /** Every append on any node, after commit. Returns an unsubscribe. */
  onAppend(listener: (state: StreamState) => void): () => void
  close(): Promise<void>
}

/** Whether a stream has outlived its lifetime at `now`. */
export function isExpired(state: StreamState, now: number): boolean {
  if (state.expiresAt !== undefined && now >= state.expiresAt) return true
  return state.ttlSeconds !== undefined && now >= state.touchedAt + state.ttlSeconds * 1000
}

/** A create against an existing stream is idempotent only with the same configuration and closure. */
export function sameConfiguration(state: StreamState, request: CreateRequest): boolean {
  return (
    state.contentType.toLowerCase() === request.contentType.toLowerCase() &&
    state.ttlSeconds === request.ttlSeconds &&
    state.expiresAt === request.expiresAt &&
    state.closed === request.close
  )
}

export type AppendDecision =
  | { kind: 'accept'; producer?: ProducerState }
  | Exclude<AppendResult, { kind: 'appended' | 'not-found' }>

/**
 * What an append may do to a stream in `state`, with the producer's state: the checks in the order
 * PROTOCOL.md §5.2 gives (closed first, then content type, then sequences). Nothing is changed here.
 */
export function decideAppend(
  state: StreamState,
  producer: ProducerState | undefined,
  request: AppendRequest,
): AppendDecision {
  const closes = request.close && request.entries.length === 0
  if (state.closed) {
    const by = state.closedBy
    if (
      by !== undefined &&
      request.producer !== undefined &&
      by.id === request.producer.id &&
      by.epoch === request.producer.epoch &&
      by.seq === request.producer.seq
    )
      return { kind: 'duplicate', state, producer }
    return closes ? { kind: 'already-closed', state } : { kind: 'closed', state }
  }
  if (
    request.entries.length > 0 &&
    request.contentType !== undefined &&
    request.contentType.toLowerCase() !== state.contentType.toLowerCase()
  )
    return { kind: 'content-type-mismatch', state }
  if (
    request.streamSeq !== undefined &&
    state.lastStreamSeq !== undefined &&
    request.streamSeq <= state.lastStreamSeq
  )
    return { kind: 'stream-seq-regression', state }
  if (request.producer === undefined) return { kind: 'accept' }
  const decision = decideProducer(producer, request.producer)
  if (decision.kind === 'accept') return { kind: 'accept', producer: decision.next }
  if (decision.kind === 'duplicate') return { kind: 'duplicate', state, producer: decision.state }
  return { kind: 'producer-refused', state, decision }
}
