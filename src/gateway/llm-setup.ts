import { LocalNodes } from '../llm/generation/generation-nodes.js'
import { RedisGenerationNodes } from '../llm/generation/redis-generation-nodes.js'
import { StoredGenerations } from '../llm/generation/stored-generations.js'
import { anthropic } from '../llm/providers/anthropic.js'
import { openai } from '../llm/providers/openai.js'
import type { Provider } from '../llm/providers/provider.js'
import { createLlmProxy, type LlmObserver } from '../llm/routes/proxy.js'
import { demoUpstream } from '../llm/upstream/demo-upstream.js'
import { httpUpstream } from '../llm/upstream/upstream.js'
import { createUpstreamClient, type UpstreamClientOptions } from '../llm/upstream/upstream-client.js'
import type { EventStreamOptions } from '../server/index.js'
import type { StreamStore } from '../streams/stream-store.js'
import { ConfigError, type GatewayConfig, readPem } from './config.js'

/** The LLM proxy as `serve` configures it: each route's upstream, or the demo when none is given. */
export function createLlmProxyFromConfig(
  config: GatewayConfig,
  streamOptions: EventStreamOptions,
  observer: LlmObserver,
  streamStore: StreamStore,
) {
  const clientOptions: UpstreamClientOptions = {
    connectTimeout: config.upstreamConnectTimeout * 1000,
    headerTimeout: config.upstreamHeaderTimeout * 1000,
    idleTimeout: config.upstreamIdleTimeout * 1000,
    ca: config.upstreamCa === undefined ? undefined : upstreamCa(config.upstreamCa),
  }
  const client = createUpstreamClient(clientOptions)
  const upstream = (flag: string, url: string | undefined, key: string | undefined, provider: Provider) => {
    if (url === undefined) return demoUpstream(provider)
    try {
      return httpUpstream(url, key, provider, clientOptions, client)
    } catch (error) {
      throw new ConfigError(`${flag}: ${(error as Error).message}`)
    }
  }
  return createLlmProxy({
    openai: upstream('--upstream', config.upstream, config.upstreamKey, openai),
    anthropic: upstream(
      '--anthropic-upstream',
      config.anthropicUpstream,
      config.anthropicUpstreamKey,
      anthropic,
    ),
    access: {
      apiKeys: config.apiKey,
      requestsPerMinute: config.keyRpm,
      concurrentStreams: config.keyConcurrency,
    },
    resumeGrace: config.resumeGrace * 1000,
    nativeBackground: config.upstreamBackground,
    maxBody: config.maxBody,
    streamOptions,
    observer,
    // Generations are durable streams in the gateway's store; with Redis, every node sees them.
    stored: new StoredGenerations(
      streamStore,
      /^rediss?:\/\//.test(config.store) ? new RedisGenerationNodes(config.store) : new LocalNodes(),
      { retainFor: config.generationRetention * 1000, maxBytes: config.generationMaxBytes },
    ),
  })
}

/** `--upstream-ca`: PEM certificates, checked at start-up rather than at the first request. */
function upstreamCa(path: string): string {
  const pem = readPem(path, '--upstream-ca').toString('utf8')
  if (!pem.includes('-----BEGIN CERTIFICATE-----'))
    throw new ConfigError(`--upstream-ca: ${path} holds no PEM certificate`)
  return pem
}
