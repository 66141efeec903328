import { randomFillSync } from 'node:crypto'
import { chunkHead, EncodedEvent } from '../../server/encoded-event.js'
import type { EventStream } from '../../server/event-stream.js'
import { estimateTokens, eventJson, type Provider, type Usage } from '../providers/provider.js'
import { KeptBytes } from './kept-bytes.js'
import { type SlabPool, sharedSlabPool } from './slab-pool.js'

/**
 * `interrupted`: the gateway that ran it stopped (shut down, or crashed) before it ended; its
 * stored events end with the provider's error event.
 */
export type GenerationState = 'streaming' | 'completed' | 'failed' | 'cancelled' | 'interrupted'

/**
 * Where a generation's events are made durable (stored-generations.ts): every batch is committed
 * before any viewer is sent it, so no viewer sees an event that a restart can lose.
 */
export interface GenerationSink {
  /** Before the first batch. */
  begin(generation: Generation): Promise<void>
  /**
   * The events of one upstream read (`count` of them from id `firstId`), each with its `id:` line,
   * in one buffer: stored as one entry, in one transaction.
   */
  append(generation: Generation, events: Buffer, firstId: number, count: number): Promise<void>
  /** After the last batch: its state, usage and end. */
  end(generation: Generation): Promise<void>
}

/** A generation that another gateway node runs, seen here through the store (a replica). */
export interface RemoteOwner {
  cancel(): Promise<void>
  viewerJoined(): void
  viewerLeft(): void
}

export interface GenerationOptions {
  provider: Provider
  model: string
  /** The gateway key that started it (its fingerprint, never the key). */
  keyId: string
  /** Milliseconds the upstream keeps going after the last viewer left; 0 cancels at once. */
  resumeGrace: number
  /** A background response: it runs until it ends or is cancelled, watched or not. */
  background?: boolean
  /** Tokens of the request, estimated, for when the upstream reports no usage. */
  inputEstimate: number
  /** The upstream was asked for usage on the client's behalf: its usage-only chunk is not relayed. */
  hideUsageChunk: boolean
  /** Bytes of events kept at most; past it the generation fails (a runaway upstream). */
  maxBytes: number
  /** Where its events are stored; absent: in memory only. */
  sink?: GenerationSink
}

/**
 * One streamed completion: the upstream's events, each with an `id:` line, kept for as long as the
 * generation is retained, and written to every viewer — the response that started it and any
 * number of later ones (a reload, another tab) that join from a `Last-Event-ID`. Event n (from 1)
 * has id `n`.
 */
export class Generation {
  readonly id: string
  readonly createdAt: number
  readonly upstream = new AbortController()
  state: GenerationState = 'streaming'
  firstOutputAt: number | undefined
  finishedAt: number | undefined
  error: string | undefined
  /** Resolves when the generation has completed, failed or been cancelled. */
  readonly ended: Promise<void>
  private resolveEnded: () => void = () => {}
  /**
   * The kept events, numbered, one after the other in reused memory, with the byte offset where
   * each event ends: no object per event. The ends are a typed array, grown by doubling: a JS array
   * of numbers is copied into the old generation as it grows and walked by every major GC for as
   * long as the generation is kept.
   */
  private readonly kept: KeptBytes
  private eventEnds: Uint32Array = new Uint32Array(INITIAL_EVENT_ENDS)
  private events = 0
  private remoteViewers = 0
  /** Viewers still being sent kept events (see `follow`): they are watching too. */
  private followers = 0
  /** No longer kept by the gateway: the memory goes back once no follower reads it. */
  private forgotten = false
  /** The text of the events up to `textThrough` (see `text`). */
  private textSoFar = ''
  private textThrough = 0
  /** Events of the read being relayed, not yet numbered and written (see `relay`). */
  private pending: Buffer[] = []
  private reported: Partial<Omit<Usage, 'estimated'>> = {}
  private readonly viewers = new Set<EventStream>()
  private graceTimer: ReturnType<typeof setTimeout> | undefined
  /** Another node runs it: cancel goes there, and its viewers count there. */
  private readonly owner: RemoteOwner | undefined
  /** Read back from the store (from before a restart, or another node's): not run here. */
  readonly readBack: boolean
  /** Events numbered so far, and their bytes: some may still be being stored. */
  private numbered = 0
  private numberedBytes = 0
  /** The store's work for this generation, in order: begin, each batch, end. */
  private committing: Promise<void> = Promise.resolve()
  /** The store refused a batch: nothing more is stored or sent. */
  private storeFailure: string | undefined
  /** Its last events are out and its viewers closed. */
  private over = false
  /** Who waits for a count of events (see `reached`). */
  private waiting: { count: number; resolve: () => void }[] = []
  /**
   * Told of every batch of events as viewers are sent it (`firstId` is the id of the first). The
   * events are views of a buffer of their own, which the receiver may keep.
   */
  onEvents: ((events: readonly Buffer[], firstId: number) => void) | undefined
  /**
   * Told of every batch before it is stored (the events as the upstream sent them); a promise it
   * returns is stored with the batch: what must be durable before anyone sees the batch.
   */
  beforeStore: ((events: readonly Buffer[]) => Promise<void> | undefined) | undefined

