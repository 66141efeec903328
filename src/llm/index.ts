export { Generation, type GenerationState } from './generation/generation.js'
export { type GenerationNodes, LocalNodes } from './generation/generation-nodes.js'
export { Generations } from './generation/generations.js'
export { RedisGenerationNodes } from './generation/redis-generation-nodes.js'
export { StoredGenerations, type StoredGenerationsOptions } from './generation/stored-generations.js'
export { anthropic } from './providers/anthropic.js'
export { openai } from './providers/openai.js'
export type { Provider, Usage } from './providers/provider.js'
export { Access, type AccessOptions, keyId } from './routes/access.js'
export { createLlmProxy, type LlmObserver, type LlmProxy, type LlmProxyOptions } from './routes/proxy.js'
export { DEMO_MODEL, demoUpstream } from './upstream/demo-upstream.js'
export { EventSplitter } from './upstream/event-splitter.js'
export {
  httpUpstream,
  type Upstream,
  type UpstreamRequest,
  type UpstreamResponse,
} from './upstream/upstream.js'
export {
  createUpstreamClient,
  DEFAULT_UPSTREAM_CLIENT,
  type UpstreamClientOptions,
} from './upstream/upstream-client.js'
