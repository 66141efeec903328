import type { Hub } from '../hub/hub.js'

/** One sample of the gateway's activity, as the dashboard shows it. */
export interface StatsSample {
  /** Milliseconds since the epoch. */
  time: number
  connections: number
  subscribers: number
  /**
   * The largest topic selectors by subscriber count, the rest summed as "other"; the selectors of
   * subscriptions with private access as one count (see SelectorCounts).
   */
  subscribersPerTopic: Record<string, number>
  updatesPerSecond: number
  deliveriesPerSecond: number
  activeGenerations: number
  /** Durable streams kept, and their live readers (long-polls and SSE). */
  durableStreams: number
  streamReaders: number
}

const SAMPLE_MS = 1000
const KEPT_SAMPLES = 120
/** Topic selectors listed one by one in a sample. */
const TOPICS = 20

/**
 * A sample per second of connections, subscribers, rates and generations, the last two minutes
 * kept: what `/api/stats` answers and `/api/stats/stream` pushes.
 */
export class StatsSampler {
  readonly history: StatsSample[] = []
  private readonly listeners = new Set<(sample: StatsSample) => void>()
  private readonly timer: ReturnType<typeof setInterval>
  private previous: { time: number; updates: number; deliveries: number }

  constructor(
    private readonly hub: Hub,
    private readonly connections: () => number,
    private readonly activeGenerations: () => number,
    private readonly streams: () => { count: number; readers: number } = () => ({ count: 0, readers: 0 }),
  ) {
    this.previous = { time: Date.now(), updates: hub.stats.updates, deliveries: hub.stats.deliveries }
    this.timer = setInterval(() => this.sample(), SAMPLE_MS)
    this.timer.unref()
    this.sample()
  }

  /** The last sample, with subscribers per topic counted now. */
  get latest(): StatsSample {
    return {
      ...(this.history.at(-1) as StatsSample),
      subscribersPerTopic: this.hub.selectorCounts.top(TOPICS),
    }
  }

  /** Calls `listener` with every new sample until the returned function is called. */
  subscribe(listener: (sample: StatsSample) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  close(): void {
    clearInterval(this.timer)
    this.listeners.clear()
  }

  private sample(): void {
    const now = Date.now()
    const { updates, deliveries } = this.hub.stats
    const seconds = Math.max(0.001, (now - this.previous.time) / 1000)
    const streams = this.streams()
    const sample: StatsSample = {
      time: now,
      connections: this.connections(),
      subscribers: this.hub.subscribers.size,
      subscribersPerTopic: this.listeners.size > 0 ? this.hub.selectorCounts.top(TOPICS) : {},
      updatesPerSecond: Math.round((updates - this.previous.updates) / seconds),
      deliveriesPerSecond: Math.round((deliveries - this.previous.deliveries) / seconds),
      activeGenerations: this.activeGenerations(),
      durableStreams: streams.count,
      streamReaders: streams.readers,
    }
    this.previous = { time: now, updates, deliveries }
    this.history.push(sample)
    if (this.history.length > KEPT_SAMPLES) this.history.shift()
    for (const listener of this.listeners) listener(sample)
  }
}
