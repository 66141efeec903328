import { encodeEvent } from '../protocol/encoder.js'
import type { OutgoingEvent } from '../protocol/types.js'
import type { EncodedEvent } from './encoded-event.js'
import type { CorsOptions } from './headers.js'
import { type HeartbeatScheduler, type HeartbeatTarget, sharedHeartbeat } from './heartbeat.js'

export interface EventStreamOptions {
  /** Longest silence before a heartbeat comment, in milliseconds. Default 15,000; 0 turns heartbeats off. */
  heartbeat?: number
  /** A `retry:` hint sent with the headers: the client's reconnection delay in milliseconds. */
  retry?: number
  /** Bytes that may wait for a slow client; past this the connection is closed ("overflow"). Default 256 KiB. */
  maxBufferedBytes?: number
  /** The comment sent at once with the headers, so that clients and proxies see the stream open. Default `ok`. */
  initialComment?: string
  cors?: CorsOptions
  /** More response headers. */
  headers?: Record<string, string>
  /** Overrides the request's `Last-Event-ID` header (e.g. from a query parameter). */
  lastEventId?: string
  /** The scheduler to share heartbeats with; by default the process-wide one for the interval. */
  heartbeatScheduler?: HeartbeatScheduler
}

/** Why a stream closed: the client went away, the server closed it, the client read too slowly, or an I/O error. */
export type CloseReason = 'client' | 'server' | 'overflow' | 'error'

/** One open SSE response. */
export interface EventStream {
  /** The `Last-Event-ID` the client sent (empty when none): where to resume. */
  readonly lastEventId: string
  /** Resolves once the stream is closed, with the reason. */
  readonly closed: Promise<CloseReason>
  /**
   * Calls `listener` once the stream is closed (at once if it is): `closed` without a promise and
   * its reactions, which cost memory on every one of thousands of idle connections.
   */
  onClose(listener: (reason: CloseReason) => void): void
  /** Aborted when the stream closes: hand it to the work that produces events. */
  readonly signal: AbortSignal
  readonly isClosed: boolean
  /** Bytes written that the connection has not taken yet: how far behind the client is. */
  readonly bufferedBytes: number
  /**
   * Encodes and writes an event. Resolves `true` once the connection has taken it (at once, unless
   * the client reads slowly: then after the buffer drains), `false` if the stream is closed.
   */
  send(event: OutgoingEvent): Promise<boolean>
  /** Writes a comment line (`: text`), e.g. a heartbeat of your own. */
  comment(text: string): Promise<boolean>
  /** Writes bytes already in event-stream format: one encoded event written to many streams. */
  write(chunk: Uint8Array | string | EncodedEvent): Promise<boolean>
  /**
   * Writes without waiting, for producers that never wait for one stream (a fan-out to thousands):
   * true when the connection took the chunk, false when the stream is closed or the client was just
   * cut off for reading too slowly (the buffer bound, not the producer, protects memory).
   */
  offer(chunk: Uint8Array | string | EncodedEvent): boolean
  /** Ends the stream, optionally telling the client when to reconnect. */
  close(options?: { retry?: number }): void
}

export const DEFAULT_HEARTBEAT_MS = 15_000
export const DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024

/** What a runtime adapter provides: a byte sink with its buffer level. */
export interface EventSink {
  /** Queues the chunk; false when the sink wants the writer to wait for `drained()`. */
  write(chunk: Uint8Array | string | EncodedEvent): boolean
  bufferedBytes(): number
  /** Resolves when the buffer has drained or the connection has closed. */
  drained(): Promise<void>
  /** Ends the response gracefully after what was written. */
  end(): void
  /** Tears the connection down at once. */
  destroy(): void
}

/** What became of a chunk: refused (closed, or a slow client cut off), taken, or taken by a full buffer. */
enum Taken {
  No,
  Yes,
  Full,
}

const ACCEPTED = Promise.resolve(true)
const REFUSED = Promise.resolve(false)
const HEARTBEAT = ': ping\n'
/** When a client cut off for reading too slowly should come back. */
const SLOW_CLIENT_RETRY_MS = 1000
/** How long its buffered bytes may wait to drain before the connection is torn down. */
const SLOW_CLIENT_GRACE_MS = 5000
/**
 * Room kept under the bound for what a write adds beyond its chunk (HTTP/1.1 chunk framing) and for
 * the retry hint and last chunk of a cut-off, so that the bound holds for every byte buffered.
 */
const FRAMING_RESERVE = 64

/** The runtime-independent half of a stream: framing, backpressure, heartbeats and closing. */
export class EventStreamController implements EventStream, HeartbeatTarget {
  readonly lastEventId: string
  lastWriteTick = 0
  // Made on first use of `signal`: an AbortController costs memory on every idle connection.
  private abortController: AbortController | undefined
  private closedReason: CloseReason | undefined
  private closeListeners: ((reason: CloseReason) => void)[] | undefined
  private closedPromise: Promise<CloseReason> | undefined
  private readonly maxBufferedBytes: number
  private readonly heartbeatScheduler: HeartbeatScheduler | undefined
  // One wait for 'drain' shared by every write queued behind a full buffer.
  private drain: Promise<boolean> | undefined

