import Anthropic from '@anthropic-ai/sdk'
import OpenAI from 'openai'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { createParser } from '../../src/protocol/parser.js'
import type { ServerSentEvent } from '../../src/protocol/types.js'
import {
  DEFAULT_TOKENS,
  type FakeUpstream,
  startFakeUpstream,
  UPSTREAM_KEY,
} from '../fixtures/fake-llm-upstream.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { readEvents } from '../helpers/read-events.js'

const KEY = 'sg-test-key-1'
const OTHER_KEY = 'sg-test-key-2'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let upstream: FakeUpstream
const gateways: GatewayProcess[] = []

beforeAll(async () => {
  upstream = await startFakeUpstream()
})
afterEach(async () => {
  upstream.reset()
})
afterAll(async () => {
  await Promise.all(gateways.map((gateway) => gateway.stop()))
  await upstream.close()
})

async function gateway(...extra: string[]): Promise<GatewayProcess> {
  const started = await startGateway([
    '--upstream',
    upstream.openaiUrl,
    '--upstream-key',
    UPSTREAM_KEY,
    '--anthropic-upstream',
    upstream.anthropicUrl,
    '--anthropic-upstream-key',
    UPSTREAM_KEY,
    '--api-key',
    KEY,
    OTHER_KEY,
    ...extra,
  ])
  gateways.push(started)
  return started
}

const chatBody = (extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: 'fake-model', stream: true, messages: [{ role: 'user', content: 'hi' }], ...extra })

/** POSTs JSON with the gateway key as a bearer token (`null`: no key). */
function post(url: string, body: string, key: string | null = KEY): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
    },
    body,
  })
}

const contentOf = (event: ServerSentEvent): string => {
  if (event.data === '[DONE]') return ''
  const chunk = JSON.parse(event.data) as { choices?: { delta?: { content?: string } }[] }
  return chunk.choices?.[0]?.delta?.content ?? ''
}

async function waitFor(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time')
    await sleep(20)
  }
}

