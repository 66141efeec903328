import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import {
  type EventSink,
  type EventStream,
  EventStreamController,
  type EventStreamOptions,
} from './event-stream.js'
import { corsHeaders, eventStreamHeaders } from './headers.js'

type NodeRequest = IncomingMessage | Http2ServerRequest
type NodeResponse = ServerResponse | Http2ServerResponse

/**
 * Starts an SSE response on a `node:http` or `node:http2` (compatibility API) response, and so on
 * Express, Fastify's `reply.raw` and anything else built on them. Headers and an opening comment go
 * out at once.
 */
export function createEventStream(
  request: NodeRequest,
  response: NodeResponse,
  options: EventStreamOptions = {},
): EventStream {
  const sink = nodeSink(response)
  const lastEventIdHeader = request.headers['last-event-id']
  const controller = new EventStreamController(
    sink,
    options,
    Array.isArray(lastEventIdHeader) ? lastEventIdHeader[0] : lastEventIdHeader,
  )
  const origin = request.headers.origin
  const headers = {
    ...eventStreamHeaders(request.httpVersionMajor),
    ...corsHeaders(options.cors, Array.isArray(origin) ? origin[0] : origin),
    ...options.headers,
  }
  // Writes must leave at once, not wait for Nagle's algorithm to fill a packet.
  request.socket.setNoDelay?.(true)
  response.once('close', () => controller.markClosed(response.writableFinished ? 'server' : 'client'))
  response.once('error', () => controller.terminate('error'))
  ;(response as ServerResponse).writeHead(200, headers)
  controller.open(options)
  return controller
}

function nodeSink(response: NodeResponse): EventSink {
  // Http2ServerResponse buffers in its Http2Stream.
  const buffer = 'stream' in response ? response.stream : response
  return {
    write: (chunk) => (response as ServerResponse).write(chunk),
    bufferedBytes: () => buffer.writableLength,
    drained: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          response.off('drain', done)
          response.off('close', done)
          resolve()
        }
        response.on('drain', done)
        response.on('close', done)
      }),
    end: () => response.end(),
    // Once the response is finished, the socket may already carry the client's next request.
    destroy: () => {
      if (!response.writableFinished) (response as ServerResponse).destroy()
    },
  }
}
