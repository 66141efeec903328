import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { drainedOrClosed } from '../../server/drained.js'
import { createEventStream, type EventStreamOptions } from '../../server/index.js'
import type { Generation } from '../generation/generation.js'
import { EventSplitter } from '../upstream/event-splitter.js'
import type { UpstreamResponse } from '../upstream/upstream.js'
import { type Exchange, type Route, relayAnswer } from './exchange.js'
import {
  badAnswer,
  isRelayableError,
  isSuccess,
  readUpstreamBody,
  relayedHeaders,
  unreadableBody,
} from './upstream-answer.js'

/** How long the proxy waits for the upstream's status before it commits to `200` and keep-alives. */
const UPSTREAM_HEADER_WAIT_MS = 1000
/** Bytes of events a generation keeps at most. */
export const MAX_GENERATION_BYTES = 32 * 1024 * 1024

/**
 * A streamed request: the upstream's events go to `generation` (whose first viewer is the client
 * that asked), or its refusal to the client in the provider's shape before anything was streamed.
 */
export async function relayStream(
  exchange: Exchange,
  route: Route,
  headers: Record<string, string>,
  body: Buffer | readonly Buffer[] | undefined,
  generation: Generation,
  /** How the client's stream is made; undefined: the client is not a viewer (a background response it polls). */
  streamOptions: EventStreamOptions | undefined,
): Promise<void> {
  const { request, response } = exchange
  let started = false
  const start = () => {
    if (started || response.destroyed || streamOptions === undefined) return
    started = true
    generation.attach(createEventStream(request, response, streamOptions), 0)
    exchange.report(200)
  }
  // A client that leaves before the stream started is a viewer gone: the resume grace applies.
  response.once('close', () => {
    if (!started) generation.unwatched()
  })
  const headerWait = setTimeout(start, UPSTREAM_HEADER_WAIT_MS)
  let upstream: UpstreamResponse
  try {
    upstream = await route.upstream.request({
      path: route.path,
      method: 'POST',
      headers,
      body,
      signal: generation.upstream.signal,
    })
  } catch (error) {
    clearTimeout(headerWait)
    if (generation.state !== 'streaming') return
    const message = `the upstream failed: ${route.upstream.describe(error)}`
    generation.fail(message)
    if (!started) exchange.answer(502, 'api_error', message)
    return
  }
  clearTimeout(headerWait)
  const contentType = String(upstream.headers['content-type'] ?? '')
  const unreadable = unreadableBody(upstream.headers)
  if (unreadable !== undefined) {
    upstream.body.destroy()
    const message = `the upstream failed: ${unreadable}`
    generation.fail(message)
    if (!started && !response.destroyed) exchange.answer(502, 'api_error', message)
    return
  }
  if (upstream.status < 200 || upstream.status >= 300 || !contentType.startsWith('text/event-stream')) {
    const upstreamBody = await readUpstreamBody(upstream).catch(() => Buffer.alloc(0))
    const message = `the upstream answered ${upstream.status}`
    if (!started && !response.destroyed) {
      // Before the first byte: the client sees the upstream's own error, or its JSON answer (a
      // server that does not stream); anything else (a captive portal's page) is a 502.
      const json = isSuccess(upstream.status) && contentType.startsWith('application/json')
      if (isRelayableError(upstream.status) || json)
        relayAnswer(exchange, upstream.status, upstream.headers, upstreamBody)
      else exchange.answer(502, 'api_error', badAnswer(upstream.status, contentType))
    }
    generation.fail(message)
    return
  }
  start()
  const splitter = new EventSplitter()
  // The events of one socket read, relayed together once the read is parsed: the client gets one
  // write per read, not one per token (the upstream client hands over each HTTP chunk; writing
  // each cost the proxy a third more CPU per chunk, `npm run bench -- llm`).
  const ready: Buffer[] = []
  const relayReady = () => {
    if (ready.length === 0) return
    generation.relay(ready.splice(0))
    if (generation.state !== 'streaming') generation.upstream.abort()
  }
  // A sink, not a stream: no stream machinery and no copy on the hot path. The events are views
  // of the upstream's read: the generation copies what it keeps.
  await new Promise<void>((resolve) => {
    upstream.take({
      bytes: (chunk) => {
        const events = splitter.push(chunk)
        if (events.length > 0) {
          if (ready.length === 0) process.nextTick(relayReady)
          for (const event of events) ready.push(event)
        }
        // An event that never ends (no blank line) would otherwise grow without bound.
        if (splitter.pending > MAX_GENERATION_BYTES) {
          generation.fail('the upstream sent an event larger than the gateway keeps (32 MiB)')
          generation.upstream.abort()
        }
      },
      end: () => {
        relayReady()
        if (splitter.pending > 0) generation.fail('the upstream ended in the middle of an event')
        else generation.complete()
        resolve()
      },
      error: (error) => {
        relayReady()
        generation.fail(`the upstream failed: ${route.upstream.describe(error)}`)
        resolve()
      },
    })
  })
}

/** A non-streamed request: the upstream's status, headers and body as they are. */
export async function relayPlain(
  exchange: Exchange,
  route: Route,
  headers: Record<string, string>,
  body: Buffer | undefined,
): Promise<void> {
  const { response } = exchange
  const abort = new AbortController()
  // A client that leaves takes its upstream request with it.
  const onClose = () => {
    if (!response.writableFinished) abort.abort()
  }
  response.once('close', onClose)
  try {
    const upstream = await route.upstream.request({
      path: route.path,
      method: route.method,
      headers,
      body,
      signal: abort.signal,
    })
    const unreadable = unreadableBody(upstream.headers)
    if (unreadable !== undefined) {
      upstream.body.destroy()
      exchange.answer(502, 'api_error', `the upstream failed: ${unreadable}`)
      return
    }
    if (isSuccess(upstream.status) && isEventStream(upstream.headers)) {
      await relayAsItComes(exchange, upstream)
      return
    }
    const upstreamBody = await readUpstreamBody(upstream)
    if (response.destroyed) return
    if (isSuccess(upstream.status) || isRelayableError(upstream.status))
      relayAnswer(exchange, upstream.status, upstream.headers, upstreamBody)
    else
      exchange.answer(
        502,
        'api_error',
        badAnswer(upstream.status, String(upstream.headers['content-type'] ?? '')),
      )
  } catch (error) {
    if (abort.signal.aborted || response.destroyed) return
    exchange.answer(502, 'api_error', `the upstream failed: ${route.upstream.describe(error)}`)
  }
}

const isEventStream = (headers: IncomingHttpHeaders) =>
  /^text\/event-stream\b/i.test(String(headers['content-type'] ?? ''))

/**
 * A stream the gateway only passes on (an upstream's own background response, resumed with
 * `?stream=true`): each chunk as it comes, at the pace the client reads, not buffered to the end.
 */
async function relayAsItComes(exchange: Exchange, upstream: UpstreamResponse): Promise<void> {
  const response = exchange.response as ServerResponse
  response.writeHead(upstream.status, relayedHeaders(upstream.headers))
  exchange.report(upstream.status)
  try {
    for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
      if (response.destroyed) break
      if (!response.write(chunk)) await drainedOrClosed(response)
    }
    response.end()
  } catch {
    // The upstream broke mid-way: the client sees its stream cut, as it would from the upstream.
    response.destroy()
  } finally {
    upstream.body.destroy()
  }
}
