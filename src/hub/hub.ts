import { encodeEvent } from '../protocol/encoder.js'
import { EncodedEvent } from '../server/encoded-event.js'
import type { HistoryBounds, ResumePoint, UpdateStore } from './store/store.js'
import type { Subscriber } from './subscriber.js'
import type { NewUpdate, StoredUpdate } from './update.js'

/** Updates replayed per store read. */
const REPLAY_PAGE = 1000
/** Updates written together at most: one bit each in a 32-bit mask. */
const MAX_BATCH = 31

export interface ResumeResult {
  /** False when the requested id was unknown or evicted: the replay started at the earliest update. */
  known: boolean
}

/**
 * Topics, subscribers and fan-out. Every update appended to the store (on this node or, with a
 * shared store, any node) is encoded once and the same bytes are written to every subscriber that
 * wants it, in the store's global order.
 */
/** Running totals since start, read by the metrics endpoint: plain counters, nothing on the hot path. */
export interface HubStats {
  updates: number
  deliveries: number
  bytesOut: number
  resumeRequests: number
  slowSubscriberDisconnects: number
}

export class Hub {
  readonly subscribers = new Set<Subscriber>()
  readonly stats: HubStats = {
    updates: 0,
    deliveries: 0,
    bytesOut: 0,
    resumeRequests: 0,
    slowSubscriberDisconnects: 0,
  }
  private readonly unsubscribe: () => void
  private trimTimer: ReturnType<typeof setInterval> | undefined
  private queue: StoredUpdate[] = []

  constructor(
    readonly store: UpdateStore,
    history: HistoryBounds = { maxCount: 10_000, maxAge: 24 * 3600_000 },
  ) {
    this.unsubscribe = store.onAppend((update) => this.dispatch(update))
    // A failed trim (a busy or closing store) is simply tried again a minute later.
    const trim = () => store.trim(history).catch(() => {})
    this.trimTimer = setInterval(trim, 60_000)
    this.trimTimer.unref()
    void trim()
  }

  /** Stores the update and resolves once it is committed (and handed to local subscribers). */
  publish(update: NewUpdate): Promise<StoredUpdate> {
    return this.store.append(update)
  }

  /**
   * Registers the subscriber at once (live updates wait in its `pending`), then finds its history
   * after `from`. Call `attach` with its stream to send that history and go live.
   */
  async subscribe(
    subscriber: Subscriber,
    from: ResumePoint | undefined,
  ): Promise<{ known: boolean; history: StoredUpdate[] }> {
    this.subscribers.add(subscriber)
    subscriber.lastSequence = await this.store.newestSequence()
    if (from === undefined) return { known: true, history: [] }
    this.stats.resumeRequests++
    const history: StoredUpdate[] = []
    let page = await this.store.readAfter(from, (update) => subscriber.wants(update), REPLAY_PAGE)
    const known = page.known
    history.push(...page.updates)
    while (page.updates.length === REPLAY_PAGE) {
      page = await this.store.readAfter(from, (update) => subscriber.wants(update), REPLAY_PAGE, page.through)
      history.push(...page.updates)
    }
    subscriber.lastSequence = Math.max(subscriber.lastSequence, page.through)
    return { known, history }
  }

  /** Sends the history, then what arrived meanwhile, then everything live. */
  attach(subscriber: Subscriber, history: readonly StoredUpdate[]): void {
    const stream = subscriber.stream
    if (stream === undefined) return
    for (const update of history) this.write(subscriber, encodeUpdate(update))
    const pending = subscriber.pending ?? []
    subscriber.pending = undefined
    for (const update of pending) this.deliver(subscriber, update, encodeUpdate(update))
    stream.onClose((reason) => {
      this.subscribers.delete(subscriber)
      if (reason === 'overflow') this.stats.slowSubscriberDisconnects++
    })
  }

  remove(subscriber: Subscriber): void {
    this.subscribers.delete(subscriber)
  }

  async close(): Promise<void> {
    clearInterval(this.trimTimer)
    this.unsubscribe()
  }

  /**
   * Updates committed in the same turn of the event loop are written together: one write per
   * subscriber for all of them, so that at saturation several deliveries share one syscall.
   */
  private dispatch(update: StoredUpdate): void {
    this.stats.updates++
    if (this.queue.push(update) === 1) setImmediate(this.flush)
  }

  private readonly flush = (): void => {
    const updates = this.queue
    this.queue = []
    for (let start = 0; start < updates.length; start += MAX_BATCH)
      this.fanOut(updates.slice(start, start + MAX_BATCH))
  }

  private fanOut(updates: readonly StoredUpdate[]): void {
    const batch = new Batch(updates)
    for (const subscriber of this.subscribers) {
      if (subscriber.pending !== undefined) {
        subscriber.pending.push(...updates)
        continue
      }
      // Bit i set: the subscriber wants updates[i]. Subscribers that want the same ones share bytes.
      let wanted = 0
      let count = 0
      for (let index = 0; index < updates.length; index++) {
        const update = updates[index] as StoredUpdate
        if (update.sequence <= subscriber.lastSequence || !subscriber.wants(update)) continue
        wanted |= 1 << index
        count++
        subscriber.lastSequence = update.sequence
      }
      if (count === 0 || subscriber.stream === undefined) continue
      const bytes = batch.bytes(wanted)
      this.stats.deliveries += count
      this.stats.bytesOut += bytes.length
      void subscriber.stream.write(bytes)
    }
  }

  private deliver(subscriber: Subscriber, update: StoredUpdate, bytes: EncodedEvent): void {
    if (update.sequence <= subscriber.lastSequence || !subscriber.wants(update)) return
    subscriber.lastSequence = update.sequence
    this.write(subscriber, bytes)
  }

  private write(subscriber: Subscriber, bytes: EncodedEvent): void {
    if (subscriber.stream === undefined) return
    this.stats.deliveries++
    this.stats.bytesOut += bytes.length
    void subscriber.stream.write(bytes)
  }
}

const textEncoder = new TextEncoder()

/** An update on the wire; encoded once per publish, whatever the number of subscribers. */
export function encodeUpdate(update: StoredUpdate): EncodedEvent {
  return new EncodedEvent(
    textEncoder.encode(
      encodeEvent({ id: update.id, event: update.type, data: update.data, retry: update.retry }),
    ),
  )
}

/** The updates of one flush, each encoded once, and their concatenations by wanted-mask. */
class Batch {
  private readonly encoded: (EncodedEvent | undefined)[] = []
  private readonly combined = new Map<number, EncodedEvent>()

  constructor(private readonly updates: readonly StoredUpdate[]) {}

  bytes(wanted: number): EncodedEvent {
    // A single update (the common case below saturation) needs no copy.
    if ((wanted & (wanted - 1)) === 0) return this.one(31 - Math.clz32(wanted))
    let bytes = this.combined.get(wanted)
    if (bytes === undefined) {
      const parts: Uint8Array[] = []
      for (let index = 0; index < this.updates.length; index++)
        if (wanted & (1 << index)) parts.push(this.one(index).bytes)
      bytes = new EncodedEvent(Buffer.concat(parts))
      this.combined.set(wanted, bytes)
    }
    return bytes
  }

  private one(index: number): EncodedEvent {
    let bytes = this.encoded[index]
    if (bytes === undefined) {
      bytes = encodeUpdate(this.updates[index] as StoredUpdate)
      this.encoded[index] = bytes
    }
    return bytes
  }
}
