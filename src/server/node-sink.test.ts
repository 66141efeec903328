import { createServer, get, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { type AddressInfo, connect } from 'node:net'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { afterEach, describe, expect, it } from 'vitest'
import { verifyDirectWrites } from './direct-writes.js'
import { EncodedEvent } from './encoded-event.js'
import { createEventStream } from './node.js'
import { NodeSink } from './node-sink.js'

type Handler = (request: IncomingMessage, response: ServerResponse) => void | Promise<void>

let server: Server | undefined
afterEach(async () => {
  server?.closeAllConnections()
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()))
  server = undefined
})

async function serve(handler: Handler): Promise<number> {
  server = createServer((request, response) => void handler(request, response))
  await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve))
  return (server.address() as AddressInfo).port
}

/** Sends raw request bytes and returns every byte the server sent until it closed the connection. */
function exchange(port: number, requestBytes: string, options: { pauseMs?: number } = {}): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(requestBytes))
    const received: Buffer[] = []
    if (options.pauseMs !== undefined) {
      socket.pause()
      setTimeout(() => socket.resume(), options.pauseMs)
    }
    socket.on('data', (chunk) => received.push(chunk))
    socket.on('end', () => resolve(Buffer.concat(received)))
    socket.on('error', reject)
  })
}

/** Splits raw bytes into HTTP/1.1 responses with chunked bodies, strictly; throws on anything else. */
function parseResponses(bytes: Buffer): { status: number; headers: string; body: string }[] {
  const text = bytes.toString('latin1')
  const responses: { status: number; headers: string; body: string }[] = []
  let at = 0
  while (at < text.length) {
    const headEnd = text.indexOf('\r\n\r\n', at)
    const head = text.slice(at, headEnd)
    const status = /^HTTP\/1\.1 (\d{3}) /.exec(head)
    if (headEnd < 0 || status === null)
      throw new Error(`not a response at ${at}: ${JSON.stringify(text.slice(at, at + 40))}`)
    at = headEnd + 4
    let body = ''
    if (/\r\ntransfer-encoding: chunked/i.test(head)) {
      for (;;) {
        const lineEnd = text.indexOf('\r\n', at)
        const size = text.slice(at, lineEnd)
        if (!/^[0-9a-f]+$/.test(size)) throw new Error(`bad chunk size ${JSON.stringify(size)}`)
        const length = Number.parseInt(size, 16)
        at = lineEnd + 2
        if (length === 0) {
          if (text.slice(at, at + 2) !== '\r\n') throw new Error('no CRLF after the last chunk')
          at += 2
          break
        }
        body += text.slice(at, at + length)
        at += length
        if (text.slice(at, at + 2) !== '\r\n') throw new Error('no CRLF after a chunk')
        at += 2
      }
    } else {
      const length = Number(/\r\ncontent-length: (\d+)/i.exec(head)?.[1] ?? text.length - at)
      body = text.slice(at, at + length)
      at += length
    }
    responses.push({ status: Number(status[1]), headers: head, body: Buffer.from(body, 'latin1').toString() })
  }
  return responses
}

const GET = (path: string, version = '1.1') => `GET ${path} HTTP/${version}\r\nHost: test\r\n\r\n`
const shared = new EncodedEvent(Buffer.from('data: one encoding for every stream\n\n'))

describe.each([
  { path: 'straight to the socket', direct: true },
  { path: 'through ServerResponse', direct: false },
])('NodeSink, frames $path', ({ direct }) => {
  it('keeps the headers first and every write in order: in the headers’ turn, later turns, shared frames', async () => {
    let wentDirect: boolean | undefined
    const port = await serve(async (_request, response) => {
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
    const [response, ...more] = parseResponses(await exchange(port, GET('/')))
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
    const port = await serve(async (request, response) => {
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
    const responses = parseResponses(await exchange(port, GET('/first') + GET('/stream')))
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
    const port = await serve(async (_request, response) => {
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
    const [response] = parseResponses(await exchange(port, GET('/'), { pauseMs: 200 }))
    const expected = [': ok\n\n']
    for (let index = 0; index < 1000; index++) expected.push(`data: ${index}\n\n`, event)
    expect(response?.body).toBe(expected.join(''))
    expect(waited).toBeGreaterThan(10)
    // Node's own listeners plus the one shared wait.
    expect(maxListeners).toBeLessThanOrEqual(3)
  })

  it('writes an HTTP/1.0 client’s body unframed, delimited by the end of the connection', async () => {
    let wentDirect: boolean | undefined
    const port = await serve(async (_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      const sink = new NodeSink(response, direct, 128 * 1024)
      sink.write(': ok\n\n')
      await nextTurn()
      sink.write(shared)
      wentDirect = sink.writesDirect
      sink.end()
    })
    const bytes = (await exchange(port, GET('/', '1.0'))).toString()
    expect(bytes).toMatch(/^HTTP\/1\.1 200 OK\r\n/)
    expect(bytes.slice(bytes.indexOf('\r\n\r\n') + 4)).toBe(': ok\n\ndata: one encoding for every stream\n\n')
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
    const port = await serve(async (request, response) => {
      const stream = createEventStream(request, response, { heartbeat: 0, maxBufferedBytes: 8 << 20 })
      await nextTurn()
      const sends = []
      for (let index = 0; index < 300; index++)
        sends.push(stream.send({ id: String(index), data: `${index} ${'y'.repeat(8000)}` }))
      await Promise.all(sends)
      stream.close()
    })
    const body = await new Promise<string>((resolve, reject) => {
      get(`http://127.0.0.1:${port}/`, (response) => {
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
