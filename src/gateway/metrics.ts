import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { Hub } from '../hub/hub.js'
import type { Generation } from '../llm/generation/generation.js'

/** Topics labelled one by one; the rest are summed under "other", so the label set stays bounded. */
const TOPIC_LABELS = 50

/**
 * Prometheus metrics (`/metrics`). Values are read from the hub's counters at scrape time, so the
 * delivery path only adds to integers.
 */
export function createMetrics(hub: Hub, openStreams: () => number) {
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
      for (const [topic, count] of Object.entries(hub.selectorCounts.top(TOPIC_LABELS)))
        this.set({ topic }, count)
    },
  })
  return { registry, ...llmMetrics(registry) }
}

/** The LLM proxy's metrics, fed by its observer once per request and per finished generation. */
function llmMetrics(registry: Registry) {
  const requests = new Counter({
    name: 'streamgate_llm_requests_total',
    help: 'Requests to the LLM routes by route and status',
    labelNames: ['route', 'status'],
    registers: [registry],
  })
  const generations = new Counter({
    name: 'streamgate_llm_generations_total',
    help: 'Streamed generations by final state',
    labelNames: ['state'],
    registers: [registry],
  })
  const tokens = new Counter({
    name: 'streamgate_llm_tokens_total',
    help: 'Tokens per gateway key (its fingerprint) and direction; estimated="true" where the upstream reported none',
    labelNames: ['key', 'direction', 'estimated'],
    registers: [registry],
  })
  const firstToken = new Histogram({
    name: 'streamgate_llm_time_to_first_token_seconds',
    help: 'From the request to the first output token of a generation',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
    registers: [registry],
  })
  const tokensPerSecond = new Histogram({
    name: 'streamgate_llm_output_tokens_per_second',
    help: 'Output tokens per second of a generation, from its first token to its end',
    buckets: [5, 10, 20, 40, 80, 160, 320, 640],
    registers: [registry],
  })
  return {
    llmRequest(route: string, status: number): void {
      requests.inc({ route, status: String(status) })
    },
    llmGeneration(generation: Generation): void {
      generations.inc({ state: generation.state })
      const usage = generation.usage()
      const key = generation.options.keyId
      const estimated = String(usage.estimated)
      tokens.inc({ key, estimated, direction: 'input' }, usage.inputTokens)
      tokens.inc({ key, estimated, direction: 'output' }, usage.outputTokens)
      const first = generation.firstOutputAt
      if (first === undefined) return
      firstToken.observe((first - generation.createdAt) / 1000)
      const seconds = ((generation.finishedAt ?? Date.now()) - first) / 1000
      if (seconds > 0) tokensPerSecond.observe(usage.outputTokens / seconds)
    },
  }
}
