import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import { directWritesVerified } from './direct-writes.js'
import {
  DEFAULT_MAX_BUFFERED_BYTES,
  type EventStream,
  EventStreamController,
  type EventStreamOptions,
} from './event-stream.js'
import { corsHeaders, eventStreamHeaders } from './headers.js'
import type { NodeResponse } from './json-response.js'
import { NodeSink } from './node-sink.js'

type NodeRequest = IncomingMessage | Http2ServerRequest

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
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
  const sink = new NodeSink(response, directWritesVerified(), maxBufferedBytes / 2)
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