describe('LLM proxy with the official SDKs', () => {
  let gw: GatewayProcess
  beforeAll(async () => {
    gw = await gateway()
  })

  it('openai streams the upstream text and usage exactly; the upstream saw its own key, not ours', async () => {
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY })
    const stream = await client.chat.completions.create({
      model: 'fake-model',
      messages: [{ role: 'user', content: 'hi' }],
      stream: true,
      stream_options: { include_usage: true },
    })
    let text = ''
    let finish: string | null = null
    let usage: unknown
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? ''
      finish = chunk.choices[0]?.finish_reason ?? finish
      if (chunk.usage) usage = chunk.usage
    }
    expect(text).toBe(DEFAULT_TOKENS.join(''))
    expect(finish).toBe('stop')
    expect(usage).toMatchObject({ prompt_tokens: 17, completion_tokens: 9, total_tokens: 26 })
    expect(upstream.requests[0]?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`)
  })

  it('openai: tool-call deltas arrive whole; usage asked on the client’s behalf is hidden from it', async () => {
    upstream.scenario.toolCall = true
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY })
    const stream = client.chat.completions.stream({
      model: 'fake-model',
      messages: [{ role: 'user', content: 'weather?' }],
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
    })
    const chunks: OpenAI.ChatCompletionChunk[] = []
    stream.on('chunk', (chunk) => chunks.push(chunk))
    const completion = await stream.finalChatCompletion()
    const call = completion.choices[0]?.message.tool_calls?.[0]
    expect(call?.type === 'function' && call.function).toEqual({
      name: 'get_weather',
      arguments: '{"location": "Paris"}',
    })
    expect(completion.choices[0]?.finish_reason).toBe('tool_calls')
    expect(chunks.some((chunk) => chunk.choices.length === 0)).toBe(false)
    expect(upstream.requests[0]?.body.stream_options).toEqual({ include_usage: true })
  })

  it('usage is asked for without rewriting the client’s body, or merged into stream_options it sent', async () => {
    const messages = [{ role: 'user', content: 'a "quoted" {brace} and ünïcode' }]
    const cases = [
      { model: 'fake-model', stream: true, messages, n: 1 },
      { model: 'fake-model', stream: true, messages, stream_options: { include_usage: false } },
    ]
    for (const sent of cases) {
      upstream.reset()
      // White space before the object, as a hand-written client may send it.
      const answer = await (await post(`${gw.url}/v1/chat/completions`, `\n  ${JSON.stringify(sent)}`)).text()
      expect(upstream.requests[0]?.body).toEqual({ ...sent, stream_options: { include_usage: true } })
      expect(answer).toContain('[DONE]')
      expect(answer).not.toContain('"usage":{')
    }
  })

  it('anthropic streams text, tool use and usage exactly', async () => {
    upstream.scenario.toolCall = true
    const client = new Anthropic({ baseURL: gw.url, apiKey: KEY })
    const stream = client.messages.stream({
      model: 'claude-fake',
      max_tokens: 100,
      messages: [{ role: 'user', content: 'hi' }],
    })
    let text = ''
    stream.on('text', (delta) => {
      text += delta
    })
    const message = await stream.finalMessage()
    expect(text).toBe(DEFAULT_TOKENS.join(''))
    expect(message.content[1]).toMatchObject({
      type: 'tool_use',
      name: 'get_weather',
      input: { location: 'Paris' },
    })
    expect(message.stop_reason).toBe('tool_use')
    expect(message.usage).toMatchObject({ input_tokens: 17, output_tokens: 9 })
    expect(upstream.requests[0]?.headers['x-api-key']).toBe(UPSTREAM_KEY)
  })

  it('an Azure OpenAI upstream gets its deployment path, api-version and api-key header', async () => {
    const started = await startGateway([
      '--upstream',
      upstream.azureUrl,
      '--upstream-key',
      UPSTREAM_KEY,
      '--api-key',
      KEY,
    ])
    gateways.push(started)
    const client = new OpenAI({ baseURL: `${started.url}/v1`, apiKey: KEY })
    const stream = await client.chat.completions.create({
      model: 'fake-model',
      stream: true,
      messages: [{ role: 'user', content: 'hi' }],
    })
    let text = ''
    for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
    expect(text).toBe(DEFAULT_TOKENS.join(''))
    const seen = upstream.requests[0]
    expect(seen?.path).toBe('/openai/deployments/fake-deployment/chat/completions?api-version=2024-10-21')
    expect(seen?.headers['api-key']).toBe(UPSTREAM_KEY)
    expect(seen?.headers.authorization).toBeUndefined()
  })

  it('non-streamed requests and the model list go through unchanged', async () => {
    const openai = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY })
    const completion = await openai.chat.completions.create({
      model: 'fake-model',
      messages: [{ role: 'user', content: 'hi' }],
    })
    expect(completion.choices[0]?.message.content).toBe(DEFAULT_TOKENS.join(''))
    const models = await openai.models.list()
    expect(models.data.map((model) => model.id)).toEqual(['fake-model'])
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: OTHER_KEY })
    const message = await anthropic.messages.create({
      model: 'claude-fake',
      max_tokens: 10,
      messages: [{ role: 'user', content: 'hi' }],
    })
    expect(message.content[0]).toMatchObject({ type: 'text', text: DEFAULT_TOKENS.join('') })
  })

  it('a streamed response names its generation and numbers its events; the generation reports state, text and usage', async () => {
    const response = await post(`${gw.url}/v1/chat/completions`, chatBody())
    const id = response.headers.get('streamgate-generation-id')
    expect(id).toMatch(/^gen_[\w-]{22}$/)
    const events = await readEvents(response)
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => String(index + 1)))
    expect(events.at(-1)?.data).toBe('[DONE]')
    const state = await (
      await fetch(`${gw.url}/v1/generations/${id}`, { headers: { 'x-api-key': KEY } })
    ).json()
    expect(state).toMatchObject({
      id,
      state: 'completed',
      provider: 'openai',
      model: 'fake-model',
      text: DEFAULT_TOKENS.join(''),
      usage: { input_tokens: 17, output_tokens: 9, estimated: false },
    })
  })

  it('refuses a wrong or missing gateway key with 401 before reading the body, and bad bodies with 400', async () => {
    for (const key of [null, 'wrong-key']) {
      const response = await post(`${gw.url}/v1/chat/completions`, 'not json', key)
      expect(response.status).toBe(401)
      expect((await response.json()).error.type).toBe('authentication_error')
    }
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: 'wrong-key' })
    await expect(
      anthropic.messages.create({ model: 'x', max_tokens: 1, messages: [{ role: 'user', content: 'hi' }] }),
    ).rejects.toMatchObject({ status: 401 })
    const bad = await post(`${gw.url}/v1/chat/completions`, '{"model":')
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.message).toMatch(/JSON/)
    const unknown = await fetch(`${gw.url}/v1/generations/gen_nope`, { headers: { 'x-api-key': KEY } })
    expect(unknown.status).toBe(404)
    expect(upstream.requests).toEqual([])
  })

  it('relays an upstream error status and body before the stream starts (500, 429 with Retry-After)', async () => {
    upstream.scenario.status = {
      code: 429,
      body: {
        error: { message: 'Rate limit reached', type: 'requests', param: null, code: 'rate_limit_exceeded' },
      },
      headers: { 'retry-after': '7' },
    }
    const limited = await post(`${gw.url}/v1/chat/completions`, chatBody())
    expect(limited.status).toBe(429)
    expect(limited.headers.get('retry-after')).toBe('7')
    expect((await limited.json()).error.code).toBe('rate_limit_exceeded')
    upstream.scenario.status = {
      code: 500,
      body: { type: 'error', error: { type: 'api_error', message: 'boom' } },
    }
    const client = new Anthropic({ baseURL: gw.url, apiKey: KEY, maxRetries: 0 })
    await expect(
      client.messages.create({
        model: 'x',
        max_tokens: 1,
        stream: true,
        messages: [{ role: 'user', content: 'hi' }],
      }),
    ).rejects.toMatchObject({ status: 500, error: { error: { message: 'boom' } } })
  })

  it('mid-stream: the upstream’s error event is relayed and the generation is failed; a dropped upstream becomes the provider’s error event', async () => {
    upstream.scenario.failAfter = { tokens: 3, how: 'error-event' }
    const client = new OpenAI({ baseURL: `${gw.url}/v1`, apiKey: KEY, maxRetries: 0 })
    const stream = await client.chat.completions.create({ model: 'fake-model', messages: [], stream: true })
    let text = ''
    await expect(
      (async () => {
        for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? ''
      })(),
    ).rejects.toThrow(/server had an error/)
    expect(text).toBe(DEFAULT_TOKENS.slice(0, 3).join(''))

    upstream.scenario.failAfter = { tokens: 2, how: 'disconnect' }
    const anthropic = new Anthropic({ baseURL: gw.url, apiKey: KEY, maxRetries: 0 })
    const response = await post(
      `${gw.url}/v1/messages`,
      JSON.stringify({ model: 'c', max_tokens: 5, stream: true, messages: [] }),
    )
    const id = response.headers.get('streamgate-generation-id')
    const events = await readEvents(response)
    expect(events.at(-1)).toMatchObject({ event: 'error' })
    expect(JSON.parse(events.at(-1)?.data ?? '{}').error.type).toBe('api_error')
    const state = await (
      await fetch(`${gw.url}/v1/generations/${id}`, { headers: { 'x-api-key': KEY } })
    ).json()
    expect(state.state).toBe('failed')
    expect(state.text).toBe(DEFAULT_TOKENS.slice(0, 2).join(''))
    await expect(
      (async () => {
        const again = anthropic.messages.stream({
          model: 'c',
          max_tokens: 5,
          messages: [{ role: 'user', content: 'x' }],
        })
        await again.finalMessage()
      })(),
    ).rejects.toThrow()
  })

  it('an upstream event that never ends is cut at 32 MiB: the generation fails, the upstream is dropped', async () => {
    upstream.scenario.endlessEventBytes = 40 * 1024 * 1024
    const response = await post(`${gw.url}/v1/chat/completions`, chatBody())
    const id = response.headers.get('streamgate-generation-id')
    const text = await response.text()
    expect(text).toContain('"error"')
    expect(text).toContain('larger than the gateway keeps')
    const state = await (
      await fetch(`${gw.url}/v1/generations/${id}`, { headers: { 'x-api-key': KEY } })
    ).json()
    expect(state.state).toBe('failed')
    await waitFor(() => upstream.requests[0]?.abortedAt !== undefined)
  })

  it('never shows the upstream key: not in any response, log line or error', async () => {
    upstream.scenario.status = {
      code: 400,
      body: { error: { message: 'bad', type: 'invalid_request_error', param: null, code: null } },
    }
    const texts = [
      await (await post(`${gw.url}/v1/chat/completions`, chatBody())).text(),
      await (await post(`${gw.url}/v1/chat/completions`, chatBody(), 'wrong')).text(),
      await (await fetch(`${gw.url}/metrics`)).text(),
    ]
    for (const text of texts) expect(text).not.toContain(UPSTREAM_KEY)
    expect(JSON.stringify(gw.logs)).not.toContain(UPSTREAM_KEY)
    expect(JSON.stringify(gw.logs)).not.toContain(KEY)
  })
})

describe('the demo upstream (no --upstream)', () => {
  it('answers the Responses API through the gateway, streamed with sequence numbers and not (openai SDK)', async () => {
    const demo = await startGateway([])
    gateways.push(demo)
    const client = new OpenAI({ baseURL: `${demo.url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const whole = await client.responses.create({ model: 'any', input: 'hi' })
    expect(whole).toMatchObject({ object: 'response', status: 'completed', model: 'streamgate-demo' })
    expect(whole.id).toMatch(/^resp_/)
    expect(whole.output_text).toMatch(/^This is the streamgate demo upstream/)
    const events = await client.responses.create({ model: 'any', input: 'hi', stream: true })
    const types: string[] = []
    const sequence: number[] = []
    let text = ''
    let last: OpenAI.Responses.Response | undefined
    for await (const event of events) {
      types.push(event.type)
      sequence.push(event.sequence_number)
      if (event.type === 'response.output_text.delta') text += event.delta
      if (event.type === 'response.completed') last = event.response
    }
    expect(sequence).toEqual(types.map((_, index) => index))
    expect(types.slice(0, 4)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
    ])
    expect(types.at(-1)).toBe('response.completed')
    expect(text).toBe(whole.output_text)
    expect(last?.output[0]).toMatchObject({ type: 'message', content: [{ type: 'output_text', text }] })
    expect(last?.usage?.output_tokens).toBe(
      types.filter((type) => type === 'response.output_text.delta').length,
    )
  })
})