  /**
   * `onFinish` apart from the options: the options object is the caller's as it is (merging it into
   * a new object would give every generation a hidden class of its own in V8).
   */
  constructor(
    readonly options: GenerationOptions,
    private readonly onFinish?: (generation: Generation) => void,
    pool: SlabPool = sharedSlabPool,
    /** A generation read back from the store: its id, start and (a replica's) owner. */
    stored?: { id: string; createdAt: number; owner?: RemoteOwner },
  ) {
    this.id = stored?.id ?? `gen_${randomId()}`
    this.createdAt = stored?.createdAt ?? Date.now()
    this.owner = stored?.owner
    this.readBack = stored !== undefined
    this.kept = new KeptBytes(pool)
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve
    })
    const { sink } = options
    if (sink !== undefined) this.committing = this.stored(() => sink.begin(this))
  }

  /** Another node runs it (a replica, which follows the store): cancel goes there. */
  get isReplica(): boolean {
    return this.owner !== undefined
  }

  /** Its last events are out and its viewers closed (its state may change a moment before). */
  get isOver(): boolean {
    return this.over
  }

  get provider(): Provider {
    return this.options.provider
  }

  get model(): string {
    return this.options.model
  }

  /** Bytes of the events kept (with their `id:` lines). */
  get keptBytes(): number {
    return this.kept.length
  }

  /** Events so far: event n (from 1) has id `n`. */
  get eventCount(): number {
    return this.events
  }

  get viewerCount(): number {
    return this.viewers.size + this.remoteViewers + this.followers
  }

  /** Viewers on other gateway nodes (a shared store): they keep the generation watched too. */
  remoteViewerJoined(): void {
    this.remoteViewers++
    clearTimeout(this.graceTimer)
    this.graceTimer = undefined
  }

  remoteViewerLeft(): void {
    this.remoteViewers = Math.max(0, this.remoteViewers - 1)
    this.unwatched()
  }

  /**
   * Relays whole upstream events (as received, each with its blank line) to every viewer, and keeps
   * each for viewers that resume from an id: the events of one read from the upstream, written
   * together. They may be views of a read buffer that is reused once this returns: what is kept
   * or written is a copy.
   */
  relay(events: readonly Buffer[]): void {
    if (this.state !== 'streaming') return
    const { provider } = this.options
    const awaitingOutput = this.firstOutputAt === undefined
    for (const [index, event] of events.entries()) {
      if (this.firstOutputAt === undefined && provider.isOutput(event)) this.firstOutputAt = Date.now()
      if (provider.mayCarryUsage(event)) {
        const data = eventJson(event.toString('utf8'))
        const usage = provider.usageOf(data)
        if (usage !== undefined) this.reported = { ...this.reported, ...definedOnly(usage) }
        if (this.options.hideUsageChunk && isUsageOnlyChunk(data)) continue
      }
      this.pending.push(event)
      if (provider.isErrorEvent(event)) {
        this.finish('failed', 'the upstream sent an error event')
        return
      }
      // Until the first token is out, nothing waits for the rest of the read: time to first token
      // is what a user sees (an upstream that bursts puts hundreds of events in one read).
      if (awaitingOutput && this.firstOutputAt !== undefined) {
        this.flush()
        this.relay(events.slice(index + 1))
        return
      }
    }
    this.flush()
  }

  /** A failure of our own (the upstream connection broke): the provider's error event, then the end. */
  fail(message: string): void {
    if (this.state !== 'streaming') return
    this.relayError('api_error', message)
    this.finish('failed', message)
  }

  cancel(reason: string): void {
    if (this.state !== 'streaming') return
    if (this.owner !== undefined) {
      this.owner.cancel().catch(() => {})
      return
    }
    // Ended first: the abort fails the upstream's body at once, which would fail the generation.
    this.finish('cancelled', reason)
    this.upstream.abort()
  }

  /** The upstream ended its stream. */
  complete(): void {
    this.finish('completed')
  }

  /** The gateway stops while it runs: the provider's error event, then the end (`interrupted`). */
  interrupt(message: string): void {
    if (this.state !== 'streaming' || this.owner !== undefined) return
    this.relayError('api_error', message)
    this.finish('interrupted', message)
    this.upstream.abort()
  }

  /**
   * Events read back from the store (without their `id:` lines), numbered as they were: a
   * generation restored after a restart, or a replica of another node's.
   */
  feed(events: readonly Buffer[]): void {
    if (this.state !== 'streaming') return
    this.pending.push(...events)
    this.flush()
  }

  /** A stored generation's end, as its owner recorded it. */
  settle(ending: StoredEnding): void {
    if (ending.firstOutputAt !== undefined) this.firstOutputAt = ending.firstOutputAt
    if (ending.usage !== undefined && !ending.usage.estimated)
      this.reported = { inputTokens: ending.usage.inputTokens, outputTokens: ending.usage.outputTokens }
    if (ending.state === 'streaming') return
    this.finish(ending.state, ending.error, ending.finishedAt)
  }

  /** Resolves once `count` events are out, or the generation is over. */
  reached(count: number): Promise<void> {
    if (this.events >= count || this.over) return Promise.resolve()
    return new Promise((resolve) => this.waiting.push({ count, resolve }))
  }

  /** Event `id` (from 1) with its `id:` line, as viewers were sent it. */
  event(id: number): Buffer {
    return this.kept.copy(this.offsetAfter(id - 1), this.offsetAfter(id))
  }

  /** Sends the events after `afterId` (0: all), then the live ones until the generation ends. */
  attach(stream: EventStream, afterId: number): void {
    clearTimeout(this.graceTimer)
    this.graceTimer = undefined
    this.owner?.viewerJoined()
    stream.onClose(() => this.detach(stream))
    this.follow(stream, this.offsetAfter(afterId)).catch(() => stream.close())
  }

  /** The generation is no longer kept (the gateway evicted it): its memory goes back to the pool. */
  forget(): void {
    this.forgotten = true
    this.followerDone()
  }

  /**
   * The text of the answer so far, read from the kept events. Each event is parsed once, when first
   * asked for: parsing all of them for every `GET /v1/generations/{id}` (or every usage estimate)
   * took 0.5–2.2 s per request on a 32 MiB generation.
   */
  text(): string {
    for (let id = this.textThrough + 1; id <= this.eventCount; id++)
      this.textSoFar += this.provider.textOf(
        eventJson(this.kept.text(this.offsetAfter(id - 1), this.offsetAfter(id))),
      )
    this.textThrough = this.eventCount
    return this.textSoFar
  }

  /** The kept events after `afterId`, in a new buffer. */
  eventsAfter(afterId: number): Buffer {
    return this.kept.copy(this.offsetAfter(afterId), this.kept.length)
  }

  /** Where the events after `afterId` start in the kept bytes. */
  private offsetAfter(afterId: number): number {
    const id = Math.min(afterId, this.events)
    return id <= 0 ? 0 : (this.eventEnds[id - 1] as number)
  }

  /**
   * Writes the kept events from `offset` on to a viewer, a piece at a time as its connection takes
   * them, then makes it a live viewer — or closes it, if the generation has ended. A viewer that
   * joins late, or falls behind, is sent copies made as it reads, never the kept memory itself
   * (see KeptBytes): a thousand viewers of a long answer do not each hold a copy of it.
   */
  private async follow(stream: EventStream, offset: number, ready?: Promise<boolean>): Promise<void> {
    this.followers++
    let open = true
    let at = offset
    try {
      if (ready !== undefined) open = await ready
      while (open && at < this.kept.length) {
        const end = this.pieceEnd(at)
        const piece = this.kept.copy(at, end)
        at = end
        open = await stream.write(piece)
      }
    } finally {
      this.followers--
    }
    if (open && !stream.isClosed) {
      if (!this.over) {
        this.viewers.add(stream)
        return
      }
      stream.close()
    }
    this.followerDone()
  }

  /** The end of the last whole event within a piece from `start` (or of the one event, if larger). */
  private pieceEnd(start: number): number {
    const ends = this.eventEnds
    const limit = start + FOLLOW_PIECE_BYTES
    let low = -1
    let high = this.events - 1
    while (low < high) {
      const middle = (low + high + 1) >> 1
      if ((ends[middle] as number) <= limit) low = middle
      else high = middle - 1
    }
    const end = low === -1 ? 0 : (ends[low] as number)
    return end > start ? end : (ends[low + 1] as number)
  }

  /** A follower is done: memory back to the pool if forgotten, the grace if nobody watches. */
  private followerDone(): void {
    if (this.forgotten && this.followers === 0) this.kept.release()
    this.unwatched()
  }

  /** Usage as the upstream reported it, or estimated (and marked so) where it did not. */
  usage(): Usage {
    const { inputTokens, outputTokens } = this.reported
    return {
      inputTokens: inputTokens ?? this.options.inputEstimate,
      outputTokens: outputTokens ?? estimateTokens(this.text()),
      estimated: inputTokens === undefined || outputTokens === undefined,
    }
  }

  /** No viewer is watching (the client that asked left before its stream started): the grace starts. */
  unwatched(): void {
    if (this.options.background === true || this.owner !== undefined) return
    if (this.viewerCount > 0 || this.state !== 'streaming' || this.graceTimer !== undefined) return
    const grace = this.options.resumeGrace
    if (grace === 0) {
      this.cancel('no viewer left')
      return
    }
    this.graceTimer = setTimeout(() => this.cancel('no viewer came back within the resume grace'), grace)
    this.graceTimer.unref()
  }

  private detach(stream: EventStream): void {
    this.viewers.delete(stream)
    this.owner?.viewerLeft()
    this.unwatched()
  }

  private relayError(type: string, message: string): void {
    this.pending.push(Buffer.from(this.provider.errorEvent(type, message)))
    this.flush()
  }

  private readonly flush = (): void => {
    if (this.pending.length === 0) return
    const events = this.pending
    this.pending = []
    this.append(events)
    if (
      this.numberedBytes > this.options.maxBytes &&
      this.state === 'streaming' &&
      this.owner === undefined
    ) {
      this.append([
        Buffer.from(this.provider.errorEvent('api_error', 'the answer exceeded the size the gateway keeps')),
      ])
      this.finish('failed', 'too large')
    }
  }

  /**
   * Numbers the events, stores them (see GenerationSink), then keeps them and writes them to every
   * viewer at once. One buffer holds them all, already framed as an HTTP/1.1 chunk, so that the
   * write to a socket copies nothing more; the `id:` lines are written byte by byte (a string write
   * per event cost more than the copy). The buffer dies young; what is kept is a copy in the pool's
   * memory (see SlabPool).
   */
  private append(events: readonly Buffer[]): void {
    if (events.length === 0 || this.storeFailure !== undefined) return
    const firstId = this.numbered + 1
    let size = 0
    for (let index = 0; index < events.length; index++)
      size += ID_PREFIX_LENGTH + digits(firstId + index) + 1 + (events[index] as Buffer).length
    const chunkHeadText = chunkHead(size)
    const all = Buffer.allocUnsafe(chunkHeadText.length + size + 2)
    let offset = all.write(chunkHeadText, 0, 'latin1')
    const bodyStart = offset
    const byteBase = this.numberedBytes - bodyStart
    for (let index = 0; index < events.length; index++) {
      const event = events[index] as Buffer
      all[offset] = 0x69 // i
      all[offset + 1] = 0x64 // d
      all[offset + 2] = 0x3a // :
      all[offset + 3] = 0x20 // space
      offset = writeDigits(all, offset + ID_PREFIX_LENGTH, firstId + index)
      all[offset++] = LF
      all.set(event, offset)
      offset += event.length
      if (this.numbered === this.eventEnds.length) this.eventEnds = grown(this.eventEnds)
      this.eventEnds[this.numbered++] = byteBase + offset
    }
    all[offset] = CR
    all[offset + 1] = LF
    this.numberedBytes += size
    const batch: Batch = {
      all,
      bodyStart,
      bodyEnd: offset,
      base: byteBase + bodyStart,
      firstId,
      count: events.length,
    }
    const { sink } = this.options
    if (sink === undefined) {
      this.publish(batch)
      return
    }
    const body = all.subarray(bodyStart, offset)
    const alongside = this.beforeStore?.(events)
    this.committing = this.committing.then(async () => {
      if (this.storeFailure !== undefined) return
      await this.stored(() => {
        const appended = sink.append(this, body, firstId, events.length)
        return alongside === undefined ? appended : Promise.all([appended, alongside]).then(() => {})
      })
      if (this.storeFailure === undefined) this.publish(batch)
    })
  }

  /** Each event of a batch with its `id:` line: views of the batch's buffer. */
  private entriesOf({ all, bodyStart, base, firstId, count }: Batch): Buffer[] {
    const entries: Buffer[] = []
    let start = bodyStart
    for (let index = 0; index < count; index++) {
      const end = (this.eventEnds[firstId + index - 1] as number) - base + bodyStart
      entries.push(all.subarray(start, end))
      start = end
    }
    return entries
  }

  /** A stored batch: kept, and sent to every viewer. */
  private publish(batch: Batch): void {
    const body = batch.all.subarray(batch.bodyStart, batch.bodyEnd)
    this.kept.append(body)
    this.events += batch.count
    const frame = new EncodedEvent(body, batch.all)
    for (const viewer of this.viewers) {
      const written = viewer.write(frame)
      // One that falls behind follows from the kept events: its backlog is not a copy of them all.
      if (viewer.bufferedBytes > FOLLOW_ABOVE_BYTES) {
        this.viewers.delete(viewer)
        this.follow(viewer, this.kept.length, written).catch(() => viewer.close())
      }
    }
    if (this.waiting.length > 0) this.wakeWaiting()
    const { onEvents } = this
    if (onEvents !== undefined) {
      // Without their `id:` lines: the events as the upstream sent them.
      const events = this.entriesOf(batch).map((entry) => entry.subarray(entry.indexOf(LF) + 1))
      onEvents(events, batch.firstId)
    }
  }

  private wakeWaiting(): void {
    const waiting = this.waiting
    this.waiting = waiting.filter(({ count }) => this.events < count && !this.over)
    for (const waiter of waiting) if (this.events >= waiter.count || this.over) waiter.resolve()
  }

  /**
   * Runs a step of the store's work; a failure fails the generation: the upstream is dropped, and
   * its viewers get the provider's error event (not stored, with no id: a restart would read the
   * generation as interrupted and send its own).
   */
  private async stored(step: () => Promise<void>): Promise<void> {
    try {
      await step()
    } catch (error) {
      if (this.storeFailure !== undefined) return
      this.storeFailure = `the gateway could not store the answer (${(error as Error).message})`
      this.finish('failed', this.storeFailure)
      this.upstream.abort()
    }
  }

  private finish(state: GenerationState, error?: string, finishedAt = Date.now()): void {
    if (this.state !== 'streaming') return
    this.flush()
    this.state = state
    this.error = error
    this.finishedAt = finishedAt
    clearTimeout(this.graceTimer)
    const { sink } = this.options
    if (sink === undefined || this.owner !== undefined) {
      this.close()
      return
    }
    this.committing = this.committing.then(async () => {
      if (this.storeFailure === undefined) await this.stored(() => sink.end(this))
      this.close()
    })
  }

  /** The end for viewers: the last events are out (or the store failed); every viewer closes. */
  private close(): void {
    if (this.over) return
    this.over = true
    // The event offsets shrink to their count (up to half of their room was spare).
    this.eventEnds = this.eventEnds.slice(0, this.events)
    const failure = this.storeFailure
    for (const viewer of this.viewers) {
      if (failure !== undefined) viewer.write(Buffer.from(this.provider.errorEvent('api_error', failure)))
      viewer.close()
    }
    this.viewers.clear()
    this.wakeWaiting()
    this.resolveEnded()
    this.onFinish?.(this)
  }
}

