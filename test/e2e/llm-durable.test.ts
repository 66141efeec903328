import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { stream } from '@durable-streams/client'
import { EventSource } from 'eventsource'
import OpenAI from 'openai'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createParser } from '../../src/protocol/parser.js'
import type { ServerSentEvent } from '../../src/protocol/types.js'
import { type FakeUpstream, startFakeUpstream, UPSTREAM_KEY } from '../fixtures/fake-llm-upstream.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'

/*
 * Generations on the default store (sqlite) through restarts: graceful (SIGTERM) and crashes
 * (SIGKILL). Each test restarts its gateway on the same file.
 */

let upstream: FakeUpstream
let directory: string
const running: GatewayProcess[] = []

beforeAll(async () => {
  upstream = await startFakeUpstream()
})
beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'streamgate-generations-'))
})
afterEach(async () => {
  await Promise.all(running.splice(0).map((gateway) => gateway.stop('SIGKILL')))
  upstream.reset()
  rmSync(directory, { recursive: true, force: true })
})
afterAll(async () => {
  await upstream.close()
})

async function gateway(withUpstream = true): Promise<GatewayProcess> {
  const started = await startGateway([
    '--store',
    `sqlite:${join(directory, 'gateway.db')}`,
    ...(withUpstream ? ['--upstream', upstream.openaiUrl, '--upstream-key', UPSTREAM_KEY] : []),
  ])
  running.push(started)
  return started
}

/** Stops the gateway and starts another on the same file (the same upstream choice). */
async function restart(node: GatewayProcess, signal: 'SIGTERM' | 'SIGKILL', withUpstream = true) {
  await node.stop(signal)
  running.splice(running.indexOf(node), 1)
  return gateway(withUpstream)
}