describe('background mode (OpenAI Responses API) on an upstream without it (the demo)', () => {
  let demo: GatewayProcess
  let client: OpenAI
  beforeAll(async () => {
    // Grace 0: an ordinary generation would be aborted the moment its client left.
    demo = await startGateway(['--resume-grace', '0'])
    gateways.push(demo)
    client = new OpenAI({ baseURL: `${demo.url}/v1`, apiKey: 'unused', maxRetries: 0 })
  })

  it('a client leaves after 15 deltas and comes back 1.5 s later with starting_after: the rest, whole, nothing twice', async () => {
    const first = await client.responses.create({ model: 'any', input: 'hi', background: true, stream: true })
    let id = ''
    let text = ''
    let deltas = 0
    const sequence: number[] = []
    for await (const event of first) {
      sequence.push(event.sequence_number)
      if (event.type === 'response.created') id = event.response.id
      if (event.type === 'response.output_text.delta') {
        text += event.delta
        if (++deltas === 15) break
      }
    }
    expect(id).toMatch(/^resp_/)
    await sleep(1500)
    const rest = await client.responses.retrieve(id, {
      stream: true,
      starting_after: sequence.at(-1) as number,
    })
    let last: string | undefined
    for await (const event of rest) {
      sequence.push(event.sequence_number)
      if (event.type === 'response.output_text.delta') text += event.delta
      last = event.type
    }
    expect(last).toBe('response.completed')
    expect(sequence).toEqual(sequence.map((_, index) => index))
    const done = await client.responses.retrieve(id)
    expect(done).toMatchObject({ id, status: 'completed', background: true })
    expect(done.output_text).toBe(text)
    expect(text).toMatch(/^This is the streamgate demo upstream/)
    expect(done.usage?.output_tokens).toBeGreaterThan(deltas)
  })

  it('polls a response created without stream, and cancel stops it for good (idempotent)', async () => {
    const created = await client.responses.create({ model: 'any', input: 'hi', background: true })
    expect(created).toMatchObject({ object: 'response', status: 'in_progress', background: true })
    expect(created.id).toMatch(/^resp_/)
    await sleep(400)
    const running = await client.responses.retrieve(created.id)
    expect(running.status).toBe('in_progress')
    const cancelled = await client.responses.cancel(created.id)
    expect(cancelled).toMatchObject({ id: created.id, status: 'cancelled', background: true })
    expect((await client.responses.retrieve(created.id)).status).toBe('cancelled')
    expect((await client.responses.cancel(created.id)).status).toBe('cancelled')
    // Still readable, as far as it went; the upstream was aborted: nothing more arrives.
    const replay = async () => {
      const types: string[] = []
      for await (const event of await client.responses.retrieve(created.id, { stream: true }))
        types.push(event.type)
      return types
    }
    const soon = await replay()
    expect(soon[0]).toBe('response.created')
    expect(soon).not.toContain('response.completed')
    await sleep(500)
    expect(await replay()).toEqual(soon)
  })

  it('goes to the upstream as an ordinary stream, or as sent with --upstream-background', async () => {
    const body = JSON.stringify({ model: 'fake-model', input: 'hi', background: true })
    const runHere = await gateway()
    await (await post(`${runHere.url}/v1/responses`, body)).arrayBuffer()
    const native = await gateway('--upstream-background')
    await (await post(`${native.url}/v1/responses`, body)).arrayBuffer()
    const sent = upstream.requests
      .filter((request) => request.path === '/v1/responses')
      .map((request) => request.body)
    expect(sent).toEqual([
      { model: 'fake-model', input: 'hi', stream: true },
      { model: 'fake-model', input: 'hi', background: true },
    ])
  })

  it('with --upstream-background, a streamed retrieve is relayed as it comes, not when it ends', async () => {
    const native = await gateway('--upstream-background')
    upstream.scenario.tokens = Array.from({ length: 20 }, (_, index) => ` r${index}`)
    upstream.scenario.interTokenDelayMs = 100
    const started = performance.now()
    const response = await fetch(`${native.url}/v1/responses/resp_native?stream=true&starting_after=3`, {
      headers: { authorization: `Bearer ${KEY}` },
    })
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const first = await reader.read()
    const firstAt = performance.now() - started
    let text = new TextDecoder().decode(first.value)
    for (let read = await reader.read(); !read.done; read = await reader.read())
      text += new TextDecoder().decode(read.value)
    const endAt = performance.now() - started
    expect(firstAt).toBeLessThan(1000)
    expect(endAt).toBeGreaterThan(1900)
    expect(text).toContain(' r19')
    expect(upstream.requests.at(-1)).toMatchObject({
      path: '/v1/responses/resp_native?stream=true&starting_after=3',
    })
  })

  it('sends an id it does not know to the upstream, and refuses a bad starting_after', async () => {
    await expect(client.responses.retrieve('resp_unknown')).rejects.toMatchObject({ status: 404 })
    const created = await client.responses.create({ model: 'any', input: 'hi', background: true })
    const bad = await fetch(`${demo.url}/v1/responses/${created.id}?stream=true&starting_after=x`)
    expect(bad.status).toBe(400)
    await client.responses.cancel(created.id)
  })
})

