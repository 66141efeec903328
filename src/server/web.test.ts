import { describe, expect, it } from 'vitest'
import { encodeEvent } from '../protocol/encoder.js'
import { eventStreamResponse } from './web.js'

async function readText(response: Response): Promise<string> {
  return new TextDecoder().decode(await response.arrayBuffer())
}

describe('eventStreamResponse', () => {
  it('answers 200 with the SSE headers, the opening comment, the events and the end', async () => {
    const stream = eventStreamResponse({ retry: 2000, heartbeat: 0 })
    expect(stream.response.status).toBe(200)
    expect(stream.response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
    expect(stream.response.headers.get('cache-control')).toBe('no-cache, no-transform')
    expect(stream.response.headers.has('connection')).toBe(false)
    expect(await stream.send({ id: '1', data: 'a' })).toBe(true)
    stream.close()
    expect(await stream.closed).toBe('server')
    expect(await readText(stream.response)).toBe(': ok\nretry: 2000\nid: 1\ndata: a\n\n')
    expect(await stream.send({ data: 'late' })).toBe(false)
  })

  it('tells close listeners the reason once, and at once when added after the close', async () => {
    const stream = eventStreamResponse({ heartbeat: 0 })
    const heard: string[] = []
    stream.onClose((reason) => heard.push(`first ${reason}`))
    stream.onClose((reason) => heard.push(`second ${reason}`))
    expect(heard).toEqual([])
    stream.close()
    stream.close()
    expect(heard).toEqual(['first server', 'second server'])
    stream.onClose((reason) => heard.push(`late ${reason}`))
    expect(heard).toEqual(['first server', 'second server', 'late server'])
    expect(await stream.closed).toBe('server')
  })

  it('reads Last-Event-ID and Origin from the request', () => {
    const request = new Request('http://x/events', {
      headers: { 'last-event-id': '41', origin: 'https://a.example' },
    })
    const stream = eventStreamResponse({ request, heartbeat: 0, cors: { origin: ['https://a.example'] } })
    expect(stream.lastEventId).toBe('41')
    expect(stream.response.headers.get('access-control-allow-origin')).toBe('https://a.example')
    stream.close()
  })

  it('closes as "client" when the request is aborted or the body cancelled', async () => {
    const abort = new AbortController()
    const aborted = eventStreamResponse({
      request: new Request('http://x', { signal: abort.signal }),
      heartbeat: 0,
    })
    abort.abort()
    expect(await aborted.closed).toBe('client')
    expect(aborted.signal.aborted).toBe(true)

    const cancelled = eventStreamResponse({ heartbeat: 0 })
    await cancelled.response.body?.cancel()
    expect(await cancelled.closed).toBe('client')
  })

  it('makes writers wait past 16 KiB queued, and closes on overflow when they do not wait', async () => {
    const stream = eventStreamResponse({ heartbeat: 0, maxBufferedBytes: 64 * 1024 })
    const data = 'x'.repeat(1000)
    let accepted = 0
    while (
      (await Promise.race([
        stream.send({ data }),
        new Promise((resolve) => setTimeout(resolve, 20, 'waiting')),
      ])) === true
    ) {
      accepted++
    }
    expect(accepted).toBe(16)
    expect(stream.isClosed).toBe(false)
    const reader = stream.response.body?.getReader()
    for (let index = 0; index < 10; index++) await reader?.read()
    expect(await stream.send({ data })).toBe(true)
    for (let index = 0; index < 60; index++) stream.offer(encodeEvent({ data }))
    expect(await stream.closed).toBe('overflow')
  })
})
