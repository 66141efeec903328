export { Access, type AccessOptions, keyId } from './access.js'
export { DEMO_MODEL, demoUpstream } from './demo-upstream.js'
export { EventSplitter } from './event-splitter.js'
export { Generation, type GenerationState } from './generation.js'
export { Generations } from './generations.js'
export { anthropic, openai, type Provider, type Usage } from './provider.js'
export { createLlmProxy, type LlmObserver, type LlmProxy, type LlmProxyOptions } from './proxy.js'
export { type SharedGenerationState, SharedGenerations } from './shared-generations.js'
export { httpUpstream, type Upstream, type UpstreamRequest, type UpstreamResponse } from './upstream.js'
export {
  createUpstreamClient,
  DEFAULT_UPSTREAM_CLIENT,
  type UpstreamClientOptions,
} from './upstream-client.js'
