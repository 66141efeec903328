import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { createEventStream, type EventStreamOptions } from '../../server/index.js'
import { sendJson } from '../../server/json-response.js'
import { BodyTooLargeError, readRequestBody } from '../../server/request-body.js'
import type { Generation } from '../generation/generation.js'
import { DEFAULT_RETENTION, Generations, type RetentionOptions } from '../generation/generations.js'
import type { SharedGenerationState, SharedGenerations } from '../generation/shared-generations.js'
import { anthropic } from '../providers/anthropic.js'
import { openai } from '../providers/openai.js'
import { estimateTokens, type Provider } from '../providers/provider.js'
import { EventSplitter } from '../upstream/event-splitter.js'
import type { Upstream, UpstreamResponse } from '../upstream/upstream.js'
import { Access, type AccessOptions } from './access.js'
import { describeGeneration, lastEventIdOf, stateOf } from './generation-view.js'
import { nestingExceeds, withUsageRequested } from './request-json.js'
import { routeLabel } from './route-label.js'
import {
  badAnswer,
  describe,
  forwardedHeaders,
  isRelayableError,
  isSuccess,
  readUpstreamBody,
  relayedHeaders,
  unreadableBody,
} from './upstream-answer.js'

type Request = IncomingMessage | Http2ServerRequest
type Response = ServerResponse | Http2ServerResponse

export interface LlmProxyOptions {
  /** Where `/v1/chat/completions`, `/v1/completions`, `/v1/responses` and `/v1/models` go. */
  openai: Upstream
  /** Where `/v1/messages` goes. */
  anthropic: Upstream
  access: AccessOptions
  /** Milliseconds a generation keeps running after its last viewer left. */
  resumeGrace: number
  retention?: RetentionOptions
  /** Largest request body, in bytes. */
  maxBody: number
  /** Heartbeats, CORS and buffer bound of the streams. */
  streamOptions: EventStreamOptions
  /** Told about every answered request and every finished generation (metrics, logs). */
  observer?: LlmObserver
  /** Generations visible from every node (Redis): resume, join and cancel through any of them. */
  shared?: SharedGenerations
}

export interface LlmObserver {
  request?(route: string, status: number, keyId: string | undefined): void
  generationFinished?(generation: Generation): void
}

/** How long the proxy waits for the upstream's status before it commits to `200` and keep-alives. */
const UPSTREAM_HEADER_WAIT_MS = 1000
/** Bytes of events a generation keeps at most. */
const MAX_GENERATION_BYTES = 32 * 1024 * 1024
/**
 * Levels of nesting a request body may have: far beyond any chat, and what keeps JSON.stringify
 * (the body is rewritten to ask for usage) from overflowing the stack — at 20,000 levels it did on
 * Node 20 (a 500), not on Node 26. One rule on every runtime.
 */
const MAX_JSON_DEPTH = 256
const GENERATION_HEADER = 'streamgate-generation-id'

/** One request to the proxy, and how to answer it in its provider's shape. */
interface Exchange {
  request: Request
  response: Response
  /** The route as a metrics label, e.g. `POST /v1/chat/completions`. */
  routeName: string
  keyId: string | undefined
  answer(status: number, type: string, message: string, headers?: Record<string, string>): void
  /** Reports an answer sent some other way (a stream, a relayed upstream answer). */
  report(status: number): void
}

interface Route {
  provider: Provider
  upstream: Upstream
  /** The path after the upstream's base. */
  path: string
  method: 'GET' | 'POST'
}

/**
 * The OpenAI- and Anthropic-compatible proxy. Every streamed completion becomes a `Generation`:
 * the response that asked for it is its first viewer, and it can be resumed, joined, read and
 * cancelled through `/v1/generations/{id}` while it runs and for a while after.
 */
