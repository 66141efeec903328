import { encodeEvent } from '../protocol/encoder.js'
import { EncodedEvent } from '../server/encoded-event.js'
import { SelectorCounts } from './selector-counts.js'
import type { HistoryBounds, ResumePoint, UpdateStore } from './store/store.js'
import type { Subscriber } from './subscriber.js'
import type { NewUpdate, StoredUpdate } from './update.js'

/**
 * Updates examined per store read of a replay; the event loop turns between reads. At the default
 * `--max-wildcards` a page of the costliest selectors takes about 6 ms once the matching code is
 * optimised, and stays under the 50 ms budget while it is not (`npm run bench -- hardening`).
 */
const REPLAY_PAGE = 256
/** Updates written together at most: one bit each in a 32-bit mask. */
const MAX_BATCH = 31
/** Subscribers written to per turn of the event loop at most (about 10 ms of writes)… */
const SLICE_SIZE = 1000
/** …and milliseconds per turn at most, when matching costs more than writing (costly selectors). */
const SLICE_MS = 10
/** Milliseconds without a fan-out after which the hub counts as quiet (see `isQuiet`). */
const QUIET_MS = 5

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
  readonly #subscribers = new Set<Subscriber>()
  /** Subscribers per topic selector, for the stats pages and metrics (what they may show). */
  readonly selectorCounts = new SelectorCounts()
  readonly stats: HubStats = {
    updates: 0,
    deliveries: 0,
    bytesOut: 0,
    resumeRequests: 0,
    slowSubscriberDisconnects: 0,
  }
  private readonly unsubscribe: () => void
  private trimTimer: ReturnType<typeof setInterval> | undefined
  /** Updates committed and not yet written to every subscriber that wants them, in order. */
  private queue: StoredUpdate[] = []
  /** The fan-out under way, when it takes more than one slice. */
  private pass: Pass | undefined
  private scheduled = false
  /** When the last slice of a fan-out ended (`performance.now()`). */
  private lastSliceAt = Number.NEGATIVE_INFINITY
  private readonly sliceSize: number
  private readonly quietMs: number

  constructor(
    readonly store: UpdateStore,
    history: HistoryBounds = { maxCount: 10_000, maxAge: 24 * 3600_000 },
    options: { sliceSize?: number; quietMs?: number } = {},
  ) {
    this.sliceSize = options.sliceSize ?? SLICE_SIZE
    this.quietMs = options.quietMs ?? QUIET_MS
    this.unsubscribe = store.onAppend((update) => this.dispatch(update))
    // A failed trim (a busy or closing store) is simply tried again a minute later.
    const trim = () => {
      store.trim(history).catch(() => {})
    }
    this.trimTimer = setInterval(trim, 60_000)
    this.trimTimer.unref()
    trim()
  }

  /** Stores the update and resolves once it is committed (and handed to local subscribers). */
  publish(update: NewUpdate): Promise<StoredUpdate> {
    return this.store.append(update)
  }

  /**
   * Registers the subscriber at once (live updates wait in its `pending`), then finds its history
   * after `from`. Call `attach` with its stream to send that history and go live — unless the
   * history was `cut`: it stops once it holds `maxBytes` of data (at least one update), since a
   * subscriber could otherwise make the hub load the whole history at once. Send what it holds, then
   * end the stream: the client resumes from the last one (`Last-Event-ID`) for the rest.
   */
  async subscribe(
    subscriber: Subscriber,
    from: ResumePoint | undefined,
    maxBytes = Number.POSITIVE_INFINITY,
  ): Promise<{ known: boolean; history: StoredUpdate[]; cut: boolean }> {
    this.#enroll(subscriber)
    subscriber.lastSequence = await this.store.newestSequence()
    if (from === undefined) return { known: true, history: [], cut: false }
    this.stats.resumeRequests++
    const history: StoredUpdate[] = []
    let bytes = 0
    const wants = (update: StoredUpdate) => subscriber.wants(update)
    let page = await this.store.readAfter(from, wants, REPLAY_PAGE)
    const known = page.known
    for (;;) {
      for (const update of page.updates) {
        history.push(update)
        bytes += update.data.length
        if (bytes >= maxBytes) {
          this.#drop(subscriber)
          return { known, history, cut: true }
        }
      }
      if (page.done) break
      // However long the history, one subscriber's replay is a page at a time between other work.
      await new Promise((resolve) => setImmediate(resolve))
      page = await this.store.readAfter(from, wants, REPLAY_PAGE, page.through)
    }
    subscriber.lastSequence = Math.max(subscriber.lastSequence, page.through)
    return { known, history, cut: false }
  }

  /** Sends the history, then what arrived meanwhile, then everything live. */
  attach(subscriber: Subscriber, history: readonly StoredUpdate[]): void {
    const stream = subscriber.stream
    if (stream === undefined) return
    this.replay(subscriber, history)
    const pending = subscriber.pending ?? []
    subscriber.pending = undefined
    for (const update of pending) this.deliver(subscriber, update, encodeUpdate(update))
    stream.onClose((reason) => {
      this.#drop(subscriber)
      if (reason === 'overflow') this.stats.slowSubscriberDisconnects++
    })
  }

  /** Writes history to the subscriber's stream, and nothing live (a replay that was cut). */
  replay(subscriber: Subscriber, history: readonly StoredUpdate[]): void {
    for (const update of history) this.write(subscriber, encodeUpdate(update))
  }

  remove(subscriber: Subscriber): void {
    this.#drop(subscriber)
  }

  /** Every registered subscriber. */
  get subscribers(): ReadonlySet<Subscriber> {
    return this.#subscribers
  }

  #enroll(subscriber: Subscriber): void {
    if (this.#subscribers.has(subscriber)) return
    this.#subscribers.add(subscriber)
    this.selectorCounts.add(subscriber)
  }

  #drop(subscriber: Subscriber): void {
    if (!this.#subscribers.delete(subscriber)) return
    this.selectorCounts.remove(subscriber)
  }

  async close(): Promise<void> {
    clearInterval(this.trimTimer)
    this.unsubscribe()
  }

  /**
   * A quiet hub writes the update at once (see `isQuiet`); a busy one writes the updates committed
   * in the same turn of the event loop together: one write per subscriber for all of them, so that
   * at saturation several deliveries share one syscall.
   */
  private dispatch(update: StoredUpdate): void {
    this.stats.updates++
    this.queue.push(update)
    if (!this.isQuiet()) {
      this.schedule()
      return
    }
    try {
      this.step()
    } catch (error) {
      // Thrown where a scheduled fan-out would throw, not into the store's commit loop (which
      // would leave the other publishers of its batch unanswered).
      process.nextTick(() => {
        throw error
      })
    }
  }

  /**
   * No fan-out under way or due, and none for `quietMs`: a lone update then goes out at once,
   * before the publisher is answered, instead of at the end of the turn with the updates committed
   * meanwhile — which a busy hub does, so that they share the writes (at saturation it is never
   * quiet). `npm run bench -- fanout` at 10 updates/s: with one subscriber p50 2.1–2.9 → 1.5–1.8 ms,
   * with 1,000 the first ones (p1) 2.4–2.8 → 2.0–2.2 ms. The publisher's answer waits for the
   * first slice (up to SLICE_SIZE subscribers, ~10 ms).
   */
  private isQuiet(): boolean {
    return !this.scheduled && this.pass === undefined && performance.now() - this.lastSliceAt > this.quietMs
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(this.step)
  }

  /**
   * One slice of the fan-out: at most `sliceSize` subscribers, then the event loop turns, so that
   * a publish is not kept waiting for a fan-out to ten thousand subscribers (about 100 ms). Updates
   * that arrive meanwhile join the pass under way for the subscribers it has not reached yet (one
   * write for both), and go to the others in the next pass: each subscriber's `lastSequence` keeps
   * every update written once, in order.
   */
  private readonly step = (): void => {
    this.scheduled = false
    this.slice()
    this.lastSliceAt = performance.now()
    if (this.pass !== undefined || this.queue.length > 0) this.schedule()
  }

  private slice(): void {
    let budget = this.sliceSize
    const deadline = performance.now() + SLICE_MS
    while (budget > 0) {
      let pass = this.pass
      if (pass === undefined) {
        if (this.queue.length === 0) return
        pass = new Pass(this.queue.slice(0, MAX_BATCH), this.subscribers.values())
        this.pass = pass
      } else {
        pass.join(this.queue)
      }
      for (; budget > 0; budget--) {
        const next = pass.subscribers.next()
        if (next.done === true) {
          this.finishPass(pass)
          break
        }
        this.fanOut(next.value, pass)
        // The clock is read every 64 subscribers: often enough for a slice of costly matches.
        if ((budget & 63) === 0 && performance.now() > deadline) return
      }
    }
  }

  /** Updates the pass took to everyone leave the queue; those that joined it stay for the next. */
  private finishPass(pass: Pass): void {
    this.pass = undefined
    this.queue.splice(0, pass.updates.length - pass.joined)
  }

  private fanOut(subscriber: Subscriber, pass: Pass): void {
    const { updates } = pass
    if (subscriber.pending !== undefined) {
      // Replayed from history later, where updates already sent are skipped the same way.
      subscriber.pending.push(...updates)
      return
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
    if (count === 0 || subscriber.stream === undefined) return
    const bytes = pass.batch.bytes(wanted)
    this.stats.deliveries += count
    this.stats.bytesOut += bytes.length
    subscriber.stream.offer(bytes)
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
    subscriber.stream.offer(bytes)
  }
}

