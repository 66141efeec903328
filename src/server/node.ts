import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import type { Socket } from 'node:net'
import { chunkFrame, EncodedEvent } from './encoded-event.js'
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
  const sink = nodeSink(request, response)
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
  // The client may have gone while the application prepared the stream (a history read, say):
  // its 'close' has then already fired.
  if (response.destroyed || request.socket.destroyed) controller.markClosed('client')
  return controller
}

function nodeSink(request: NodeRequest, response: NodeResponse): EventSink {
  // HTTP/1.1: after the first write has sent the headers, frames go straight to the socket (see
  // EncodedEvent) while this response owns it (not a pipelined one queued behind another).
  // `_httpMessage` is Node's own link; should it ever go, writes fall back to response.write.
  const socket = request.httpVersionMajor === 1 ? (response as ServerResponse).socket : null
  let headersWritten = false
  const direct = () =>
    headersWritten &&
    socket !== null &&
    (socket as { _httpMessage?: unknown })._httpMessage === response &&
    (response as { chunkedEncoding?: boolean }).chunkedEncoding === true
  // Http2ServerResponse buffers in its Http2Stream.
  const buffer = 'stream' in response ? response.stream : response
  const waitFor = 'stream' in response ? response : (socket ?? response)
  return {
    write: (chunk) => {
      if (direct()) {
        const frame =
          chunk instanceof EncodedEvent
            ? chunk.chunked
            : chunkFrame(typeof chunk === 'string' ? textEncoder.encode(chunk) : chunk)
        return (socket as Socket).write(frame)
      }
      headersWritten = true
      return (response as ServerResponse).write(chunk instanceof EncodedEvent ? chunk.bytes : chunk)
    },
    bufferedBytes: () => buffer.writableLength + (socket?.writableLength ?? 0),
    drained: () =>
      new Promise<void>((resolve) => {
        const done = () => {
          waitFor.off('drain', done)
          response.off('close', done)
          resolve()
        }
        waitFor.on('drain', done)
        response.on('close', done)
      }),
    end: () => response.end(),
    // Once the response is finished, the socket may already carry the client's next request.
    destroy: () => {
      if (!response.writableFinished) (response as ServerResponse).destroy()
    },
  }
}

const textEncoder = new TextEncoder()
