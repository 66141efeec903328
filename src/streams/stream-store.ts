import { isJson, mediaType } from './media-type.js'
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
  /** Random, per creation: a stream created again at the same path is another stream (ETags differ). */
  id: string
  contentType: string
  /** Entries so far: the tail offset names this count. */
  entries: number
  /** Bytes of the entries this stream stores itself (a fork's inherited entries count in its source). */
  bytes: number
  closed: boolean
  /** The producer request that closed the stream: its retry is a duplicate, not a conflict. */
  closedBy?: ProducerRequest
  /** The last `Stream-Seq` accepted (scope: the stream). */
  lastStreamSeq?: string
  /** When the stream was last read or written (the sliding TTL counts from here). */
  touchedAt: number
  /** Where the stream was forked from (its configuration, for an idempotent create). */
  fork?: ForkPoint
  /**
   * Deleted (or expired) while forks still read its data: every direct operation is `410 Gone`
   * and the path cannot be created again, until the last fork goes (PROTOCOL.md §4.2).
   */
  softDeleted?: boolean
}

/** A fork's divergence point in its source: entries up to `offset`, then `subOffset` more units. */
export interface ForkPoint {
  from: string
  offset: number
  /** JSON streams: messages past `offset`; other streams: bytes of the entry after it. */
  subOffset: number
}

export interface CreateRequest extends StreamLifetime {
  path: string
  /** Absent only for a fork, which then takes its source's. */
  contentType: string | undefined
  entries: Uint8Array[]
  close: boolean
  /** Fork another stream; `offset` absent: at its tail. */
  fork?: { from: string; offset: number | undefined; subOffset: number }
}

export type CreateResult =
  | { kind: 'created'; state: StreamState }
  /** The stream exists with this configuration: an idempotent create. */
  | { kind: 'exists'; state: StreamState }
  /** The stream exists with another configuration (content type, lifetime, closure, fork point). */
  | { kind: 'conflict'; reason: string }
  | { kind: 'source-not-found' }
  /** 400: an offset past the source's tail, or a sub-offset past the next boundary. */
  | { kind: 'bad-fork-point'; reason: string }

export interface AppendRequest {
  path: string
  /** The request's content type; compared only when it brings entries. */
  contentType: string | undefined
  entries: Uint8Array[]
  /** Close the stream after these entries (or without any). */
  close: boolean
  producer?: ProducerRequest
  streamSeq?: string
  /** The most bytes the stream may store (`StreamState.bytes`); absent: no bound. */
  maxBytes?: number
}

export type AppendResult =
  | { kind: 'appended'; state: StreamState; producer?: ProducerState }
  /** A producer request seen before, or the retry of the request that closed the stream. */
  | { kind: 'duplicate'; state: StreamState; producer?: ProducerState }
  /** A close-only request on a stream already closed: idempotent. */
  | { kind: 'already-closed'; state: StreamState }
  | { kind: 'not-found' }
  /** 410: the stream is soft-deleted. */
  | { kind: 'gone' }
  /** 409 with `Stream-Closed: true`. */
  | { kind: 'closed'; state: StreamState }
  | { kind: 'content-type-mismatch'; state: StreamState }
  | { kind: 'stream-seq-regression'; state: StreamState }
  /** The entries would take the stream past `AppendRequest.maxBytes`: nothing is appended. */
  | { kind: 'stream-full'; state: StreamState }
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
  /** Deletes the stream, or soft-deletes it while forks read its data. */
  delete(path: string): Promise<'deleted' | 'not-found' | 'gone'>
  /** Streams kept (not soft-deleted), as last known to this node: the dashboard's count. */
  count(): number
  /** Every append on any node, after commit. Returns an unsubscribe. */
  onAppend(listener: (state: StreamState) => void): () => void
  close(): Promise<void>
}

/** Whether a stream has outlived its lifetime at `now`. */
export function isExpired(state: StreamState, now: number): boolean {
  if (state.expiresAt !== undefined && now >= state.expiresAt) return true
  return state.ttlSeconds !== undefined && now >= state.touchedAt + state.ttlSeconds * 1000
}

/**
 * A create against an existing stream is idempotent only with the same configuration, closure and
 * fork point; the reason it is not, otherwise. (A fork's lifetime may be inherited: it is compared
 * when the request states one.)
 */