/**
 * An update on the wire; encoded once per publish, whatever the number of subscribers. A Buffer,
 * not a Uint8Array: a socket turns each Uint8Array it is given into a Buffer, a third of the
 * garbage of a write (~300 → ~200 bytes), and garbage is what brings young collections into a fan-out.
 */
export function encodeUpdate(update: StoredUpdate): EncodedEvent {
  return new EncodedEvent(
    Buffer.from(encodeEvent({ id: update.id, event: update.type, data: update.data, retry: update.retry })),
  )
}

/**
 * One walk over the subscribers with a batch of updates. Updates committed while it runs join it
 * (up to MAX_BATCH) for the subscribers it has yet to reach; `joined` counts them, since the
 * subscribers it passed before still need them (the next pass).
 */
class Pass {
  readonly batch: Batch
  joined = 0

  constructor(
    readonly updates: StoredUpdate[],
    readonly subscribers: Iterator<Subscriber>,
  ) {
    this.batch = new Batch(updates)
  }

  /** Takes the queued updates it does not have yet, as far as the mask has room. */
  join(queue: readonly StoredUpdate[]): void {
    // The pass holds the front of the queue: what follows it is new.
    for (let index = this.updates.length; index < queue.length && this.updates.length < MAX_BATCH; index++) {
      this.updates.push(queue[index] as StoredUpdate)
      this.joined++
    }
  }
}

/** The updates of one pass, each encoded once, and their concatenations by wanted-mask. */
class Batch {
  private readonly encoded: (EncodedEvent | undefined)[] = []
  private readonly combined = new Map<number, EncodedEvent>()

  // The array grows as updates join the pass; masks already combined stay valid.
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