const startChat = (node: GatewayProcess) =>
  fetch(`${node.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'fake-model', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  })

/** The body's bytes, as text, up to `events` whole events (all of it when absent). */
async function readRaw(response: Response, events = Number.POSITIVE_INFINITY): Promise<string> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  while (text.split('\n\n').length - 1 < events) {
    const { done, value } = await reader.read()
    if (done) break
    text += decoder.decode(value, { stream: true })
  }
  await reader.cancel()
  // Without the comment that opens a response (`: ok`): the events themselves.
  text = text.replace(/^: ok\n/, '')
  const cut = events === Number.POSITIVE_INFINITY ? text.length : nthEnd(text, events)
  return text.slice(0, cut)
}

const nthEnd = (text: string, events: number) => {
  let at = 0
  for (let index = 0; index < events; index++) at = text.indexOf('\n\n', at) + 2
  return at
}

function parse(text: string): ServerSentEvent[] {
  const events: ServerSentEvent[] = []
  createParser({ onEvent: (event) => events.push(event) }).feed(text)
  return events
}

const describeGeneration = async (node: GatewayProcess, id: string) =>
  (await (await fetch(`${node.url}/v1/generations/${id}`)).json()) as {
    state: string
    events: number
    text: string
    error: string | null
  }

describe('generations through restarts (sqlite)', () => {
  it('after a graceful restart, a finished and an interrupted generation replay byte for byte from any Last-Event-ID', async () => {
    let node = await gateway()
    upstream.scenario.tokens = Array.from({ length: 40 }, (_, index) => ` w${index}`)
    const finished = await startChat(node)
    const finishedId = finished.headers.get('streamgate-generation-id') as string
    const whole = await readRaw(finished)
    upstream.scenario.interTokenDelayMs = 40
    const cut = await startChat(node)
    const cutId = cut.headers.get('streamgate-generation-id') as string
    const seen = await readRaw(cut, 10)

    node = await restart(node, 'SIGTERM')
    for (const after of [0, 7, 41]) {
      const replay = await fetch(`${node.url}/v1/generations/${finishedId}/stream`, {
        headers: { 'last-event-id': String(after) },
      })
      expect(replay.status).toBe(200)
      expect(await readRaw(replay)).toBe(whole.slice(nthEnd(whole, after)))
    }
    const interrupted = await describeGeneration(node, cutId)
    expect(interrupted.state).toBe('interrupted')
    const rest = await readRaw(
      await fetch(`${node.url}/v1/generations/${cutId}/stream`, { headers: { 'last-event-id': '10' } }),
    )
    const all = await readRaw(await fetch(`${node.url}/v1/generations/${cutId}/stream`))
    // What the viewer saw is what is stored; then the rest, ending with the provider's error event.
    expect(all).toBe(seen + rest)
    const events = parse(all)
    expect(events.map((event) => event.id)).toEqual(events.map((_, index) => String(index + 1)))
    expect(JSON.parse(events.at(-1)?.data as string)).toMatchObject({
      error: { type: 'api_error', message: expect.stringMatching(/shut down/) },
    })
    // The upstream request was dropped at shutdown, not left running.
    expect(upstream.requests.at(-1)?.abortedAt).toBeDefined()
  })

  it('after SIGKILL, a running generation is interrupted: all that a viewer saw, then the error event, and an EventSource stops', async () => {
    let node = await gateway()
    upstream.scenario.tokens = Array.from({ length: 400 }, (_, index) => ` k${index}`)
    upstream.scenario.interTokenDelayMs = 20
    const response = await startChat(node)
    const id = response.headers.get('streamgate-generation-id') as string
    const seen = await readRaw(response, 25)

    node = await restart(node, 'SIGKILL')
    const state = await describeGeneration(node, id)
    expect(state).toMatchObject({ state: 'interrupted', error: expect.stringMatching(/stopped/) })
    expect(state.events).toBeGreaterThanOrEqual(26)
    const stored = await readRaw(await fetch(`${node.url}/v1/generations/${id}/stream`))
    expect(stored.startsWith(seen)).toBe(true)
    const last = parse(stored).at(-1)
    expect(last?.id).toBe(String(state.events))
    expect(JSON.parse(last?.data as string)).toMatchObject({ error: { type: 'api_error' } })

    // A browser's EventSource resuming after the crash: the rest, then the end (204), no reconnect loop.
    const source = new EventSource(`${node.url}/v1/generations/${id}/stream?last_event_id=25`)
    const ids: string[] = []
    source.onmessage = (event) => ids.push(event.lastEventId)
    await expect.poll(() => source.readyState, { timeout: 10_000 }).toBe(EventSource.CLOSED)
    source.close()
    expect(ids).toEqual(Array.from({ length: state.events - 25 }, (_, index) => String(26 + index)))
  })

  it('every generation reads through the Durable Streams path: catch-up, then live to its end; writes are refused', async () => {
    const node = await gateway()
    upstream.scenario.tokens = Array.from({ length: 60 }, (_, index) => ` d${index}`)
    upstream.scenario.interTokenDelayMs = 15
    const response = await startChat(node)
    const id = response.headers.get('streamgate-generation-id') as string
    const url = `${node.url}/v1/stream/generations/${id}`
    const reading = (async () => {
      let text = ''
      const live = await stream({ url, offset: '-1', live: 'long-poll' })
      for await (const chunk of live.textStream()) text += chunk
      return text
    })()
    const whole = await readRaw(response)
    expect(await reading).toBe(whole)
    const catchUp = await fetch(url)
    expect(catchUp.headers.get('content-type')).toMatch(/^text\/plain/)
    expect(catchUp.headers.get('stream-closed')).toBe('true')
    expect(await catchUp.text()).toBe(whole)
    // SSE mode: the protocol's `data` events carry the bytes; from the tail, only the end.
    const sse = parse(await (await fetch(`${url}?offset=-1&live=sse`)).text())
    const text = sse
      .filter((event) => event.event === 'data')
      .map((event) => event.data)
      .join('\n')
    expect(text.replace(/\n/g, '')).toBe(whole.replace(/\n/g, ''))
    const closed = (events: ServerSentEvent[]) =>
      events.some((event) => event.event === 'control' && event.data.includes('"streamClosed":true'))
    expect(closed(sse)).toBe(true)
    const tail = catchUp.headers.get('stream-next-offset') as string
    const fromTail = parse(await (await fetch(`${url}?offset=${tail}&live=sse`)).text())
    expect(fromTail.filter((event) => event.event === 'data')).toEqual([])
    expect(closed(fromTail)).toBe(true)
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const write = await fetch(url, {
        method,
        headers: { 'content-type': 'text/event-stream' },
        body: method === 'DELETE' ? undefined : 'data: x\n\n',
      })
      expect(write.status, method).toBe(403)
      expect(await write.json()).toMatchObject({ error: { code: 'SG_ERR_READ_ONLY_STREAM' } })
    }
  })

  it('a background response running at SIGKILL reads as failed after the restart, never in_progress forever', async () => {
    let node = await gateway(false)
    const client = () => new OpenAI({ baseURL: `${node.url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const created = await client().responses.create({ model: 'any', input: 'hi', background: true })
    expect(created.status).toBe('in_progress')
    await expect
      .poll(async () => (await client().responses.retrieve(created.id)).output.length >= 0)
      .toBe(true)

    node = await restart(node, 'SIGKILL', false)
    const after = await client().responses.retrieve(created.id)
    expect(after).toMatchObject({ id: created.id, status: 'failed', background: true })
    expect(after.error?.message).toMatch(/stopped/)
    // Its stream replays what was stored and ends (the SDK sees the error), not hangs.
    const types: string[] = []
    const replay = async () => {
      for await (const event of await client().responses.retrieve(created.id, { stream: true }))
        types.push(event.type)
    }
    await expect(replay()).rejects.toThrow(/stopped/)
    expect(types[0]).toBe('response.created')
    expect(types).not.toContain('response.completed')
  })
})