export function configurationConflict(state: StreamState, request: CreateRequest): string | undefined {
  if (state.softDeleted === true) return 'a deleted stream that forks still read holds this path'
  if (request.contentType !== undefined && mediaType(state.contentType) !== mediaType(request.contentType))
    return `the stream holds ${state.contentType}`
  const inherits =
    request.fork !== undefined && request.ttlSeconds === undefined && request.expiresAt === undefined
  if (!inherits && (state.ttlSeconds !== request.ttlSeconds || state.expiresAt !== request.expiresAt))
    return 'the stream has another lifetime'
  if (state.closed !== request.close) return state.closed ? 'the stream is closed' : 'the stream is open'
  const fork = request.fork
  if (
    state.fork?.from !== fork?.from ||
    (fork !== undefined && fork.offset !== undefined && state.fork?.offset !== fork.offset) ||
    (state.fork?.subOffset ?? 0) !== (fork?.subOffset ?? 0)
  )
    return 'the stream has another origin'
  return undefined
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
    mediaType(request.contentType) !== mediaType(state.contentType)
  )
    return { kind: 'content-type-mismatch', state }
  // A producer's retry is a duplicate before anything else is compared: it carries the same
  // Stream-Seq as the request that was stored.
  const decision = request.producer === undefined ? undefined : decideProducer(producer, request.producer)
  if (decision?.kind === 'duplicate') return { kind: 'duplicate', state, producer: decision.state }
  if (
    request.streamSeq !== undefined &&
    state.lastStreamSeq !== undefined &&
    request.streamSeq <= state.lastStreamSeq
  )
    return { kind: 'stream-seq-regression', state }
  if (decision !== undefined && decision.kind !== 'accept')
    return { kind: 'producer-refused', state, decision }
  if (request.maxBytes !== undefined && state.bytes + byteLength(request.entries) > request.maxBytes)
    return { kind: 'stream-full', state }
  return { kind: 'accept', producer: decision?.next }
}

export function byteLength(entries: readonly Uint8Array[]): number {
  let bytes = 0
  for (const entry of entries) bytes += entry.length
  return bytes
}

/** What a fork takes from its source (PROTOCOL.md §4.2), the same on every store. */
export interface ForkPlan {
  /** Leading entries read from the source. */
  inherited: number
  /** With a byte sub-offset: the part of the source's next append the fork keeps a copy of. */
  partial?: Uint8Array
  contentType: string
  ttlSeconds?: number
  expiresAt?: number
  point: ForkPoint
}

/**
 * Where a fork of `source` starts, or why it cannot: a deleted source, another content type, an
 * offset past the tail, a sub-offset past the next boundary. `next` is the source's entry after the
 * fork offset (asked for only with a byte sub-offset). Lifetime: the request's, else the source's.
 */
export function planFork(
  source: StreamState,
  request: CreateRequest & { fork: NonNullable<CreateRequest['fork']> },
  next: (seq: number) => Uint8Array | undefined,
): ForkPlan | Extract<CreateResult, { kind: 'conflict' | 'bad-fork-point' }> {
  const { fork } = request
  if (source.softDeleted === true)
    return { kind: 'conflict', reason: `${fork.from} is deleted (forks still read it)` }
  if (request.contentType !== undefined && mediaType(request.contentType) !== mediaType(source.contentType))
    return { kind: 'conflict', reason: `the source holds ${source.contentType}` }
  const offset = fork.offset ?? source.entries
  if (offset > source.entries)
    return { kind: 'bad-fork-point', reason: 'the fork offset is past the end of the source' }
  let inherited = offset
  let partial: Uint8Array | undefined
  if (fork.subOffset > 0 && isJson(source.contentType)) {
    inherited += fork.subOffset
    if (inherited > source.entries)
      return { kind: 'bad-fork-point', reason: 'the fork sub-offset is past the last message' }
  } else if (fork.subOffset > 0) {
    const entry = offset < source.entries ? next(offset + 1) : undefined
    if (entry === undefined || fork.subOffset > entry.length)
      return {
        kind: 'bad-fork-point',
        reason: 'the fork sub-offset is past the end of the append after the fork offset',
      }
    partial = entry.subarray(0, fork.subOffset)
  }
  const ownLifetime = request.ttlSeconds !== undefined || request.expiresAt !== undefined
  return {
    inherited,
    partial,
    contentType: request.contentType ?? source.contentType,
    ttlSeconds: ownLifetime ? request.ttlSeconds : source.ttlSeconds,
    expiresAt: ownLifetime ? request.expiresAt : source.expiresAt,
    point: { from: fork.from, offset, subOffset: fork.subOffset },
  }
}
