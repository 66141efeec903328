import { EventSource } from 'eventsource'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { readEvents } from '../helpers/read-events.js'

let gateway: GatewayProcess

beforeAll(async () => {
  gateway = await startGateway(['--heartbeat', '1'])
})

afterAll(async () => {
  await gateway.stop()
})

interface Received {
  type: string
  data: string
  lastEventId: string
}

/** Collects events with the npm `eventsource` package (a peer client) until `end`. */
function receiveWithEventSource(
  url: string,
  init?: ConstructorParameters<typeof EventSource>[1],
): Promise<Received[]> {
  return new Promise((resolve, reject) => {
    const received: Received[] = []
    const source = new EventSource(url, init)
    const record = (event: MessageEvent) =>
      received.push({ type: event.type, data: event.data, lastEventId: event.lastEventId })
    source.addEventListener('start', record)
    source.addEventListener('message', record)
    source.addEventListener('end', (event) => {
      record(event)
      source.close()
      resolve(received)
    })
    source.onerror = (error) => {
      source.close()
      reject(new Error(`EventSource error: ${error.message}`))
    }
  })
}

const expectedSequence = (from = 0): Received[] =>
  [
    { type: 'start', data: 'start...', lastEventId: '0' },
    ...Array.from({ length: 10 }, (_, index) => ({
      type: 'message',
      data: 'SSE data',
      lastEventId: String(index + 1),
    })),
    { type: 'end', data: 'end...', lastEventId: '11' },
  ].slice(from)

describe('GET /stream', () => {
  it('delivers start, ten messages and end to the eventsource package, with increasing ids', async () => {
    const received = await receiveWithEventSource(`${gateway.url}/stream?interval=20`)
    expect(received).toEqual(expectedSequence())
  })

  it('answers with the SSE headers at once, before the first interval passes', async () => {
    const started = performance.now()
    const response = await fetch(`${gateway.url}/stream?interval=5000&count=1`)
    expect(performance.now() - started).toBeLessThan(2000)
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(response.headers.get('cache-control')).toBe('no-cache, no-transform')
    expect(response.headers.get('connection')).toBe('keep-alive')
    expect(response.headers.get('access-control-allow-origin')).toBe('*')
    expect(response.headers.get('x-accel-buffering')).toBe('no')
    expect(response.headers.get('content-encoding')).toBeNull()
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const first = new TextDecoder().decode((await reader.read()).value)
    expect(first.startsWith(': ok\n')).toBe(true)
    await reader.cancel()
  })

  it('sends heartbeat comments while the stream is silent', async () => {
    const response = await fetch(`${gateway.url}/stream?interval=3000&count=1`)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    let text = ''
    const started = performance.now()
    while (performance.now() - started < 2500) {
      const { value } = await reader.read()
      text += new TextDecoder().decode(value)
      if ((text.match(/^: ping$/gm) ?? []).length >= 2) break
    }
    await reader.cancel()
    expect((text.match(/^: ping$/gm) ?? []).length).toBeGreaterThanOrEqual(2)
  })

  it('serves POST the same way (the eventsource package with a POSTing fetch)', async () => {
    const received = await receiveWithEventSource(`${gateway.url}/stream?interval=10`, {
      fetch: (input, init) => fetch(input, { ...init, method: 'POST', body: '{}' }),
    })
    expect(received).toEqual(expectedSequence())
  })

  it('continues at the 5th event when a client reconnects with Last-Event-ID after the 4th', async () => {
    const first = await readEvents(await fetch(`${gateway.url}/stream?interval=20`), 5)
    expect(first.map((event) => event.id)).toEqual(['0', '1', '2', '3', '4'])
    const resumed = await readEvents(
      await fetch(`${gateway.url}/stream?interval=20`, {
        headers: { 'last-event-id': first[4]?.lastEventId ?? '' },
      }),
    )
    expect(resumed.map((event) => event.id)).toEqual(['5', '6', '7', '8', '9', '10', '11'])
    expect(resumed.at(-1)?.event).toBe('end')
  })

  it('answers 204 to a reconnection at or after the end, so an EventSource stops', async () => {
    for (const id of ['11', '12']) {
      const response = await fetch(`${gateway.url}/stream`, { headers: { 'last-event-id': id } })
      expect(response.status).toBe(204)
    }
  })

  it('refuses a bad interval or count with 400 and a reason', async () => {
    const response = await fetch(`${gateway.url}/stream?interval=-5`)
    expect(response.status).toBe(400)
    const body = (await response.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('SG_ERR_BAD_QUERY')
    expect(body.error.message).toContain('interval')
  })

  it('logs one line when a stream opens and one when it closes', async () => {
    const opened = gateway.logs.filter((entry) => entry.msg === 'stream open').length
    const closed = gateway.logs.filter((entry) => entry.msg === 'stream closed').length
    expect(opened).toBeGreaterThanOrEqual(5)
    await expect
      .poll(() => gateway.logs.filter((entry) => entry.msg === 'stream closed').length)
      .toBeGreaterThanOrEqual(opened)
    expect(closed).toBeLessThanOrEqual(opened)
  })
})

describe('GET /healthz', () => {
  it('reports ok', async () => {
    const response = await fetch(`${gateway.url}/healthz`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ status: 'ok', openStreams: expect.any(Number) })
  })

  it('answers 404 with a JSON reason for unknown paths', async () => {
    const response = await fetch(`${gateway.url}/nothing-here`)
    expect(response.status).toBe(404)
    expect(await response.json()).toEqual({
      error: { code: 'SG_ERR_NOT_FOUND', message: 'no route for /nothing-here' },
    })
  })
})
