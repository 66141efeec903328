import { createEventStream, type EventStreamOptions } from '../../server/index.js'
import type { Generation } from '../generation/generation.js'
import type { Generations } from '../generation/generations.js'
import type { SharedGenerationState, SharedGenerations } from '../generation/shared-generations.js'
import {
  answerEnded,
  answerJson,
  type Exchange,
  GENERATION_HEADER,
  type Request,
  type Response,
} from './exchange.js'
import { describeGeneration, lastEventIdOf, stateOf } from './generation-view.js'

/**
 * A generation as the routes see it: this node's own, or another node's through the shared
 * store. One set of routes serves both.
 */
interface GenerationAccess {
  describe(withText: boolean): Promise<SharedGenerationState & { text: string }>
  viewers(): number | null
  /** Ids above this are refused; another node's recorded count may lag behind its events. */
  readonly maxId: number
  cancel(): Promise<void>
  /** Sends the events after `after`, then the live ones, until the generation ends. */
  stream(request: Request, response: Response, after: number): Promise<void>
}

/**
 * `GET /v1/generations/{id}`, `GET /v1/generations/{id}/stream` and `POST
 * /v1/generations/{id}/cancel`, for this node's generations and (with `shared`) other nodes'.
 */
export function createGenerationRoutes(
  generations: Generations,
  shared: SharedGenerations | undefined,
  streamOptions: (generation: Generation | undefined) => EventStreamOptions,
) {
  async function accessTo(id: string): Promise<GenerationAccess | undefined> {
    const generation = generations.get(id)
    if (generation !== undefined) {
      return {
        describe: async (withText) => stateOf(generation, withText),
        viewers: () => generation.viewerCount,
        maxId: generation.eventCount,
        cancel: async () => generation.cancel('cancelled by request'),
        stream: async (request, response, after) =>
          generation.attach(createEventStream(request, response, streamOptions(generation)), after),
      }
    }
    const store = shared
    const known = await store?.describe(id).catch(() => undefined)
    if (store === undefined || known === undefined) return undefined
    let latest = known
    const describe = async () => {
      latest = (await store.describe(id).catch(() => undefined)) ?? latest
      return latest
    }
    return {
      describe: async () => latest,
      viewers: () => null,
      maxId: Number.POSITIVE_INFINITY,
      cancel: async () => {
        await store.requestCancel(id).catch(() => {})
        // The owner cancels it; give it a moment so that the answer shows the outcome.
        for (let waited = 0; (await describe()).state === 'streaming' && waited < 2000; waited += 100) {
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      },
      stream: async (request, response, after) => {
        const stream = createEventStream(request, response, {
          ...streamOptions(undefined),
          headers: { [GENERATION_HEADER]: id },
        })
        store.announce(id, 'joined')
        const following = new AbortController()
        stream.onClose(() => following.abort())
        const ended = await store.follow(id, after, (frames) => stream.offer(frames), following.signal)
        store.announce(id, 'left')
        if (ended) stream.close()
      },
    }
  }

  async function route(exchange: Exchange, url: URL, id: string, action: string | undefined): Promise<void> {
    const { request, response } = exchange
    const method = request.method ?? 'GET'
    const generation = await accessTo(id)
    if (generation === undefined) {
      exchange.answer(404, 'not_found_error', `no generation ${id} (unknown, or finished and no longer kept)`)
      return
    }
    if (action === '/cancel') {
      if (method !== 'POST') {
        exchange.answer(405, 'invalid_request_error', 'cancel with POST')
        return
      }
      await generation.cancel()
      answerJson(exchange, describeGeneration(await generation.describe(false), false, generation.viewers()))
      return
    }
    if (method !== 'GET') {
      exchange.answer(405, 'invalid_request_error', `${method} is not allowed on ${url.pathname}`)
      return
    }
    if (action === undefined) {
      answerJson(exchange, describeGeneration(await generation.describe(true), true, generation.viewers()))
      return
    }
    const after = lastEventIdOf(request, url)
    if (!(after <= generation.maxId)) {
      const range = Number.isFinite(generation.maxId) ? ` (0–${generation.maxId})` : ''
      exchange.answer(
        400,
        'invalid_request_error',
        `Last-Event-ID must be an event id of this generation${range}`,
      )
      return
    }
    const state = await generation.describe(false)
    if (state.state !== 'streaming' && after >= state.events) {
      answerEnded(exchange)
      return
    }
    exchange.report(200)
    await generation.stream(request, response, after)
  }

  return route
}
