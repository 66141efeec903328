import { EncodedEvent } from './encoded-event.js'
import {
  DEFAULT_MAX_BUFFERED_BYTES,
  type EventSink,
  type EventStream,
  EventStreamController,
  type EventStreamOptions,
} from './event-stream.js'
import { corsHeaders, eventStreamHeaders } from './headers.js'

export interface WebEventStreamOptions extends EventStreamOptions {
  /** The incoming request: its `Last-Event-ID`, `Origin` and abort signal (client gone) are used. */
  request?: Request
}

/** An SSE stream whose `response` is handed back to a Web-standard framework or runtime. */
export interface WebEventStream extends EventStream {
  readonly response: Response
}

const textEncoder = new TextEncoder()

/**
 * Creates an SSE `Response` for Web-standard handlers (Hono, Next.js route handlers, Bun, Deno,
 * Cloudflare Workers) and the stream to write to it. The runtime decides the HTTP version, so no
 * `Connection` header is set (HTTP/1.1 keeps connections alive by default, HTTP/2 forbids it).
 */
export function eventStreamResponse(options: WebEventStreamOptions = {}): WebEventStream {
  const { request } = options
  const maxBufferedBytes = options.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
  // Writers are asked to wait past 16 KiB queued, as Node's writable streams do; the connection is
  // closed only past maxBufferedBytes.
  const highWaterMark = Math.min(16 * 1024, maxBufferedBytes)
  let streamController!: ReadableStreamDefaultController<Uint8Array>
  let waitingForPull: (() => void) | undefined
  let controller!: EventStreamController

  const body = new ReadableStream<Uint8Array>(
    {
      start(readableController) {
        streamController = readableController
      },
      pull() {
        waitingForPull?.()
        waitingForPull = undefined
      },
      cancel() {
        controller.markClosed('client')
        waitingForPull?.()
      },
    },
    { highWaterMark, size: (chunk) => chunk.byteLength },
  )

  const sink: EventSink = {
    write(chunk) {
      streamController.enqueue(
        typeof chunk === 'string'
          ? textEncoder.encode(chunk)
          : chunk instanceof EncodedEvent
            ? chunk.bytes
            : chunk,
      )
      return (streamController.desiredSize ?? 0) > 0
    },
    bufferedBytes: () => highWaterMark - (streamController.desiredSize ?? 0),
    drained: () =>
      new Promise<void>((resolve) => {
        waitingForPull = resolve
      }),
    end: () => streamController.close(),
    destroy: () => streamController.error(new Error('event stream closed')),
  }

  controller = new EventStreamController(sink, options, request?.headers.get('last-event-id') ?? undefined)
  request?.signal.addEventListener('abort', () => controller.markClosed('client'), { once: true })
  controller.onClose(() => {
    waitingForPull?.()
    waitingForPull = undefined
  })
  controller.open(options)

  const headers = {
    ...eventStreamHeaders(undefined),
    ...corsHeaders(options.cors, request?.headers.get('origin') ?? undefined),
    ...options.headers,
  }
  const response = new Response(body, { status: 200, headers })
  return Object.assign(controller, { response })
}