describe('resumable, shareable generations', () => {
  let gw: GatewayProcess
  beforeAll(async () => {
    gw = await gateway('--resume-grace', '5')
  })

  it('a client cut at 30% resumes with Last-Event-ID and gets exactly the rest; a late viewer gets everything', async () => {
    const tokens = Array.from({ length: 40 }, (_, index) => ` t${index}`)
    upstream.scenario.tokens = tokens
    upstream.scenario.interTokenDelayMs = 15
    const first = await post(`${gw.url}/v1/chat/completions`, chatBody())
    const id = first.headers.get('streamgate-generation-id')
    // The role chunk, then 30% of the tokens; then the client drops.
    const seen = await readEvents(first, 1 + 12)
    const lastId = seen.at(-1)?.id as string
    const resumed = await fetch(`${gw.url}/v1/generations/${id}/stream`, {
      headers: { authorization: `Bearer ${KEY}`, 'last-event-id': lastId },
    })
    expect(resumed.headers.get('content-type')).toMatch(/^text\/event-stream/)
    const joinedLate = fetch(`${gw.url}/v1/generations/${id}/stream`, {
      headers: { authorization: `Bearer ${OTHER_KEY}` },
    })
    const rest = await readEvents(resumed)
    expect(rest[0]?.id).toBe(String(Number(lastId) + 1))
    expect([...seen, ...rest].map(contentOf).join('')).toBe(tokens.join(''))
    const whole = await readEvents(await joinedLate)
    expect(whole.map(contentOf).join('')).toBe(tokens.join(''))
    expect(upstream.requests[0]?.abortedAt).toBeUndefined()
    // Finished and fully read: nothing more, and a reconnecting EventSource is told to stop.
    const after = await fetch(`${gw.url}/v1/generations/${id}/stream`, {
      headers: { authorization: `Bearer ${KEY}`, 'last-event-id': String(whole.length) },
    })
    expect(after.status).toBe(204)
  })

  it('a client that stops reading a long answer gets all of it later, once and in order', async () => {
    // About 20 MB: far more than the kernel's socket buffers and the 256 KiB a live viewer may have
    // waiting, so the gateway stops writing to it and has it follow from the kept events.
    const tokens = Array.from({ length: 2500 }, (_, index) => ` ${index} ${'x'.repeat(8000)}`)
    upstream.scenario.tokens = tokens
    upstream.scenario.interTokenDelayMs = 0
    const response = await post(`${gw.url}/v1/chat/completions`, chatBody())
    await waitFor(() => upstream.requests[0]?.finishedAt !== undefined, 10_000)
    await sleep(200)
    const events = await readEvents(response)
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => String(index + 1)))
    expect(events.map(contentOf).join('') === tokens.join('')).toBe(true)
  })

  it('cancel aborts the upstream and ends every viewer', async () => {
    upstream.scenario.interTokenDelayMs = 200
    const response = await post(`${gw.url}/v1/chat/completions`, chatBody())
    const id = response.headers.get('streamgate-generation-id')
    const reading = readEvents(response)
    await waitFor(() => upstream.requests.length === 1)
    const cancelled = await fetch(`${gw.url}/v1/generations/${id}/cancel`, {
      method: 'POST',
      headers: { 'x-api-key': KEY },
    })
    expect((await cancelled.json()).state).toBe('cancelled')
    await reading
    await waitFor(() => upstream.requests[0]?.abortedAt !== undefined, 1000)
  })
})

