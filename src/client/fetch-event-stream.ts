import { ParseError } from '../protocol/errors.js'
import { createParser } from '../protocol/parser.js'
import type { ServerSentEvent } from '../protocol/types.js'
import { ContentTypeError, EventStreamError, HttpStatusError, NetworkError } from './errors.js'

export interface ReconnectContext {
  /** Why the last connection ended: undefined for a clean end of stream. */
  error: unknown
  /** Consecutive failed attempts so far (0 after a connection that was established). */
  failures: number
  /** Whether any connection of this stream was ever established. */
  everConnected: boolean
}

export interface FetchEventStreamInit extends Omit<RequestInit, 'headers'> {
  /** Request headers, or a function evaluated before every (re)connection, e.g. to refresh a token. */
  headers?: HeadersInit | (() => HeadersInit | Promise<HeadersInit>)
  /** Sent as `Last-Event-ID` on the first request; later requests send the stream's own. */
  lastEventId?: string
  /** Reconnect after the stream ends or breaks. Default: yes for GET and HEAD, no for other methods. */
  reconnect?: boolean
  /** Reconnection delay until the server sends `retry:`, in milliseconds. Default 1,000. */
  retryDelay?: number
  /** Cap of the exponential backoff between failed attempts, in milliseconds. Default 30,000. */
  maxRetryDelay?: number
  /** At most this fraction is added at random to each delay. Default 0.25; 0 for exact delays. */
  jitter?: number
  /**
   * Reconnect when neither data nor a heartbeat arrives for this many milliseconds (a connection a
   * proxy silently dropped). Off by default: set it above the server's heartbeat interval.
   */
  stallTimeout?: number
  /** A verdict on each reconnection; returning false ends the stream (rethrowing the error, if any). */
  shouldReconnect?: (context: ReconnectContext) => boolean
  /** A `fetch` to use instead of the global one. */
  fetch?: typeof fetch
  /** Each established connection's response, before its first event. */
  onOpen?: (response: Response) => void
  /** Every chunk of bytes as received, before parsing. */
  onChunk?: (chunk: Uint8Array) => void
  onComment?: (comment: string) => void
  onRetry?: (milliseconds: number) => void
  /** Called before waiting `delay` milliseconds to reconnect. */
  onReconnect?: (delay: number, context: ReconnectContext) => void
}

const EVENT_STREAM = 'text/event-stream'

/**
 * Requests an event stream with any method, body and headers, and yields its events. Reconnects
 * with `Last-Event-ID` after the stream ends or breaks (see `reconnect`), waiting the server's
 * `retry` (+ up to 25% jitter) and backing off exponentially while attempts fail. Stops on the abort
 * signal, a 204 answer, or `shouldReconnect`'s verdict. A status other than 200, 204, 408, 429 or
 * 5xx, or a content type other than `text/event-stream`, ends it with a typed error.
 */