  constructor(
    private readonly sink: EventSink,
    options: EventStreamOptions,
    requestLastEventId: string | undefined,
  ) {
    this.lastEventId = options.lastEventId ?? requestLastEventId ?? ''
    this.maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    const heartbeat = options.heartbeat ?? DEFAULT_HEARTBEAT_MS
    this.heartbeatScheduler =
      heartbeat > 0 ? (options.heartbeatScheduler ?? sharedHeartbeat(heartbeat)) : undefined
  }

  /** Sends the opening bytes and starts heartbeats; called by the adapter once headers are out. */
  open(options: EventStreamOptions): void {
    const opening = encodeEvent({ comment: options.initialComment ?? 'ok', retry: options.retry })
    this.sink.write(opening)
    if (this.heartbeatScheduler !== undefined) {
      this.lastWriteTick = this.heartbeatScheduler.currentTick
      this.heartbeatScheduler.add(this)
    }
  }

  get signal(): AbortSignal {
    if (this.abortController === undefined) {
      this.abortController = new AbortController()
      if (this.isClosed) this.abortController.abort()
    }
    return this.abortController.signal
  }

  get isClosed(): boolean {
    return this.closedReason !== undefined
  }

  get bufferedBytes(): number {
    return this.sink.bufferedBytes()
  }

  // Made on first use, like `signal`: most streams only ever need `onClose`.
  get closed(): Promise<CloseReason> {
    this.closedPromise ??= new Promise((resolve) => this.onClose(resolve))
    return this.closedPromise
  }

  onClose(listener: (reason: CloseReason) => void): void {
    if (this.closedReason !== undefined) listener(this.closedReason)
    else if (this.closeListeners === undefined) this.closeListeners = [listener]
    else this.closeListeners.push(listener)
  }

  send(event: OutgoingEvent): Promise<boolean> {
    if (this.isClosed) return REFUSED
    return this.write(encodeEvent(event))
  }

  comment(text: string): Promise<boolean> {
    if (this.isClosed) return REFUSED
    return this.write(encodeEvent({ comment: text }))
  }

  write(chunk: Uint8Array | string | EncodedEvent): Promise<boolean> {
    const taken = this.put(chunk)
    if (taken !== Taken.Full) return taken === Taken.Yes ? ACCEPTED : REFUSED
    this.drain ??= this.sink.drained().then(() => {
      this.drain = undefined
      return !this.isClosed
    })
    return this.drain
  }

  offer(chunk: Uint8Array | string | EncodedEvent): boolean {
    return this.put(chunk) !== Taken.No
  }

  heartbeat(): void {
    this.put(HEARTBEAT)
  }

  /** Writes the chunk unless the stream is closed or the client is too slow for it. */
  private put(chunk: Uint8Array | string | EncodedEvent): Taken {
    if (this.isClosed) return Taken.No
    // Strings are measured in characters, not bytes: close enough for a bound on memory. An empty
    // buffer always takes the chunk, so that an event larger than the bound still reaches a client
    // that keeps up (the bound is then the buffer plus one event).
    const buffered = this.sink.bufferedBytes()
    if (buffered > 0 && buffered + chunk.length + FRAMING_RESERVE > this.maxBufferedBytes) {
      this.cutOffSlowClient()
      return Taken.No
    }
    if (this.heartbeatScheduler !== undefined) this.lastWriteTick = this.heartbeatScheduler.currentTick
    return this.sink.write(chunk) ? Taken.Yes : Taken.Full
  }

  close(options: { retry?: number } = {}): void {
    if (this.isClosed) return
    if (options.retry !== undefined) this.sink.write(encodeEvent({ retry: options.retry }))
    this.sink.end()
    this.markClosed('server')
  }

  /**
   * The slow-subscriber policy: no more events; what is buffered, then a `retry` hint, then the end,
   * so that a client that is slow but alive reconnects and resumes from history. One that does not
   * read at all is torn down after a grace period, which bounds the memory it holds.
   */
  private cutOffSlowClient(): void {
    if (this.isClosed) return
    this.sink.write(encodeEvent({ retry: SLOW_CLIENT_RETRY_MS }))
    this.sink.end()
    this.markClosed('overflow')
    setTimeout(() => this.sink.destroy(), SLOW_CLIENT_GRACE_MS).unref()
  }

  /** Closes at once, without waiting for buffered bytes (an error). */
  terminate(reason: CloseReason): void {
    if (this.isClosed) return
    this.sink.destroy()
    this.markClosed(reason)
  }

  /** The adapter's report that the connection is gone; the first reason wins. */
  markClosed(reason: CloseReason): void {
    if (this.isClosed) return
    this.heartbeatScheduler?.delete(this)
    this.closedReason = reason
    this.abortController?.abort()
    const listeners = this.closeListeners
    this.closeListeners = undefined
    if (listeners !== undefined) for (const listener of listeners) listener(reason)
  }
}