describe('client disconnects and the resume grace', () => {
  async function startAndDrop(gw: GatewayProcess): Promise<{ id: string; droppedAt: number }> {
    upstream.scenario.tokens = Array.from({ length: 100 }, () => ' x')
    upstream.scenario.interTokenDelayMs = 50
    const controller = new AbortController()
    const streamed = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: chatBody(),
      signal: controller.signal,
    })
    const id = streamed.headers.get('streamgate-generation-id') as string
    await readEvents(streamed, 3)
    controller.abort()
    return { id, droppedAt: Date.now() }
  }

  it('grace 0: the upstream request is aborted within a second of the client leaving', async () => {
    const gw = await gateway('--resume-grace', '0')
    const { droppedAt } = await startAndDrop(gw)
    const request = upstream.requests[0]
    await waitFor(() => request?.abortedAt !== undefined, 1000)
    expect((request?.abortedAt as number) - droppedAt).toBeLessThan(1000)
    await gw.stop()
  })

  it('grace 2 s: aborted about 2 s after the client left when nobody came back; not aborted when it came back', async () => {
    const gw = await gateway('--resume-grace', '2')
    const { droppedAt } = await startAndDrop(gw)
    const request = upstream.requests[0]
    await waitFor(() => request?.abortedAt !== undefined, 4000)
    const waited = (request?.abortedAt as number) - droppedAt
    expect(waited).toBeGreaterThan(1500)
    expect(waited).toBeLessThan(3500)

    upstream.requests.length = 0
    const { id } = await startAndDrop(gw)
    await sleep(1000)
    const back = await fetch(`${gw.url}/v1/generations/${id}/stream`, {
      headers: { authorization: `Bearer ${KEY}`, 'last-event-id': '3' },
    })
    const rest = await readEvents(back)
    expect(rest.at(-1)?.data).toBe('[DONE]')
    expect(upstream.requests[0]?.abortedAt).toBeUndefined()
    await gw.stop()
  })
})

