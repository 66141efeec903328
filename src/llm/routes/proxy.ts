import type { IncomingHttpHeaders } from 'node:http'
import type { EventStreamOptions } from '../../server/index.js'
import { sendJson } from '../../server/json-response.js'
import { BodyTooLargeError, readRequestBody } from '../../server/request-body.js'
import type { Generation } from '../generation/generation.js'
import { DEFAULT_RETENTION, Generations, type RetentionOptions } from '../generation/generations.js'
import type { StoredGenerations } from '../generation/stored-generations.js'
import { anthropic } from '../providers/anthropic.js'
import { openai } from '../providers/openai.js'
import { estimateTokens } from '../providers/provider.js'
import type { Upstream } from '../upstream/upstream.js'
import { Access, type AccessOptions } from './access.js'
import { type BackgroundResponse, BackgroundResponses } from './background-responses.js'
import {
  type Exchange,
  failRelay,
  GENERATION_HEADER,
  type Request,
  type Response,
  type Route,
} from './exchange.js'
import { createGenerationRoutes } from './generation-routes.js'
import { MAX_GENERATION_BYTES, relayPlain, relayStream } from './relay.js'
import { nestingExceeds, withUsageRequested } from './request-json.js'
import { createResponseRoutes } from './response-routes.js'
import { routeLabel } from './route-label.js'
import { describe, forwardedHeaders } from './upstream-answer.js'

export interface LlmProxyOptions {
  /** Where `/v1/chat/completions`, `/v1/completions`, `/v1/responses` and `/v1/models` go. */
  openai: Upstream
  /** Where `/v1/messages` goes. */
  anthropic: Upstream
  access: AccessOptions
  /** Milliseconds a generation keeps running after its last viewer left. */
  resumeGrace: number
  /**
   * The OpenAI upstream has background mode itself: `background` goes to it as sent (and its ids to
   * it). Otherwise the gateway runs background responses (see background-responses.ts).
   */
  nativeBackground?: boolean
  retention?: RetentionOptions
  /** Largest request body, in bytes. */
  maxBody: number
  /** Heartbeats, CORS and buffer bound of the streams. */
  streamOptions: EventStreamOptions
  /** Told about every answered request and every finished generation (metrics, logs). */
  observer?: LlmObserver
  /**
   * Where generations are stored (durable streams): they outlive a restart, and with a store that
   * many nodes share, any node resumes, joins and cancels them. Absent: in memory only.
   */
  stored?: StoredGenerations
}

export interface LlmObserver {
  request?(route: string, status: number, keyId: string | undefined): void
  generationFinished?(generation: Generation): void
}

/**
 * Levels of nesting a request body may have: far beyond any chat, and what keeps JSON.stringify
 * (the body is rewritten to ask for usage) from overflowing the stack — at 20,000 levels it did on
 * Node 20 (a 500), not on Node 26. One rule on every runtime.
 */
const MAX_JSON_DEPTH = 256

/**
 * The OpenAI- and Anthropic-compatible proxy. Every streamed completion becomes a `Generation`:
 * the response that asked for it is its first viewer, and it can be resumed, joined, read and
 * cancelled through `/v1/generations/{id}` while it runs and for a while after.
 */
export function createLlmProxy(options: LlmProxyOptions) {
  const access = new Access(options.access)
  const { stored } = options
  const generations = new Generations(
    options.retention ?? DEFAULT_RETENTION,
    (generation) => options.observer?.generationFinished?.(generation),
    stored,
  )
  const streamOptions = (generation: Generation | undefined): EventStreamOptions => ({
    ...options.streamOptions,
    // A viewer that falls behind follows from the generation's kept events (see Generation), so
    // its buffer stays small; one event may still be as large as a generation: a slow viewer is
    // not cut off from an answer it cannot resume.
    maxBufferedBytes: MAX_GENERATION_BYTES,
    headers: { ...options.streamOptions.headers, ...(generation && { [GENERATION_HEADER]: generation.id }) },
  })

  const generationRoute = createGenerationRoutes(generations, streamOptions)
  const responsesRoute: Route = {
    provider: openai,
    upstream: options.openai,
    path: '/responses',
    method: 'POST',
  }
  const responses = new BackgroundResponses(generations)
  const { answerWhenKnown, responseRoute } = createResponseRoutes(responses, responsesRoute, streamOptions)

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
    'POST /v1/responses': responsesRoute,
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
      const responseMatch = /^\/v1\/responses\/([\w-]+)(\/cancel)?$/.exec(url.pathname)
      if (responseMatch !== null) {
        await responseRoute(exchange, url, responseMatch[1] as string, responseMatch[2])
        return
      }
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
    // Background mode runs upstream as an ordinary streamed request, whatever the client asked.
    const background =
      route.path === '/responses' && requestJson.background === true && options.nativeBackground !== true
    if (requestJson.stream !== true && !background) {
      await relayPlain(exchange, route, headers, body)
      return undefined
    }
    // Usage is recorded for every generation: ask for it when the client did not, and hide the
    // extra chunk from a client that did not ask.
    let hideUsageChunk = false
    let upstreamBody: Buffer | readonly Buffer[] | undefined = body
    if (background) {
      const { background: _, ...rest } = requestJson
      upstreamBody = Buffer.from(JSON.stringify({ ...rest, stream: true }))
    }
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
    let tracked: BackgroundResponse | undefined
    const generation = generations.create({
      provider: route.provider,
      model: typeof requestJson.model === 'string' ? requestJson.model : 'unknown',
      keyId: exchange.keyId ?? 'open',
      resumeGrace: options.resumeGrace,
      inputEstimate: estimateTokens(bodyText),
      hideUsageChunk,
      maxBytes: MAX_GENERATION_BYTES,
      background,
    })
    if (background) tracked = responses.start(generation)
    // A background response asked without `stream` is polled: its client is not a viewer.
    const viewer = requestJson.stream === true ? streamOptions(generation) : undefined
    // Not awaited: the generation runs on after this request's handler, and is its own error path.
    relayStream(exchange, route, headers, upstreamBody, generation, viewer).catch((error: unknown) =>
      failRelay(exchange, generation, `the gateway could not relay the upstream (${describe(error)})`),
    )
    if (tracked !== undefined && viewer === undefined) await answerWhenKnown(exchange, tracked)
    return generation
  }

  return {
    handle,
    generations,
    /** Where each route goes, for display: base URLs or `demo`, never keys. */
    upstreams: { openai: options.openai.label, anthropic: options.anthropic.label },
    /** Ends every running generation as `interrupted` (shutdown); resolves once that is stored. */
    close: async () => {
      await generations.interruptAll('the gateway shut down while this answer was streaming')
      stored?.close()
      await stored?.nodes.close()
    },
  }
}

export type LlmProxy = ReturnType<typeof createLlmProxy>