export function createLlmProxy(options: LlmProxyOptions) {
  const access = new Access(options.access)
  const shared = options.shared
  const generations = new Generations(options.retention ?? DEFAULT_RETENTION, (generation) => {
    shared?.finished(generation)
    options.observer?.generationFinished?.(generation)
  })
  const streamOptions = (generation: Generation | undefined): EventStreamOptions => ({
    ...options.streamOptions,
    // A viewer that falls behind follows from the generation's kept events (see Generation), so
    // its buffer stays small; one event may still be as large as a generation: a slow viewer is
    // not cut off from an answer it cannot resume.
    maxBufferedBytes: MAX_GENERATION_BYTES,
    headers: { ...options.streamOptions.headers, ...(generation && { [GENERATION_HEADER]: generation.id }) },
  })

  const routes: Record<string, Route> = {
    'POST /v1/chat/completions': {
      provider: openai,
      upstream: options.openai,
      path: '/chat/completions',
      method: 'POST',
    },
    'POST /v1/completions': {
      provider: openai,
      upstream: options.openai,
      path: '/completions',
      method: 'POST',
    },
    'POST /v1/responses': { provider: openai, upstream: options.openai, path: '/responses', method: 'POST' },
    'GET /v1/models': { provider: openai, upstream: options.openai, path: '/models', method: 'GET' },
    'POST /v1/messages': {
      provider: anthropic,
      upstream: options.anthropic,
      path: '/v1/messages',
      method: 'POST',
    },
  }

  /** Handles a request under `/v1/`. */
  async function handle(request: Request, response: Response, url: URL): Promise<void> {
    const method = request.method ?? 'GET'
    const provider = url.pathname === '/v1/messages' ? anthropic : openai
    const exchange: Exchange = {
      request,
      response,
      routeName: routeLabel(method, url.pathname, routes),
      keyId: undefined,
      answer(status, type, message, headers = {}) {
        sendJson(response, status, provider.errorBody(type, message), headers)
        this.report(status)
      },
      report(status) {
        options.observer?.request?.(this.routeName, status, this.keyId)
      },
    }
    // The key before anything else about the request.
    const admitted = access.admit(request.headers as IncomingHttpHeaders)
    if (!admitted.ok) {
      if (admitted.status === 401) {
        exchange.answer(401, 'authentication_error', admitted.message, { 'www-authenticate': 'Bearer' })
      } else {
        exchange.answer(429, 'rate_limit_error', admitted.message, {
          'retry-after': String(admitted.retryAfter ?? 1),
        })
      }
      return
    }
    exchange.keyId = admitted.keyId
    let release = admitted.release
    try {
      const generationMatch = /^\/v1\/generations\/([\w-]+)(\/stream|\/cancel)?$/.exec(url.pathname)
      if (generationMatch !== null) {
        await generationRoute(exchange, url, generationMatch[1] as string, generationMatch[2])
        return
      }
      const route = routes[`${method} ${url.pathname}`]
      if (route === undefined) {
        const known = Object.keys(routes).some((name) => name.endsWith(` ${url.pathname}`))
        if (known)
          exchange.answer(405, 'invalid_request_error', `${method} is not allowed on ${url.pathname}`)
        else exchange.answer(404, 'not_found_error', `no route for ${url.pathname}`)
        return
      }
      const generation = await proxy(exchange, route)
      if (generation !== undefined) {
        // A streamed completion holds its key's slot until its generation ends, not its response.
        generation.ended.then(admitted.release, admitted.release)
        release = () => {}
      }
    } finally {
      if (response.writableFinished || response.destroyed) release()
      else response.once('close', release)
    }
  }

  /** Forwards the request; a streamed one becomes a generation, which it returns. */
  async function proxy(exchange: Exchange, route: Route): Promise<Generation | undefined> {
    const { request, response } = exchange
    let body: Buffer | undefined
    let bodyText = ''
    let requestJson: Record<string, unknown> = {}
    if (route.method === 'POST') {
      try {
        body = await readRequestBody(request, options.maxBody)
      } catch (error) {
        if (error instanceof BodyTooLargeError) exchange.answer(413, 'request_too_large', error.message)
        else response.destroy()
        return undefined
      }
      bodyText = body.toString('utf8')
      if (nestingExceeds(bodyText, MAX_JSON_DEPTH)) {
        exchange.answer(
          400,
          'invalid_request_error',
          `the request body nests deeper than ${MAX_JSON_DEPTH} levels`,
        )
        return undefined
      }
      try {
        const parsed: unknown = JSON.parse(bodyText)
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
          throw new Error('not an object')
        requestJson = parsed as Record<string, unknown>
      } catch {
        exchange.answer(400, 'invalid_request_error', 'the request body must be a JSON object')
        return undefined
      }
    }
    const headers = forwardedHeaders(request.headers as IncomingHttpHeaders)
    if (requestJson.stream !== true) {
      await relayPlain(exchange, route, headers, body)
      return undefined
    }
    // Usage is recorded for every generation: ask for it when the client did not, and hide the
    // extra chunk from a client that did not ask.
    let hideUsageChunk = false
    let upstreamBody: Buffer | readonly Buffer[] | undefined = body
    if (route.provider === openai && (route.path === '/chat/completions' || route.path === '/completions')) {
      const streamOptions = requestJson.stream_options as Record<string, unknown> | undefined
      if (streamOptions?.include_usage !== true) {
        hideUsageChunk = true
        upstreamBody = Object.hasOwn(requestJson, 'stream_options')
          ? Buffer.from(
              JSON.stringify({ ...requestJson, stream_options: { ...streamOptions, include_usage: true } }),
            )
          : withUsageRequested(body as Buffer)
      }
    }
    const generation = generations.create({
      provider: route.provider,
      model: typeof requestJson.model === 'string' ? requestJson.model : 'unknown',
      keyId: exchange.keyId ?? 'open',
      resumeGrace: options.resumeGrace,
      inputEstimate: estimateTokens(bodyText),
      hideUsageChunk,
      maxBytes: MAX_GENERATION_BYTES,
      onEvents: shared && ((done, events, firstId) => shared.events(done, events, firstId)),
    })
    shared?.created(generation)
    // Not awaited: the generation runs on after this request's handler, and is its own error path.
    stream(exchange, route, headers, upstreamBody, generation).catch((error: unknown) =>
      failRelay(exchange, generation, `the gateway could not relay the upstream (${describe(error)})`),
    )
    return generation
  }

  async function stream(
    exchange: Exchange,
    route: Route,
    headers: Record<string, string>,
    body: Buffer | readonly Buffer[] | undefined,
    generation: Generation,
  ): Promise<void> {
    const { request, response } = exchange
    let started = false
    const start = () => {
      if (started || response.destroyed) return
      started = true
      generation.attach(createEventStream(request, response, streamOptions(generation)), 0)
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
  async function relayPlain(
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

  /**
   * A generation as the routes see it: this node's own, or another node's through the shared
   * store. One set of routes serves both.
   */
  interface GenerationAccess {
    describe(withText: boolean): Promise<SharedGenerationState & { text: string }>
    viewers(): number | null
    /** Ids above this are refused; another node's recorded count may lag behind its events. */
    readonly maxId: number
    cancel(): Promise<void>
    /** Sends the events after `after`, then the live ones, until the generation ends. */
    stream(request: Request, response: Response, after: number): Promise<void>
  }

  async function accessTo(id: string): Promise<GenerationAccess | undefined> {
    const generation = generations.get(id)
    if (generation !== undefined) {
      return {
        describe: async (withText) => stateOf(generation, withText),
        viewers: () => generation.viewerCount,
        maxId: generation.eventCount,
        cancel: async () => generation.cancel('cancelled by request'),
        stream: async (request, response, after) =>
          generation.attach(createEventStream(request, response, streamOptions(generation)), after),
      }
    }
    const store = shared
    const known = await store?.describe(id).catch(() => undefined)
    if (store === undefined || known === undefined) return undefined
    let latest = known
    const describe = async () => {
      latest = (await store.describe(id).catch(() => undefined)) ?? latest
      return latest
    }
    return {
      describe: async () => latest,
      viewers: () => null,
      maxId: Number.POSITIVE_INFINITY,
      cancel: async () => {
        await store.requestCancel(id).catch(() => {})
        // The owner cancels it; give it a moment so that the answer shows the outcome.
        for (let waited = 0; (await describe()).state === 'streaming' && waited < 2000; waited += 100) {
          await new Promise((resolve) => setTimeout(resolve, 100))
        }
      },
      stream: async (request, response, after) => {
        const stream = createEventStream(request, response, {
          ...streamOptions(undefined),
          headers: { [GENERATION_HEADER]: id },
        })
        store.announce(id, 'joined')
        const following = new AbortController()
        stream.onClose(() => following.abort())
        const ended = await store.follow(id, after, (frames) => stream.offer(frames), following.signal)
        store.announce(id, 'left')
        if (ended) stream.close()
      },
    }
  }

  async function generationRoute(
    exchange: Exchange,
    url: URL,
    id: string,
    action: string | undefined,
  ): Promise<void> {
    const { request, response } = exchange
    const method = request.method ?? 'GET'
    const generation = await accessTo(id)
    if (generation === undefined) {
      exchange.answer(404, 'not_found_error', `no generation ${id} (unknown, or finished and no longer kept)`)
      return
    }
    if (action === '/cancel') {
      if (method !== 'POST') {
        exchange.answer(405, 'invalid_request_error', 'cancel with POST')
        return
      }
      await generation.cancel()
      sendJson(
        response,
        200,
        describeGeneration(await generation.describe(false), false, generation.viewers()),
      )
      exchange.report(200)
      return
    }
    if (method !== 'GET') {
      exchange.answer(405, 'invalid_request_error', `${method} is not allowed on ${url.pathname}`)
      return
    }
    if (action === undefined) {
      sendJson(response, 200, describeGeneration(await generation.describe(true), true, generation.viewers()))
      exchange.report(200)
      return
    }
    const after = lastEventIdOf(request, url)
    if (!(after <= generation.maxId)) {
      const range = Number.isFinite(generation.maxId) ? ` (0–${generation.maxId})` : ''
      exchange.answer(
        400,
        'invalid_request_error',
        `Last-Event-ID must be an event id of this generation${range}`,
      )
      return
    }
    const state = await generation.describe(false)
    if (state.state !== 'streaming' && after >= state.events) {
      // Nothing left and nothing coming: an EventSource stops reconnecting on 204.
      response.writeHead(204)
      response.end()
      exchange.report(204)
      return
    }
    exchange.report(200)
    await generation.stream(request, response, after)
  }

  return {
    handle,
    generations,
    /** Where each route goes, for display: base URLs or `demo`, never keys. */
    upstreams: { openai: options.openai.label, anthropic: options.anthropic.label },
    /** Aborts every running generation (shutdown). */
    close: () => {
      generations.cancelAll('the gateway is shutting down')
      shared?.close().catch(() => {})
    },
  }
}

export type LlmProxy = ReturnType<typeof createLlmProxy>

/** The upstream's status, headers and body as the client sees them. */
function relayAnswer(exchange: Exchange, status: number, headers: IncomingHttpHeaders, body: Buffer): void {
  ;(exchange.response as ServerResponse).writeHead(status, relayedHeaders(headers))
  exchange.response.end(body)
  exchange.report(status)
}

/**
 * The last resort of a relay that failed in the gateway itself: the viewers get the provider's own
 * error event, and a client still waiting for its answer a 502.
 */
function failRelay(exchange: Exchange, generation: Generation, message: string): void {
  if (generation.state === 'streaming') generation.fail(message)
  const { response } = exchange
  if (!response.headersSent && !response.destroyed) exchange.answer(502, 'api_error', message)
}