describe('keep-alive and limits', () => {
  it('comments arrive every second from the first byte while the upstream thinks for 5 s', async () => {
    const gw = await gateway('--heartbeat', '1')
    upstream.scenario.firstTokenDelayMs = 5000
    const started = Date.now()
    const response = await post(`${gw.url}/v1/chat/completions`, chatBody())
    const comments: number[] = []
    const events: ServerSentEvent[] = []
    const parser = createParser({
      onEvent: (event) => events.push(event),
      onComment: () => comments.push(Date.now() - started),
    })
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      parser.feed(value)
    }
    expect(comments[0]).toBeLessThan(1000)
    const beforeFirstToken = comments.filter((at) => at < 5000)
    expect(beforeFirstToken.length).toBeGreaterThanOrEqual(5)
    for (let index = 1; index < beforeFirstToken.length; index++) {
      expect(
        (beforeFirstToken[index] as number) - (beforeFirstToken[index - 1] as number),
      ).toBeLessThanOrEqual(1100)
    }
    expect(events.map(contentOf).join('')).toBe(DEFAULT_TOKENS.join(''))
    await gw.stop()
  })

  it('per-key requests per minute and requests at once answer 429 with Retry-After', async () => {
    const gw = await gateway('--key-rpm', '2', '--key-concurrency', '1')
    upstream.scenario.interTokenDelayMs = 100
    const first = await post(`${gw.url}/v1/chat/completions`, chatBody())
    const busy = await post(`${gw.url}/v1/chat/completions`, chatBody())
    expect(busy.status).toBe(429)
    expect(busy.headers.get('retry-after')).toBe('1')
    await readEvents(first)
    await sleep(100)
    expect((await post(`${gw.url}/v1/chat/completions`, chatBody())).status).toBe(200)
    const limited = await post(`${gw.url}/v1/chat/completions`, chatBody())
    expect(limited.status).toBe(429)
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(50)
    // Another key has its own budget.
    expect((await post(`${gw.url}/v1/chat/completions`, chatBody({ stream: false }), OTHER_KEY)).status).toBe(
      200,
    )
    await gw.stop()
  })
})

