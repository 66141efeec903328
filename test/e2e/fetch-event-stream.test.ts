import type { IncomingMessage, ServerResponse } from 'node:http'
import { gzipSync } from 'node:zlib'
import { afterEach, describe, expect, it } from 'vitest'
import { ContentTypeError, HttpStatusError, NetworkError } from '../../src/client/errors.js'
import { fetchEventStream } from '../../src/client/fetch-event-stream.js'
import type { ServerSentEvent } from '../../src/protocol/types.js'
import { closedPort, startServer } from '../helpers/servers.js'

type Handler = (request: IncomingMessage, response: ServerResponse, attempt: number, body: string) => void

let close: (() => Promise<void>) | undefined

afterEach(async () => {
  await close?.()
  close = undefined
})

/** A local server whose answer to each attempt the test scripts; records what each request carried. */
async function scriptedServer(handler: Handler) {
  const requests: { method?: string; headers: IncomingMessage['headers']; body: string }[] = []
  const server = await startServer((request, response) => {
    let body = ''
    request.on('data', (chunk) => {
      body += chunk
    })
    request.on('end', () => {
      requests.push({ method: request.method, headers: request.headers, body })
      handler(request, response, requests.length, body)
    })
  })
  close = server.close
  return { url: server.url, requests }
}

const sse = (response: ServerResponse, extra: Record<string, string> = {}) =>
  response.writeHead(200, { 'content-type': 'text/event-stream', ...extra })

async function collect(iterable: AsyncIterable<ServerSentEvent>, limit = Number.POSITIVE_INFINITY) {
  const events: ServerSentEvent[] = []
  for await (const event of iterable) {
    events.push(event)
    if (events.length >= limit) break
  }
  return events
}

