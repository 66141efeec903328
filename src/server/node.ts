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
  // Listeners shared by all responses, finding the stream on the response, instead of two
  // closures per stream; `on`, not `once`: both are idempotent, and `once` costs a wrapper each.
  ;(response as StreamHolder)[kStream] = controller
  response.on('close', onResponseClose)
  response.on('error', onResponseError)
  ;(response as ServerResponse).writeHead(200, headers)
  shareHeaderBlock(response)
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
    // Http2ServerResponse buffers in its Http2Stream; a ServerResponse's count already includes
    // its socket's buffer (where the direct writes wait).
    const response = this.response
    return 'stream' in response ? response.stream.writableLength : response.writableLength
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

const kStream = Symbol('streamgate.eventStream')
type StreamHolder = NodeResponse & { [kStream]?: EventStreamController }

function onResponseClose(this: StreamHolder): void {
  this[kStream]?.markClosed(this.writableFinished ? 'server' : 'client')
}

function onResponseError(this: StreamHolder): void {
  this[kStream]?.terminate('error')
}

/** Header blocks seen lately, each kept once: streams opened in the same second share theirs. */
const headerBlocks = new Map<string, string>()
const MAX_HEADER_BLOCKS = 64

/**
 * Node builds the header block of a response by concatenation and keeps it (`_header`) for the
 * life of the response: a rope of some fifty strings, about 1 KB per idle stream. Streams of the
 * same route send the same block (it changes with the `date` each second): one string shared by
 * all of them replaces each response's own (the lookup flattens the rope, whose pieces are freed).
 */
function shareHeaderBlock(response: NodeResponse): void {
  const holder = response as { _header?: unknown }
  const header = holder._header
  if (typeof header !== 'string') return
  const shared = headerBlocks.get(header)
  if (shared !== undefined) {
    holder._header = shared
    return
  }
  if (headerBlocks.size >= MAX_HEADER_BLOCKS) headerBlocks.clear()
  headerBlocks.set(header, header)
}

const textEncoder = new TextEncoder()