describe('the proxy cannot be steered', () => {
  it('a request that smuggles a second one (Content-Length and Transfer-Encoding) is refused; the upstream sees nothing', async () => {
    const gw = await gateway()
    const { port } = new URL(gw.url)
    const { connect } = await import('node:net')
    const body = '0\r\n\r\nPOST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}'
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(Number(port), '127.0.0.1')
      let text = ''
      socket.setEncoding('utf8').on('data', (chunk: string) => {
        text += chunk
      })
      socket.on('close', () => resolve(text))
      socket.on('error', () => resolve(text))
      socket.write(
        `POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${KEY}\r\nContent-Type: application/json\r\n` +
          `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked\r\n\r\n${body}`,
      )
    })
    expect(answer).toMatch(/^HTTP\/1\.1 400/)
    expect(upstream.requests).toEqual([])
    await gw.stop()
  })

  it('the upstream is the configured one whatever the request says (forwarding and provider headers)', async () => {
    const gw = await gateway()
    const response = await fetch(`${gw.url}/v1/chat/completions`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${KEY}`,
        'content-type': 'application/json',
        'x-forwarded-host': '169.254.169.254',
        'x-portkey-custom-host': 'http://169.254.169.254/v1',
        'openai-organization': 'org-evil',
      },
      body: chatBody({ stream: false }),
    })
    expect(response.status).toBe(200)
    const seen = upstream.requests[0]
    expect(seen?.path).toBe('/v1/chat/completions')
    // `connection: keep-alive` is the upstream client's own (undici's), hop by hop.
    expect(Object.keys(seen?.headers ?? {}).sort()).toEqual([
      'accept',
      'authorization',
      'connection',
      'content-length',
      'content-type',
      'host',
    ])
    expect(seen?.headers.authorization).toBe(`Bearer ${UPSTREAM_KEY}`)
    await gw.stop()
  })

  it('requests to made-up paths and methods, with or without a key, add no series to /metrics', async () => {
    const gw = await gateway()
    const series = async () =>
      (await (await fetch(`${gw.url}/metrics`)).text())
        .split('\n')
        .filter((line) => line.startsWith('streamgate_llm_requests_total{'))
    const known = await post(`${gw.url}/v1/chat/completions`, chatBody({ stream: false }))
    expect(known.status).toBe(200)
    for (let index = 0; index < 20; index++) {
      await fetch(`${gw.url}/v1/made-up-${index}`, {
        method: 'POST',
        headers: { authorization: `Bearer ${KEY}` },
      })
      await fetch(`${gw.url}/v1/generations/gen_${index}/made-up`, {
        headers: { authorization: 'Bearer nope' },
      })
      const method = ['PUT', 'DELETE', 'PATCH', 'PURGE', 'MKCOL'][index % 5] as string
      await fetch(`${gw.url}/v1/chat/completions`, { method, headers: { 'x-api-key': KEY } })
    }
    const lines = await series()
    expect(lines.some((line) => line.includes('route="POST /v1/chat/completions",status="200"'))).toBe(true)
    expect(lines.filter((line) => /made-up|PUT|DELETE|PATCH|PURGE|MKCOL/.test(line))).toEqual([])
    // 404 and 405 with a key, 401 without: each one series under "other".
    expect(lines.filter((line) => line.includes('route="other"')).length).toBe(3)
    await gw.stop()
  })
})
