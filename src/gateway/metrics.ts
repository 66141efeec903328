import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { Hub } from '../hub/hub.js'
import { selectorSource } from '../hub/topic-selector.js'

/** Topics labelled one by one; the rest are summed under "other", so the label set stays bounded. */
const TOPIC_LABELS = 50

/**
 * Prometheus metrics (`/metrics`). Values are read from the hub's counters at scrape time, so the
 * delivery path only adds to integers.
 */
export function createMetrics(hub: Hub, openStreams: () => number): Registry {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry, prefix: 'streamgate_' })
  const fromHub = (name: string, help: string, read: () => number) =>
    new Counter({
      name,
      help,
      registers: [registry],
      collect() {
        this.reset()
        this.inc(read())
      },
    })
  fromHub(
    'streamgate_updates_published_total',
    'Updates published (committed to the store)',
    () => hub.stats.updates,
  )
  fromHub('streamgate_deliveries_total', 'Updates written to subscribers', () => hub.stats.deliveries)
  fromHub('streamgate_bytes_out_total', 'Bytes of updates written to subscribers', () => hub.stats.bytesOut)
  fromHub(
    'streamgate_resume_requests_total',
    'Subscriptions that asked to resume',
    () => hub.stats.resumeRequests,
  )
  fromHub(
    'streamgate_slow_subscriber_disconnects_total',
    'Subscribers cut off for reading too slowly',
    () => hub.stats.slowSubscriberDisconnects,
  )
  new Gauge({
    name: 'streamgate_connections_open',
    help: 'Open SSE streams (demo stream and hub subscriptions)',
    registers: [registry],
    collect() {
      this.set(openStreams())
    },
  })
  new Gauge({
    name: 'streamgate_subscribers',
    help: `Hub subscribers per topic selector (the ${TOPIC_LABELS} largest; the rest as "other")`,
    labelNames: ['topic'],
    registers: [registry],
    collect() {
      this.reset()
      const counts = new Map<string, number>()
      for (const subscriber of hub.subscribers) {
        for (const selector of subscriber.selectors) {
          const label = selectorSource(selector)
          counts.set(label, (counts.get(label) ?? 0) + 1)
        }
      }
      const sorted = [...counts].sort((a, b) => b[1] - a[1])
      for (const [topic, count] of sorted.slice(0, TOPIC_LABELS)) this.set({ topic }, count)
      const rest = sorted.slice(TOPIC_LABELS).reduce((sum, [, count]) => sum + count, 0)
      if (rest > 0) this.set({ topic: 'other' }, rest)
    },
  })
  return registry
}
