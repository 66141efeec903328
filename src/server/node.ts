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
  const sink = new NodeSink(response)
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
  // `on`, not `once`: both are idempotent, and `once` costs a wrapper per listener and connection.
  response.on('close', () => controller.markClosed(response.writableFinished ? 'server' : 'client'))
  response.on('error', () => controller.terminate('error'))
  ;(response as ServerResponse).writeHead(200, headers)
  flattenHeaderBlock(response)
  controller.open(options)
  // The client may have gone while the application prepared the stream (a history read, say):
  // its 'close' has then already fired.
  if (response.destroyed || request.socket.destroyed) controller.markClosed('client')
  return controller
}

/**
 * The sink of a Node response. A class, not closures: its methods live once on the prototype, which
 * matters with tens of thousands of idle connections.
 */
class NodeSink implements EventSink {
  // HTTP/1.1: after the first write has sent the headers, frames go straight to the socket (see
  // EncodedEvent) while this response owns it (not a pipelined one queued behind another).
  // `_httpMessage` is Node's own link; should it ever go, writes fall back to response.write.
  private readonly socket: Socket | null
  private headersWritten = false

  constructor(private readonly response: NodeResponse) {
    this.socket = 'stream' in response ? null : response.socket
  }

  write(chunk: Uint8Array | string | EncodedEvent): boolean {
    if (this.direct()) {
      const frame =
        chunk instanceof EncodedEvent
          ? chunk.chunked
          : chunkFrame(typeof chunk === 'string' ? textEncoder.encode(chunk) : chunk)
      return (this.socket as Socket).write(frame)
    }
    this.headersWritten = true
    return (this.response as ServerResponse).write(chunk instanceof EncodedEvent ? chunk.bytes : chunk)
  }

  bufferedBytes(): number {
    // Http2ServerResponse buffers in its Http2Stream.
    const response = this.response
    const buffered = 'stream' in response ? response.stream.writableLength : response.writableLength
    return buffered + (this.socket?.writableLength ?? 0)
  }

  drained(): Promise<void> {
    const response = this.response
    const waitFor = 'stream' in response ? response : (this.socket ?? response)
    return new Promise<void>((resolve) => {
      const done = () => {
        waitFor.off('drain', done)
        response.off('close', done)
        resolve()
      }
      waitFor.on('drain', done)
      response.on('close', done)
    })
  }

  end(): void {
    this.response.end()
  }

  destroy(): void {
    // Once the response is finished, the socket may already carry the client's next request.
    if (!this.response.writableFinished) (this.response as ServerResponse).destroy()
  }

  private direct(): boolean {
    return (
      this.headersWritten &&
      this.socket !== null &&
      (this.socket as { _httpMessage?: unknown })._httpMessage === this.response &&
      (this.response as { chunkedEncoding?: boolean }).chunkedEncoding === true
    )
  }
}

/**
 * Node builds the header block of a response by concatenation and keeps it (`_header`) for the
 * life of the response: a rope of some fifty strings, about 1 KB per idle stream. Converting it to
 * a number makes V8 flatten it in place, and the rope's pieces are freed.
 */
function flattenHeaderBlock(response: NodeResponse): void {
  const header = (response as { _header?: unknown })._header
  if (typeof header === 'string') void Number(header)
}

const textEncoder = new TextEncoder()