export async function* fetchEventStream(
  input: string | URL,
  init: FetchEventStreamInit = {},
): AsyncGenerator<ServerSentEvent, void, undefined> {
  const {
    headers,
    lastEventId,
    reconnect,
    retryDelay = 1000,
    maxRetryDelay = 30_000,
    jitter = 0.25,
    stallTimeout,
    shouldReconnect,
    fetch: fetchFunction = globalThis.fetch,
    onOpen,
    onChunk,
    onComment,
    onRetry,
    onReconnect,
    ...requestInit
  } = init
  const method = (requestInit.method ?? 'GET').toUpperCase()
  const reconnects = reconnect ?? (method === 'GET' || method === 'HEAD')
  const signal = requestInit.signal ?? undefined
  let serverRetry = retryDelay
  let failures = 0
  let everConnected = false
  const events: ServerSentEvent[] = []
  const parser = createParser({
    onEvent: (event) => events.push(event),
    onRetry: (milliseconds) => {
      serverRetry = milliseconds
      onRetry?.(milliseconds)
    },
    onComment,
    lastEventId,
  })

  for (;;) {
    let error: unknown
    // Outside the try: bad headers are the caller's mistake, not a reason to reconnect.
    const requestHeaders = new Headers(typeof headers === 'function' ? await headers() : headers)
    if (!requestHeaders.has('accept')) requestHeaders.set('accept', EVENT_STREAM)
    if (parser.lastEventId !== '') requestHeaders.set('last-event-id', utf8HeaderValue(parser.lastEventId))
    try {
      const response = await fetchFunction(input, { ...requestInit, method, headers: requestHeaders }).catch(
        (cause: unknown) => {
          throw signal?.aborted ? cause : new NetworkError(`cannot reach ${String(input)}`, cause)
        },
      )
      if (response.status === 204) {
        await response.body?.cancel()
        return
      }
      await checkResponse(response)
      everConnected = true
      failures = 0
      parser.reset()
      onOpen?.(response)
      if (response.body === null) throw new NetworkError('the response has no body', undefined)
      const reader = response.body.getReader()
      let stalled = false
      try {
        for (;;) {
          // The watchdog runs only while waiting for the network, not while the consumer works.
          const watchdog =
            stallTimeout === undefined
              ? undefined
              : setTimeout(() => {
                  stalled = true
                  reader.cancel().catch(() => {})
                }, stallTimeout)
          const { done, value } = await reader.read().finally(() => clearTimeout(watchdog))
          if (stalled) throw new NetworkError(`no data or heartbeat for ${stallTimeout} ms`, undefined)
          if (done) break
          onChunk?.(value)
          parser.feed(value)
          for (const event of events) yield event
          events.length = 0
        }
      } finally {
        // Also runs when the consumer stops iterating: release the connection.
        reader.cancel().catch(() => {})
      }
    } catch (caught) {
      if (signal?.aborted) return
      if (!isRetryable(caught)) throw caught
      error =
        caught instanceof EventStreamError
          ? caught
          : new NetworkError(`the connection broke: ${(caught as Error).message}`, caught)
      failures++
    }
    const context: ReconnectContext = { error, failures, everConnected }
    if (!reconnects || (shouldReconnect !== undefined && !shouldReconnect(context))) {
      if (error !== undefined) throw error
      return
    }
    const delay = reconnectDelay(serverRetry, failures, maxRetryDelay, jitter)
    onReconnect?.(delay, context)
    if (!(await sleep(delay, signal))) return
  }
}

/** Header values are bytes: the id goes out UTF-8 encoded, as browsers send it (one char per byte). */
function utf8HeaderValue(value: string): string {
  return unescape(encodeURIComponent(value))
}

async function checkResponse(response: Response): Promise<void> {
  if (response.status !== 200) {
    throw new HttpStatusError(response.status, response.statusText, await readSnippet(response))
  }
  const contentType = response.headers.get('content-type') ?? ''
  if (contentType.split(';')[0]?.trim().toLowerCase() !== EVENT_STREAM) {
    await response.body?.cancel()
    throw new ContentTypeError(contentType)
  }
}

/**
 * 408, 429 and 5xx are worth another try, as is any broken connection; other answers are final, and
 * so is an event over the parser's size bound (it would come again).
 */
function isRetryable(error: unknown): boolean {
  if (error instanceof HttpStatusError) {
    return error.status === 408 || error.status === 429 || error.status >= 500
  }
  if (error instanceof ContentTypeError || error instanceof ParseError) return false
  return error instanceof Error
}

/**
 * The server's `retry` for the first attempt after a failure or a clean end, doubling with every
 * further failure up to the cap; then up to `jitter` (25%) added at random, so clients cut off
 * together by a deploy do not come back together.
 */
export function reconnectDelay(retry: number, failures: number, maxDelay: number, jitter = 0.25): number {
  const backoff = Math.min(maxDelay, retry * 2 ** Math.max(0, failures - 1))
  return Math.round(backoff * (1 + Math.random() * jitter))
}

/** Resolves true after `milliseconds`, false at once if the signal aborts. */
function sleep(milliseconds: number, signal: AbortSignal | undefined): Promise<boolean> {
  if (signal?.aborted) return Promise.resolve(false)
  return new Promise((resolve) => {
    const onAbort = () => {
      clearTimeout(timer)
      resolve(false)
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort)
      resolve(true)
    }, milliseconds)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

/** The first 4 KiB of an error response: enough for a reason, bounded if the body never ends. */
async function readSnippet(response: Response): Promise<string> {
  const reader = response.body?.getReader()
  const decoder = new TextDecoder()
  let text = ''
  try {
    for (
      let read = await reader?.read();
      read !== undefined && !read.done && text.length < 4096;
      read = await reader?.read()
    ) {
      text += decoder.decode(read.value, { stream: true })
    }
  } catch {
    // A body that breaks off still leaves the status as the error.
  }
  reader?.cancel().catch(() => {})
  return text.slice(0, 4096)
}
