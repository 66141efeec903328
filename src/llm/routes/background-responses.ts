import type { Generation } from '../generation/generation.js'
import type { Generations } from '../generation/generations.js'
import { eventJson } from '../providers/provider.js'

/*
 * OpenAI's background mode (`POST /v1/responses` with `background: true`) for any OpenAI-compatible
 * upstream: the gateway runs the response upstream as an ordinary streamed request (no slower first
 * token, and upstreams without background mode work too) in a generation that runs whether or not
 * anyone watches. What `GET /v1/responses/{id}` answers is read from its events: the last Response
 * object one carried, with the output items finished since.
 */

type Json = Record<string, unknown>

// Only events that may carry these are parsed: most of a response's events are text deltas.
const RESPONSE_MEMBER = Buffer.from('"response":{')
const ITEM_DONE = Buffer.from('response.output_item.done')
const TERMINAL = new Set(['completed', 'failed', 'cancelled', 'incomplete'])

export class BackgroundResponse {
  /** The upstream's own `resp_…` id, once its first event said it. */
  id: string | undefined
  private snapshot: Json | undefined
  private readonly items: unknown[] = []
  /** Resolves once the id is known or the generation has ended without one. */
  readonly known: Promise<void>
  private resolveKnown: () => void = () => {}

  constructor(
    readonly generation: Generation,
    private readonly onId: (response: BackgroundResponse) => void,
  ) {
    this.known = new Promise((resolve) => {
      this.resolveKnown = resolve
    })
    generation.ended.then(this.resolveKnown, this.resolveKnown)
  }

  /** Reads the events of the generation as it numbers them. */
  take(events: readonly Buffer[]): void {
    for (const event of events) {
      if (!event.includes(RESPONSE_MEMBER) && !event.includes(ITEM_DONE)) continue
      const data = eventJson(event.toString('utf8')) as Json | undefined
      if (data === undefined) continue
      const response = data.response as Json | undefined
      if (typeof response === 'object' && response !== null && typeof response.id === 'string') {
        this.snapshot = response
        if (this.id === undefined) {
          this.id = response.id
          this.onId(this)
          this.resolveKnown()
        }
      }
      if (data.type === 'response.output_item.done' && typeof data.output_index === 'number')
        this.items[data.output_index] = data.item
    }
  }

  /** The Response object now: as the upstream last described it, with what the gateway knows since. */
  object(): Json {
    const snapshot = this.snapshot ?? {}
    const upstreamStatus = typeof snapshot.status === 'string' ? snapshot.status : 'in_progress'
    const { state, error } = this.generation
    let status = upstreamStatus
    let failure = snapshot.error ?? null
    if (state === 'cancelled') status = 'cancelled'
    else if (state === 'failed' && !TERMINAL.has(upstreamStatus)) {
      status = 'failed'
      failure = { code: 'server_error', message: error ?? 'the upstream failed' }
    } else if (state === 'interrupted' && !TERMINAL.has(upstreamStatus)) {
      status = 'failed'
      failure = { code: 'server_error', message: error ?? 'the gateway stopped' }
    } else if (state === 'completed' && !TERMINAL.has(upstreamStatus)) status = 'incomplete'
    const finished = TERMINAL.has(upstreamStatus) && Array.isArray(snapshot.output)
    return {
      ...snapshot,
      id: this.id,
      object: 'response',
      status,
      background: true,
      error: failure,
      output: finished ? snapshot.output : this.items.filter((item) => item !== undefined),
    }
  }
}

/** The `resp_…` id the first of these events that carries a Response object names. */
function responseIdIn(events: readonly Buffer[]): string | undefined {
  for (const event of events) {
    if (!event.includes(RESPONSE_MEMBER)) continue
    const response = (eventJson(event.toString('utf8')) as Json | undefined)?.response as Json | undefined
    if (typeof response?.id === 'string') return response.id
  }
  return undefined
}

/**
 * The background responses of this gateway by their `resp_…` id, for as long as their generation is
 * kept: in memory, else (after a restart, or another node's) read back from the store.
 */
export class BackgroundResponses {
  private readonly byId = new Map<string, BackgroundResponse>()

  constructor(private readonly generations: Generations) {}

  /**
   * Tracks a new background response's generation (it reads the events as they come). Its id is
   * stored with the events that name it, so that any node finds it once a client can know it.
   */
  start(generation: Generation): BackgroundResponse {
    const tracked = new BackgroundResponse(generation, (response) => this.named(response))
    generation.onEvents = (events) => tracked.take(events)
    const { stored } = this.generations
    if (stored !== undefined) {
      generation.beforeStore = (events) => {
        const id = responseIdIn(events)
        if (id === undefined) return undefined
        generation.beforeStore = undefined
        return stored.recordResponse(id, generation.id)
      }
    }
    return tracked
  }

  async get(id: string): Promise<BackgroundResponse | undefined> {
    const response = this.byId.get(id)
    if (response !== undefined && this.isKept(response.generation)) return response
    this.byId.delete(id)
    const { stored } = this.generations
    const generationId = await stored?.generationOfResponse(id).catch(() => undefined)
    const generation = generationId === undefined ? undefined : await this.generations.find(generationId)
    if (generation === undefined) return undefined
    const tracked = new BackgroundResponse(generation, () => {})
    for (let event = 1; event <= generation.eventCount; event++) tracked.take([generation.event(event)])
    generation.onEvents = (events) => tracked.take(events)
    if (tracked.id === id) this.byId.set(id, tracked)
    return tracked.id === id ? tracked : undefined
  }

  private named(response: BackgroundResponse): void {
    this.sweep()
    this.byId.set(response.id as string, response)
  }

  private isKept(generation: Generation): boolean {
    return this.generations.get(generation.id) === generation
  }

  /** Forgets the responses whose generation the gateway no longer keeps. */
  private sweep(): void {
    for (const [id, response] of this.byId) if (!this.isKept(response.generation)) this.byId.delete(id)
  }
}