/** A batch of numbered events in one buffer: an HTTP/1.1 chunk whose body holds them. */
interface Batch {
  all: Buffer
  bodyStart: number
  bodyEnd: number
  /** Bytes of the generation's events before this batch's. */
  base: number
  firstId: number
  count: number
}

/** How a stored generation ended (or that it has not). */
export interface StoredEnding {
  state: GenerationState
  error?: string
  finishedAt?: number
  firstOutputAt?: number
  usage?: Usage
}

// Ids come from a pool of random bytes: one call into the CSPRNG per 256 generations, not per one.
const ID_BYTES = 16
const idPool = Buffer.alloc(ID_BYTES * 256)
let idPoolOffset = idPool.length

function randomId(): string {
  if (idPoolOffset === idPool.length) {
    randomFillSync(idPool)
    idPoolOffset = 0
  }
  idPoolOffset += ID_BYTES
  return idPool.toString('base64url', idPoolOffset - ID_BYTES, idPoolOffset)
}

/** Room for the ends of this many events at first; doubled when full (32 MiB of events fit in 32 bits). */
const INITIAL_EVENT_ENDS = 64

function grown(ends: Uint32Array): Uint32Array {
  const bigger = new Uint32Array(ends.length * 2)
  bigger.set(ends)
  return bigger
}

