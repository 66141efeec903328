import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import { anthropic } from '../providers/anthropic.js'
import type { Provider } from '../providers/provider.js'
import { responseEvents, responseObject } from './demo-responses.js'
import {
  bodyParts,
  streamedResponse,
  type Upstream,
  type UpstreamRequest,
  type UpstreamResponse,
} from './upstream.js'

export const DEMO_MODEL = 'streamgate-demo'

const ANSWER =
  'This is the streamgate demo upstream, not a language model: no upstream is configured, so every ' +
  'request gets this canned answer. It streams at about thirty tokens per second so that you can ' +
  'watch it arrive, reload the page, and see the generation resume where it was. Configure ' +
  '--upstream (any OpenAI-compatible API) or --anthropic-upstream to talk to a real model.'

/** The demo answer in tokens of about one word: what the streaming looks like. */
const TOKENS = ANSWER.match(/\S+\s*/g) ?? []
const TOKEN_INTERVAL_MS = 33

/**
 * The built-in upstream used by a route with no upstream configured, so that `npm start` streams
 * something offline. It speaks the provider's real wire format (streamed and not: OpenAI's Chat
 * Completions and Responses API, Anthropic's Messages), labelled as a demo in the text and the
 * model name.
 */
export function demoUpstream(provider: Provider, tokenIntervalMs = TOKEN_INTERVAL_MS): Upstream {
  return {
    provider,
    label: 'demo',
    request: async (request) => respond(provider, request, tokenIntervalMs),
    describe: (error) => (error instanceof Error ? error.message : String(error)),
  }
}

function respond(provider: Provider, request: UpstreamRequest, interval: number): UpstreamResponse {
  const json = (status: number, value: unknown): UpstreamResponse =>
    streamedResponse(
      status,
      { 'content-type': 'application/json' },
      Readable.from([Buffer.from(JSON.stringify(value))]),
    )
  if (request.method === 'GET' && request.path === '/models') {
    return json(200, {
      object: 'list',
      data: [{ id: DEMO_MODEL, object: 'model', created: 0, owned_by: 'streamgate' }],
    })
  }
  const isAnthropic = provider === anthropic
  const routes = isAnthropic ? ['/v1/messages'] : ['/chat/completions', '/responses']
  if (request.method !== 'POST' || !routes.includes(request.path)) {
    return json(404, provider.errorBody('not_found_error', `the demo upstream has no ${request.path}`))
  }
  let body: { stream?: unknown; stream_options?: { include_usage?: unknown } }
  try {
    body = JSON.parse(request.body === undefined ? '{}' : Buffer.concat(bodyParts(request.body)).toString())
  } catch {
    return json(400, provider.errorBody('invalid_request_error', 'the request body is not JSON'))
  }
  const usage = { input: 10, output: TOKENS.length }
  if (request.path === '/responses') {
    const answer = {
      id: `resp_demo${randomBytes(12).toString('hex')}`,
      model: DEMO_MODEL,
      tokens: TOKENS,
      usage,
    }
    if (body.stream !== true) return json(200, responseObject(answer, 'completed'))
    return eventStream(responseEvents(answer), interval, request.signal)
  }
  const id = `${isAnthropic ? 'msg' : 'chatcmpl'}_demo${Date.now().toString(36)}`
  if (body.stream !== true) {
    return json(200, isAnthropic ? anthropicMessage(id, usage) : openaiCompletion(id, usage))
  }
  const events = isAnthropic
    ? anthropicEvents(id, usage)
    : openaiEvents(id, usage, body.stream_options?.include_usage === true)
  return eventStream(events, interval, request.signal)
}

function eventStream(events: string[], interval: number, signal: AbortSignal): UpstreamResponse {
  return streamedResponse(
    200,
    { 'content-type': 'text/event-stream; charset=utf-8' },
    Readable.from(paced(events, interval, signal), { objectMode: false }),
  )
}

async function* paced(events: string[], interval: number, signal: AbortSignal): AsyncGenerator<Buffer> {
  for (const [index, event] of events.entries()) {
    if (index > 0) await sleep(interval, undefined, { signal })
    yield Buffer.from(event)
  }
}

const created = () => Math.floor(Date.now() / 1000)

function openaiEvents(id: string, usage: { input: number; output: number }, includeUsage: boolean): string[] {
  const at = created()
  const chunk = (delta: unknown, finish: string | null) =>
    `data: ${JSON.stringify({
      id,
      object: 'chat.completion.chunk',
      created: at,
      model: DEMO_MODEL,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      ...(includeUsage ? { usage: null } : {}),
    })}\n\n`
  return [
    chunk({ role: 'assistant', content: '' }, null),
    ...TOKENS.map((token) => chunk({ content: token }, null)),
    chunk({}, 'stop'),
    ...(includeUsage
      ? [
          `data: ${JSON.stringify({
            id,
            object: 'chat.completion.chunk',
            created: at,
            model: DEMO_MODEL,
            choices: [],
            usage: {
              prompt_tokens: usage.input,
              completion_tokens: usage.output,
              total_tokens: usage.input + usage.output,
            },
          })}\n\n`,
        ]
      : []),
    'data: [DONE]\n\n',
  ]
}

function openaiCompletion(id: string, usage: { input: number; output: number }) {
  return {
    id,
    object: 'chat.completion',
    created: created(),
    model: DEMO_MODEL,
    choices: [
      {
        index: 0,
        message: { role: 'assistant', content: ANSWER, refusal: null },
        logprobs: null,
        finish_reason: 'stop',
      },
    ],
    usage: {
      prompt_tokens: usage.input,
      completion_tokens: usage.output,
      total_tokens: usage.input + usage.output,
    },
  }
}

function anthropicEvents(id: string, usage: { input: number; output: number }): string[] {
  const event = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`
  return [
    event('message_start', {
      type: 'message_start',
      message: {
        id,
        type: 'message',
        role: 'assistant',
        model: DEMO_MODEL,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: usage.input, output_tokens: 1 },
      },
    }),
    event('content_block_start', {
      type: 'content_block_start',
      index: 0,
      content_block: { type: 'text', text: '' },
    }),
    event('ping', { type: 'ping' }),
    ...TOKENS.map((text) =>
      event('content_block_delta', {
        type: 'content_block_delta',
        index: 0,
        delta: { type: 'text_delta', text },
      }),
    ),
    event('content_block_stop', { type: 'content_block_stop', index: 0 }),
    event('message_delta', {
      type: 'message_delta',
      delta: { stop_reason: 'end_turn', stop_sequence: null },
      usage: { output_tokens: usage.output },
    }),
    event('message_stop', { type: 'message_stop' }),
  ]
}

function anthropicMessage(id: string, usage: { input: number; output: number }) {
  return {
    id,
    type: 'message',
    role: 'assistant',
    model: DEMO_MODEL,
    content: [{ type: 'text', text: ANSWER }],
    stop_reason: 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: usage.input, output_tokens: usage.output },
  }
}
