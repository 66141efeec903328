import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import type { Generation, GenerationState } from '../generation/generation.js'
import type { Usage } from '../providers/provider.js'

type Request = IncomingMessage | Http2ServerRequest

/** What the routes tell of a generation. */
export interface GenerationSummary {
  id: string
  state: GenerationState
  provider: 'openai' | 'anthropic'
  model: string
  keyId: string
  createdAt: number
  finishedAt: number | undefined
  error: string | undefined
  firstOutputAt: number | undefined
  events: number
  usage: Usage | undefined
  text: string
}

export function stateOf(generation: Generation, withText: boolean): GenerationSummary {
  return {
    id: generation.id,
    state: generation.state,
    provider: generation.provider.name,
    model: generation.model,
    keyId: generation.options.keyId,
    createdAt: generation.createdAt,
    finishedAt: generation.finishedAt,
    error: generation.error,
    firstOutputAt: generation.firstOutputAt,
    events: generation.eventCount,
    usage: generation.usage(),
    text: withText ? generation.text() : '',
  }
}

/**
 * `Last-Event-ID` (the header, else `last_event_id` in the query) as an event number; NaN when it
 * is not one. The header first, as the hub does: an EventSource opened with `?last_event_id=` sends
 * the id it has seen since in the header when it reconnects, and the query's older one would replay
 * what it already has.
 */
export function lastEventIdOf(request: Request, url: URL): number {
  const header = request.headers['last-event-id']
  const value = (
    (Array.isArray(header) ? header[0] : header) ??
    url.searchParams.get('last_event_id') ??
    '0'
  ).trim()
  return /^\d{1,9}$/.test(value) ? Number(value) : Number.NaN
}

/** What `GET /v1/generations/{id}` answers; `viewers` is known only on the node that runs it. */
export function describeGeneration(
  state: GenerationSummary,
  withText: boolean,
  viewers: number | null = null,
) {
  const usage = state.usage ?? { inputTokens: 0, outputTokens: 0, estimated: true }
  return {
    id: state.id,
    object: 'streamgate.generation',
    state: state.state,
    provider: state.provider,
    model: state.model,
    created_at: state.createdAt,
    finished_at: state.finishedAt ?? null,
    error: state.error ?? null,
    events: state.events,
    viewers,
    time_to_first_token_ms: state.firstOutputAt === undefined ? null : state.firstOutputAt - state.createdAt,
    usage: { input_tokens: usage.inputTokens, output_tokens: usage.outputTokens, estimated: usage.estimated },
    ...(withText ? { text: state.text } : {}),
  }
}