const LF = 0x0a
const CR = 0x0d
/** Bytes a live viewer may have waiting before it follows from the kept events instead. */
const FOLLOW_ABOVE_BYTES = 256 * 1024
/** Bytes copied for a follower at a time (whole events: a heartbeat may come between pieces). */
const FOLLOW_PIECE_BYTES = 64 * 1024
/** `id: ` */
const ID_PREFIX_LENGTH = 4

function digits(value: number): number {
  let count = 1
  for (let rest = value; rest >= 10; rest = Math.floor(rest / 10)) count++
  return count
}

/** Writes `value` in decimal at `offset`; returns the offset after it. */
function writeDigits(target: Buffer, offset: number, value: number): number {
  const end = offset + digits(value)
  let rest = value
  for (let at = end - 1; at >= offset; at--) {
    target[at] = 0x30 + (rest % 10)
    rest = Math.floor(rest / 10)
  }
  return end
}

const definedOnly = <T extends object>(value: T): Partial<T> =>
  Object.fromEntries(Object.entries(value).filter(([, each]) => each !== undefined)) as Partial<T>

/** OpenAI's last chunk when usage was asked for: no choices, only usage. */
function isUsageOnlyChunk(data: unknown): boolean {
  const chunk = data as { choices?: unknown[]; usage?: unknown } | undefined
  return Array.isArray(chunk?.choices) && chunk.choices.length === 0 && typeof chunk.usage === 'object'
}