describe('fetchEventStream', () => {
  it('POSTs a JSON body with headers and yields the events', async () => {
    const server = await scriptedServer((_request, response) => {
      sse(response)
      response.end('data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: [DONE]\n\n')
    })
    const events = await collect(
      fetchEventStream(server.url, {
        method: 'POST',
        headers: { authorization: 'Bearer token', 'content-type': 'application/json' },
        body: JSON.stringify({ stream: true }),
      }),
    )
    expect(events.map((event) => event.data)).toEqual(['{"choices":[{"delta":{"content":"Hi"}}]}', '[DONE]'])
    expect(server.requests).toHaveLength(1)
    expect(server.requests[0]).toMatchObject({
      method: 'POST',
      body: '{"stream":true}',
      headers: { authorization: 'Bearer token', accept: 'text/event-stream' },
    })
  })

  it('resumes with Last-Event-ID after the server drops mid-stream, honouring retry', async () => {
    const server = await scriptedServer((_request, response, attempt) => {
      sse(response)
      if (attempt === 1) {
        response.write('retry: 50\nid: 1\ndata: one\n\nid: 2\ndata: two\n\n')
        setTimeout(() => response.socket?.destroy(), 20)
      } else {
        response.end('id: 3\ndata: three\n\n')
      }
    })
    const started = performance.now()
    const events = await collect(fetchEventStream(server.url), 3)
    expect(events.map((event) => [event.id, event.data])).toEqual([
      ['1', 'one'],
      ['2', 'two'],
      ['3', 'three'],
    ])
    expect(server.requests[1]?.headers['last-event-id']).toBe('2')
    expect(performance.now() - started).toBeLessThan(900)
  })

  it('re-evaluates a headers function on every connection', async () => {
    const server = await scriptedServer((_request, response, attempt) => {
      sse(response)
      response.end(attempt === 1 ? 'retry: 10\ndata: a\n\n' : 'data: b\n\n')
    })
    let token = 0
    const events = await collect(
      fetchEventStream(server.url, { headers: () => ({ authorization: `Bearer ${++token}` }) }),
      2,
    )
    expect(events.map((event) => event.data)).toEqual(['a', 'b'])
    expect(server.requests.map((request) => request.headers.authorization)).toEqual(['Bearer 1', 'Bearer 2'])
  })

  it('does not reconnect a POST unless asked', async () => {
    const server = await scriptedServer((_request, response) => {
      sse(response)
      response.end('retry: 10\ndata: once\n\n')
    })
    const events = await collect(fetchEventStream(server.url, { method: 'POST', body: '{}' }))
    expect(events.map((event) => event.data)).toEqual(['once'])
    expect(server.requests).toHaveLength(1)

    const again = await collect(
      fetchEventStream(server.url, { method: 'POST', body: '{}', reconnect: true }),
      2,
    )
    expect(again.map((event) => event.data)).toEqual(['once', 'once'])
  })

  it('stops at 204 No Content', async () => {
    const server = await scriptedServer((_request, response, attempt) => {
      if (attempt === 1) {
        sse(response)
        response.end('retry: 10\nid: 9\ndata: last\n\n')
      } else {
        response.writeHead(204).end()
      }
    })
    const events = await collect(fetchEventStream(server.url))
    expect(events.map((event) => event.data)).toEqual(['last'])
    expect(server.requests).toHaveLength(2)
  })

  it('throws a typed error carrying the status and body on 401, without retrying', async () => {
    const server = await scriptedServer((_request, response) => {
      response.writeHead(401, { 'content-type': 'application/json' })
      response.end('{"error":"invalid api key"}')
    })
    const error = await collect(fetchEventStream(server.url)).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(HttpStatusError)
    expect(error).toMatchObject({
      code: 'SG_ERR_HTTP_STATUS',
      status: 401,
      body: '{"error":"invalid api key"}',
    })
    expect(server.requests).toHaveLength(1)
  })

  it('retries a 503 and refuses a wrong content type', async () => {
    const server = await scriptedServer((_request, response, attempt) => {
      if (attempt === 1) response.writeHead(503).end('busy')
      else if (attempt === 2) {
        sse(response)
        response.end('data: up\n\n')
      } else response.writeHead(200, { 'content-type': 'text/html' }).end('<html>')
    })
    const error = await collect(fetchEventStream(server.url, { retryDelay: 10 })).catch(
      (caught: unknown) => caught,
    )
    expect(error).toBeInstanceOf(ContentTypeError)
    expect(server.requests).toHaveLength(3)
  })

  it('reports a refused connection as a NetworkError', async () => {
    const port = await closedPort()
    const error = await collect(
      fetchEventStream(`http://127.0.0.1:${port}/`, {
        shouldReconnect: ({ everConnected }) => everConnected,
      }),
    ).catch((caught: unknown) => caught)
    expect(error).toBeInstanceOf(NetworkError)
    expect((error as Error).message).toBe(`cannot reach http://127.0.0.1:${port}/`)
    expect(((error as Error).cause as { cause?: { code?: string } }).cause?.code).toBe('ECONNREFUSED')
  })

  it('stops when the signal aborts, also while waiting to reconnect', async () => {
    const server = await scriptedServer((_request, response) => {
      sse(response)
      response.end('retry: 60000\ndata: x\n\n')
    })
    const abort = new AbortController()
    const started = performance.now()
    const events: string[] = []
    for await (const event of fetchEventStream(server.url, { signal: abort.signal })) {
      events.push(event.data)
      setTimeout(() => abort.abort(), 50)
    }
    expect(events).toEqual(['x'])
    expect(performance.now() - started).toBeLessThan(5000)
  })

  it('reconnects when the stream stalls past stallTimeout, resuming after the last id', async () => {
    const server = await scriptedServer((_request, response, attempt) => {
      sse(response)
      // The first connection goes silent without closing, as behind a proxy that dropped it.
      if (attempt === 1) response.write('retry: 10\nid: 1\ndata: before\n\n')
      else response.end('id: 2\ndata: after\n\n')
    })
    const notices: unknown[] = []
    const events = await collect(
      fetchEventStream(server.url, {
        stallTimeout: 300,
        onReconnect: (_delay, { error }) => notices.push(error),
      }),
      2,
    )
    expect(events.map((event) => event.data)).toEqual(['before', 'after'])
    expect(server.requests[1]?.headers['last-event-id']).toBe('1')
    expect(notices[0]).toBeInstanceOf(NetworkError)
    expect((notices[0] as Error).message).toBe('no data or heartbeat for 300 ms')
  })

  it('does not count the consumer’s own time as a stall', async () => {
    const server = await scriptedServer((_request, response) => {
      sse(response)
      response.end('data: a\n\ndata: b\n\n')
    })
    const events: string[] = []
    for await (const event of fetchEventStream(server.url, { stallTimeout: 100, reconnect: false })) {
      events.push(event.data)
      await new Promise((resolve) => setTimeout(resolve, 250))
    }
    expect(events).toEqual(['a', 'b'])
    expect(server.requests).toHaveLength(1)
  })

  it('decodes a gzip-compressed stream', async () => {
    const server = await scriptedServer((_request, response) => {
      sse(response, { 'content-encoding': 'gzip' })
      response.end(gzipSync('data: compressed\n\n'))
    })
    const events = await collect(fetchEventStream(server.url, { reconnect: false }))
    expect(events.map((event) => event.data)).toEqual(['compressed'])
  })
})
