import type { IncomingHttpHeaders } from 'node:http'
import { createEventStream, type EventStreamOptions } from '../../server/index.js'
import type { Generation } from '../generation/generation.js'
import type { BackgroundResponse, BackgroundResponses } from './background-responses.js'
import { answerEnded, answerJson, type Exchange, type Route } from './exchange.js'
import { relayPlain } from './relay.js'
import { forwardedHeaders } from './upstream-answer.js'

/** The Responses API routes of background mode (see background-responses.ts). */
export function createResponseRoutes(
  responses: BackgroundResponses,
  responsesRoute: Route,
  streamOptions: (generation: Generation) => EventStreamOptions,
) {
  /** A polled background response: its Response object once the upstream named it. */
  async function answerWhenKnown(exchange: Exchange, tracked: BackgroundResponse): Promise<void> {
    await tracked.known
    const { response } = exchange
    // An upstream that refused the request has had its answer relayed already.
    if (response.headersSent || response.destroyed) return
    if (tracked.id === undefined) {
      exchange.answer(
        502,
        'api_error',
        tracked.generation.error ?? 'the upstream ended before it named the response',
      )
      return
    }
    answerJson(exchange, tracked.object())
  }

  /**
   * `GET /v1/responses/{id}` (`?stream=true&starting_after=N` resumes after sequence number N) and
   * `POST /v1/responses/{id}/cancel` for this gateway's background responses; an id it does not
   * know is the upstream's (a stored response), and goes there as it came.
   */
  async function responseRoute(exchange: Exchange, url: URL, id: string, action: string | undefined) {
    const { request, response } = exchange
    const method = request.method ?? 'GET'
    const tracked = await responses.get(id)
    const expected = action === '/cancel' ? 'POST' : 'GET'
    if (method !== expected) {
      exchange.answer(405, 'invalid_request_error', `${method} is not allowed on ${url.pathname}`)
      return
    }
    if (tracked === undefined) {
      const path = `/responses/${id}${action ?? ''}${url.search}`
      const headers = forwardedHeaders(request.headers as IncomingHttpHeaders)
      await relayPlain(exchange, { ...responsesRoute, path, method: expected }, headers, undefined)
      return
    }
    if (action === '/cancel') {
      tracked.generation.cancel('cancelled by request')
      answerJson(exchange, tracked.object())
      return
    }
    if (url.searchParams.get('stream') !== 'true') {
      answerJson(exchange, tracked.object())
      return
    }
    // Event n (from 1) has sequence number n - 1: OpenAI numbers a response's events from 0.
    const startingAfter = url.searchParams.get('starting_after')
    if (startingAfter !== null && !/^\d{1,9}$/.test(startingAfter)) {
      exchange.answer(400, 'invalid_request_error', 'starting_after is a sequence number')
      return
    }
    const after = startingAfter === null ? 0 : Number(startingAfter) + 1
    const { generation } = tracked
    if (generation.isReplica) await generation.reached(after)
    if (generation.isOver && after >= generation.eventCount) {
      answerEnded(exchange)
      return
    }
    exchange.report(200)
    generation.attach(createEventStream(request, response, streamOptions(generation)), after)
  }

  return { answerWhenKnown, responseRoute }
}
