import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { rawExchange, rawGet } from '../../test/helpers/raw-http.js'
import { verifyDirectWrites } from './direct-writes.js'
import { EncodedEvent } from './encoded-event.js'
import { createEventStream } from './node.js'
import { NodeSink } from './node-sink.js'

type Handler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>

let server: Server | undefined
/** What the handlers threw: each test ends with none. */
let handlerErrors: unknown[] = []
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  server = undefined
  const errors = handlerErrors
  handlerErrors = []
  expect(errors).toEqual([])
})

async function serve(handler: Handler): Promise<string> {
  server = createServer((request, response) => {
    Promise.resolve(handler(request, response)).catch((error: unknown) => {
      handlerErrors.push(error)
      response.destroy()
    })
  })
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

const shared = new EncodedEvent(Buffer.from('data: one encoding for every stream\n\n'))

describe.each([
  { path: 'straight to the socket', direct: true },
  { path: 'through ServerResponse', direct: false },
])('NodeSink, frames $path', ({ direct }) => {
  it('keeps the headers first and every write in order: in the headers’ turn, later turns, shared frames', async () => {
    let wentDirect: boolean | undefined
    const url = await serve(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream', connection: 'close' })
      const sink = new NodeSink(response, direct, 128 * 1024)
      sink.write(': ok\n\n')
      sink.write('data: é in the turn of the headers\n\n')
      sink.write(shared)
      await nextTurn()
      sink.write(Buffer.from('data: a turn later\n\n'))
      sink.write(shared)
      await new Promise((resolve) => setTimeout(resolve, 20))
      sink.write('data: 20 ms later\n\n')
      wentDirect = sink.writesDirect
      sink.end()
    })
    const [response, ...more] = await rawExchange(url, rawGet('/'))
    expect(more).toEqual([])
    expect(response?.status).toBe(200)
    expect(response?.body).toBe(
      ': ok\n\ndata: é in the turn of the headers\n\ndata: one encoding for every stream\n\n' +
        'data: a turn later\n\ndata: one encoding for every stream\n\ndata: 20 ms later\n\n',
    )
    expect(wentDirect).toBe(direct)
  })

  it('answers pipelined requests in order when the stream waits behind another response', async () => {
    let wentDirect: boolean | undefined
    const url = await serve(async (request, response) => {
      if (request.url === '/first') {
        await new Promise((resolve) => setTimeout(resolve, 50))
        response.end('first')
        return
      }
      response.writeHead(200, { 'content-type': 'text/event-stream', connection: 'close' })
      const sink = new NodeSink(response, direct, 128 * 1024)
      sink.write(': ok\n\n')
      for (let index = 0; index < 5; index++) {
        sink.write(`data: ${index}\n\n`)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      wentDirect = sink.writesDirect
      sink.end()
    })
    const responses = await rawExchange(url, rawGet('/first') + rawGet('/stream'))
    expect(responses.map(({ body }) => body)).toEqual([
      'first',
      ': ok\n\ndata: 0\n\ndata: 1\n\ndata: 2\n\ndata: 3\n\ndata: 4\n\n',
    ])
    expect(wentDirect).toBe(direct)
  })

  it('gives a slow reader everything in order, and one wait for drain however many writers wait', async () => {
    // Loopback's kernel buffers take about 4 MB before anything waits in the process.
    const event = `data: ${'x'.repeat(8000)}\n\n`
    let maxListeners = 0
    let waited = 0
    const url = await serve(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream', connection: 'close' })
      const sink = new NodeSink(response, direct, 128 * 1024)
      sink.write(': ok\n\n')
      await nextTurn()
      const waits: Promise<void>[] = []
      for (let index = 0; index < 1000; index++) {
        const small = sink.write(`data: ${index}\n\n`)
        const large = sink.write(event)
        if (!small || !large) waits.push(sink.drained())
        const socket = response.socket
        maxListeners = Math.max(
          maxListeners,
          response.listenerCount('close'),
          response.listenerCount('drain'),
          socket?.listenerCount('drain') ?? 0,
        )
      }
      waited = waits.length
      await Promise.all(waits)
      sink.end()
    })
    const [response] = await rawExchange(url, rawGet('/'), { pauseMs: 200 })
    const expected = [': ok\n\n']
    for (let index = 0; index < 1000; index++) expected.push(`data: ${index}\n\n`, event)
    expect(response?.body).toBe(expected.join(''))
    expect(waited).toBeGreaterThan(10)
    // Node's own listeners plus the one shared wait.
    expect(maxListeners).toBeLessThanOrEqual(3)
  })

  it('writes an HTTP/1.0 client’s body unframed, delimited by the end of the connection', async () => {
    let wentDirect: boolean | undefined
    const url = await serve(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      const sink = new NodeSink(response, direct, 128 * 1024)
      sink.write(': ok\n\n')
      await nextTurn()
      sink.write(shared)
      wentDirect = sink.writesDirect
      sink.end()
    })
    const [response, ...more] = await rawExchange(url, rawGet('/', {}, '1.0'))
    expect(response?.head).not.toMatch(/transfer-encoding/i)
    expect(response?.body).toBe(': ok\n\ndata: one encoding for every stream\n\n')
    expect(more).toEqual([])
    expect(wentDirect).toBe(false)
  })
})

describe('createEventStream on this runtime', () => {
  it('verifies that frames may go straight to the socket (the fast path is in use)', async () => {
    expect(await verifyDirectWrites()).toBe(true)
  })

  it('sends a well-formed stream that Node’s own HTTP parser reads, with concurrent sends to a slow client', async () => {
    await verifyDirectWrites()
    const warnings: Error[] = []
    const onWarning = (warning: Error) => warnings.push(warning)
    process.on('warning', onWarning)
    const url = await serve(async (request, response) => {
      const stream = createEventStream(request, response, { heartbeat: 0, maxBufferedBytes: 8 << 20 })
      await nextTurn()
      const sends = []
      for (let index = 0; index < 300; index++)
        sends.push(stream.send({ id: String(index), data: `${index} ${'y'.repeat(8000)}` }))
      await Promise.all(sends)
      stream.close()
    })
    const body = await new Promise<string>((resolve, reject) => {
      get(url, (response) => {
        let text = ''
        response.pause()
        setTimeout(() => response.resume(), 200)
        response.setEncoding('utf8').on('data', (chunk: string) => {
          text += chunk
        })
        response.on('end', () => resolve(text))
      }).on('error', reject)
    })
    process.off('warning', onWarning)
    const ids = [...body.matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]))
    expect(ids).toEqual(Array.from({ length: 300 }, (_, index) => index))
    expect(warnings).toEqual([])
  })
})
