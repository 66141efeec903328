import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { sendJson } from '../../server/json-response.js'
import type { Generation } from '../generation/generation.js'
import type { Provider } from '../providers/provider.js'
import type { Upstream } from '../upstream/upstream.js'
import { relayedHeaders } from './upstream-answer.js'

export type Request = IncomingMessage | Http2ServerRequest
export type Response = ServerResponse | Http2ServerResponse

/** The header that names a streamed answer's generation. */
export const GENERATION_HEADER = 'streamgate-generation-id'

/** One request to the proxy, and how to answer it in its provider's shape. */
export interface Exchange {
  request: Request
  response: Response
  /** The route as a metrics label, e.g. `POST /v1/chat/completions`. */
  routeName: string
  keyId: string | undefined
  answer(status: number, type: string, message: string, headers?: Record<string, string>): void
  /** Reports an answer sent some other way (a stream, a relayed upstream answer). */
  report(status: number): void
}

export interface Route {
  provider: Provider
  upstream: Upstream
  /** The path after the upstream's base. */
  path: string
  method: 'GET' | 'POST'
}

/** The upstream's status, headers and body as the client sees them. */
export function relayAnswer(
  exchange: Exchange,
  status: number,
  headers: IncomingHttpHeaders,
  body: Buffer,
): void {
  ;(exchange.response as ServerResponse).writeHead(status, relayedHeaders(headers))
  exchange.response.end(body)
  exchange.report(status)
}

/**
 * The last resort of a relay that failed in the gateway itself: the viewers get the provider's own
 * error event, and a client still waiting for its answer a 502.
 */
export function failRelay(exchange: Exchange, generation: Generation, message: string): void {
  if (generation.state === 'streaming') generation.fail(message)
  const { response } = exchange
  if (!response.headersSent && !response.destroyed) exchange.answer(502, 'api_error', message)
}

/** A `200` JSON answer, reported. */
export function answerJson(exchange: Exchange, value: unknown): void {
  sendJson(exchange.response, 200, value)
  exchange.report(200)
}

/** Nothing left to read and nothing coming: `204`, on which an EventSource stops reconnecting. */
export function answerEnded(exchange: Exchange): void {
  exchange.response.writeHead(204)
  exchange.response.end()
  exchange.report(204)
}
