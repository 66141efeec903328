import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import { createDurableChatTransport, toDurableStreamResponse } from '@durable-streams/aisdk-transport'
import { createUIMessageStream, readUIMessageStream, type UIMessage, type UIMessageChunk } from 'ai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'

/*
 * The Vercel AI SDK's Durable Streams transport (@durable-streams/aisdk-transport) against the
 * gateway, as an application deploys it: its chat route holds a gateway key, writes the model's UI
 * message stream into a durable stream with `toDurableStreamResponse`, and hands the browser a read
 * capability URL; the browser's `createDurableChatTransport` reads it live, and resumes it after a
 * reload through the route's reconnect endpoint.
 */
const KEY = 'aisdk-key'
const WORDS = Array.from({ length: 40 }, (_, index) => `word${index} `)
let gateway: GatewayProcess
let app: Server
let api: string
/** Chat id → the read URL of its generation in progress (what the app would keep in its database). */
const active = new Map<string, string>()

/** A model's answer as the AI SDK streams it: start, text deltas 5 ms apart, finish. */
function answer(): ReadableStream<UIMessageChunk> {
  return createUIMessageStream({
    async execute({ writer }) {
      writer.write({ type: 'start', messageId: 'answer-1' })
      writer.write({ type: 'text-start', id: 't1' })
      for (const delta of WORDS) {
        writer.write({ type: 'text-delta', id: 't1', delta })
        await sleep(5)
      }
      writer.write({ type: 'text-end', id: 't1' })
      writer.write({ type: 'finish', finishReason: 'stop' })
    },
  })
}

async function chatRoute(chatId: string): Promise<Response> {
  const path = `/v1/stream/chats/${chatId}/${Date.now()}`
  const minted = await fetch(`${gateway.url}/v1/stream-capabilities`, {
    method: 'POST',
    headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify({ path }),
  })
  const { url: readUrl } = (await minted.json()) as { url: string }
  active.set(chatId, readUrl)
  return toDurableStreamResponse({
    source: answer(),
    stream: { writeUrl: `${gateway.url}${path}`, readUrl, headers: { authorization: `Bearer ${KEY}` } },
  })
}

beforeAll(async () => {
  gateway = await startGateway(['--api-key', KEY])
  app = createServer(async (request, response) => {
    const url = new URL(request.url ?? '/', 'http://app')
    let body = ''
    for await (const chunk of request) body += chunk
    const reconnect = /^\/api\/chat\/([^/]+)\/stream$/.exec(url.pathname)
    const answered = reconnect
      ? active.has(reconnect[1] as string)
        ? Response.json(
            { streamUrl: active.get(reconnect[1] as string) },
            {
              headers: { location: active.get(reconnect[1] as string) as string },
            },
          )
        : new Response(null, { status: 204 })
      : await chatRoute((JSON.parse(body) as { id: string }).id)
    response.writeHead(answered.status, Object.fromEntries(answered.headers))
    response.end(Buffer.from(await answered.arrayBuffer()))
  })
  app.listen(0, '127.0.0.1')
  await new Promise((resolve) => app.once('listening', resolve))
  api = `http://127.0.0.1:${(app.address() as AddressInfo).port}/api/chat`
})

afterAll(async () => {
  app?.close()
  await gateway?.stop()
})

const userMessage: UIMessage = { id: 'm1', role: 'user', parts: [{ type: 'text', text: 'Say forty words.' }] }

async function chunksOf(stream: ReadableStream<UIMessageChunk>, limit = Number.POSITIVE_INFINITY) {
  const chunks: UIMessageChunk[] = []
  const reader = stream.getReader()
  while (chunks.length < limit) {
    const { value, done } = await reader.read()
    if (done) break
    chunks.push(value)
  }
  await reader.cancel()
  return chunks
}

describe('the AI SDK Durable Streams transport', () => {
  it('writes a UI message stream with toDurableStreamResponse, and the chat transport reads it live', async () => {
    const transport = createDurableChatTransport({ api })
    const stream = await transport.sendMessages({
      trigger: 'submit-message',
      chatId: 'live',
      messageId: undefined,
      messages: [userMessage],
      abortSignal: undefined,
    })
    const [forUi, forCheck] = stream.tee()
    let message: UIMessage | undefined
    for await (const update of readUIMessageStream({ stream: forUi })) message = update
    const chunks = await chunksOf(forCheck)
    expect(chunks[0]).toMatchObject({ type: 'start' })
    expect(chunks.at(-1)).toMatchObject({ type: 'finish' })
    expect(chunks.filter((chunk) => chunk.type === 'text-delta').map((chunk) => chunk.delta)).toEqual(WORDS)
    expect(message?.parts).toEqual([{ type: 'text', text: WORDS.join(''), state: 'done' }])
  })

  it('resumes after a reload mid-answer: the reconnect reads the whole answer, once and in order', async () => {
    const transport = createDurableChatTransport({ api })
    const controller = new AbortController()
    const first = await transport.sendMessages({
      trigger: 'submit-message',
      chatId: 'reload',
      messageId: undefined,
      messages: [userMessage],
      abortSignal: controller.signal,
    })
    // The page goes away after a few words.
    const seen = await chunksOf(first, 5)
    expect(seen).toHaveLength(5)
    controller.abort()
    const resumed = await transport.reconnectToStream({ chatId: 'reload' })
    expect(resumed).not.toBeNull()
    const chunks = await chunksOf(resumed as ReadableStream<UIMessageChunk>)
    expect(chunks.slice(0, 5)).toEqual(seen)
    expect(chunks.filter((chunk) => chunk.type === 'text-delta').map((chunk) => chunk.delta)).toEqual(WORDS)
    expect(chunks.at(-1)).toMatchObject({ type: 'finish' })
    // A chat with no generation in progress has nothing to resume.
    expect(await transport.reconnectToStream({ chatId: 'none' })).toBeNull()
  })
})
