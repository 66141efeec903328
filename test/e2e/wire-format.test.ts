import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { publish, publisherToken } from '../helpers/hub.js'
import { type RawResponse, rawExchange, rawGet } from '../helpers/raw-http.js'

// Every SSE response, read byte for byte off the socket: the status line first, then headers, then
// strictly framed chunks. On Node 24 a fast path written for Node 20 sent events before the headers
// (curl: "Received HTTP/0.9 when not allowed").

const dataLines = (response: RawResponse | undefined) => response?.body.match(/^data:/gm)?.length ?? 0

// Both ways of writing HTTP/1.1 frames: straight to the socket (the fast path, where this runtime
// passes its feature test) and through ServerResponse (STREAMGATE_DIRECT_WRITES=off).
describe.each([
  { path: 'fast path', env: {} },
  { path: 'public path', env: { STREAMGATE_DIRECT_WRITES: 'off' } },
])('the bytes on the wire ($path)', ({ env }) => {
  let gateway: GatewayProcess

  beforeAll(async () => {
    gateway = await startGateway(['--heartbeat', '1'], { env })
  })

  afterAll(async () => {
    await gateway.stop()
  })

  it('the demo stream: status line, headers, then every event in framed chunks, and the last chunk', async () => {
    const [response, ...more] = await rawExchange(
      gateway.url,
      rawGet('/stream?interval=5&count=20', { connection: 'close' }),
    )
    expect(more).toEqual([])
    expect(response?.status).toBe(200)
    expect(response?.head).toMatch(/\r\ncontent-type: text\/event-stream; charset=utf-8\r\n/i)
    expect(response?.complete).toBe(true)
    expect(dataLines(response)).toBe(22)
  })

  it('a hub subscription that replays history in the turn it opens, then goes live', async () => {
    const topic = 'https://example.com/wire/replay'
    const token = await publisherToken()
    for (let index = 0; index < 30; index++)
      expect(
        (
          await publish(
            `${gateway.url}/.well-known/mercure`,
            [
              ['topic', topic],
              ['data', `${index}`],
            ],
            token,
          )
        ).status,
      ).toBe(200)
    const live = publish(
      `${gateway.url}/.well-known/mercure`,
      [
        ['topic', topic],
        ['data', 'live'],
      ],
      token,
    )
    const [response] = await rawExchange(
      gateway.url,
      rawGet(`/.well-known/mercure?topic=${encodeURIComponent(topic)}&lastEventID=earliest`),
      { enough: ([first]) => dataLines(first) >= 31 },
    )
    await live
    expect(response?.status).toBe(200)
    expect(response?.body.match(/^data: .*$/gm)?.slice(0, 31)).toEqual([
      ...Array.from({ length: 30 }, (_, index) => `data: ${index}`),
      'data: live',
    ])
  })

  it('a streamed LLM answer relayed from the upstream, to its last chunk', async () => {
    const body = JSON.stringify({ model: 'demo', stream: true, messages: [{ role: 'user', content: 'hi' }] })
    const [response] = await rawExchange(
      gateway.url,
      `POST /v1/chat/completions HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    )
    expect(response?.status).toBe(200)
    expect(response?.complete).toBe(true)
    expect(response?.body).toMatch(/^data: \[DONE\]$/m)
  })
})
