import { demoUpstream } from '../llm/demo-upstream.js'
import { anthropic, openai } from '../llm/provider.js'
import { createLlmProxy, type LlmObserver } from '../llm/proxy.js'
import { SharedGenerations } from '../llm/shared-generations.js'
import { httpUpstream } from '../llm/upstream.js'
import type { EventStreamOptions } from '../server/index.js'
import type { GatewayConfig } from './config.js'

/** The LLM proxy as `serve` configures it: each route's upstream, or the demo when none is given. */
export function createLlmProxyFromConfig(
  config: GatewayConfig,
  streamOptions: EventStreamOptions,
  observer: LlmObserver,
) {
  return createLlmProxy({
    openai: config.upstream
      ? httpUpstream(config.upstream, config.upstreamKey, openai)
      : demoUpstream(openai),
    anthropic: config.anthropicUpstream
      ? httpUpstream(config.anthropicUpstream, config.anthropicUpstreamKey, anthropic)
      : demoUpstream(anthropic),
    access: {
      apiKeys: config.apiKey,
      requestsPerMinute: config.keyRpm,
      concurrentStreams: config.keyConcurrency,
    },
    resumeGrace: config.resumeGrace * 1000,
    maxBody: config.maxBody,
    streamOptions,
    observer,
    // With the Redis store, generations are visible from every node.
    shared: /^rediss?:\/\//.test(config.store) ? new SharedGenerations(config.store, 15 * 60_000) : undefined,
  })
}
