import { createEventStream, type EventStreamOptions } from '../../server/index.js'
import type { Generation } from '../generation/generation.js'
import type { Generations } from '../generation/generations.js'
import { answerEnded, answerJson, type Exchange } from './exchange.js'
import { describeGeneration, lastEventIdOf, stateOf } from './generation-view.js'

/** How long a cancel through another node waits for the generation to end there. */
const REMOTE_CANCEL_WAIT_MS = 2000

/**
 * `GET /v1/generations/{id}`, `GET /v1/generations/{id}/stream` and `POST
 * /v1/generations/{id}/cancel`: for this node's generations, the ones read back from the store
 * after a restart, and (a shared store) other nodes' — one set of routes for all of them.
 */
export function createGenerationRoutes(
  generations: Generations,
  streamOptions: (generation: Generation | undefined) => EventStreamOptions,
) {
  const describe = (generation: Generation, withText: boolean) =>
    describeGeneration(
      stateOf(generation, withText),
      withText,
      generation.isReplica ? null : generation.viewerCount,
    )

  async function route(exchange: Exchange, url: URL, id: string, action: string | undefined): Promise<void> {
    const { request, response } = exchange
    const method = request.method ?? 'GET'
    const generation = await generations.find(id)
    if (generation === undefined) {
      exchange.answer(404, 'not_found_error', `no generation ${id} (unknown, or finished and no longer kept)`)
      return
    }
    if (action === '/cancel') {
      if (method !== 'POST') {
        exchange.answer(405, 'invalid_request_error', 'cancel with POST')
        return
      }
      generation.cancel('cancelled by request')
      // Another node runs it: give it a moment, so that the answer shows the outcome.
      if (generation.isReplica) await Promise.race([generation.ended, delay(REMOTE_CANCEL_WAIT_MS)])
      answerJson(exchange, describe(generation, false))
      return
    }
    if (method !== 'GET') {
      exchange.answer(405, 'invalid_request_error', `${method} is not allowed on ${url.pathname}`)
      return
    }
    if (action === undefined) {
      answerJson(exchange, describe(generation, true))
      return
    }
    const after = lastEventIdOf(request, url)
    if (!(after <= generation.eventCount) && !(generation.isReplica && after <= MAX_EVENT_ID)) {
      exchange.answer(
        400,
        'invalid_request_error',
        `Last-Event-ID must be an event id of this generation (0–${generation.eventCount})`,
      )
      return
    }
    if (generation.isOver && after >= generation.eventCount) {
      answerEnded(exchange)
      return
    }
    // A replica may not have read that far yet.
    if (generation.isReplica) await generation.reached(after)
    exchange.report(200)
    generation.attach(createEventStream(request, response, streamOptions(generation)), after)
  }

  return route
}

/** A replica may be behind the node that runs it: an id it has not read yet may still come. */
const MAX_EVENT_ID = 999_999_999

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref()
  })
