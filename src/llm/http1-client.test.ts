import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import net, { type AddressInfo } from 'node:net'
import type { Readable } from 'node:stream'
import { afterEach, describe, expect, it } from 'vitest'
import { Http1Client } from './http1-client.js'

const closers: (() => void)[] = []
afterEach(() => {
  for (const close of closers.splice(0)) close()
})

async function listen(server: Server | net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  closers.push(() => {
    ;(server as Server).closeAllConnections?.()
    server.close()
  })
  return (server.address() as AddressInfo).port
}

/** An http server; counts the connections it accepted and those that closed. */
async function httpServer(listener: RequestListener) {
  const server = createHttpServer(listener)
  const seen = { connections: 0, closed: 0 }
  server.on('connection', (socket) => {
    seen.connections++
    socket.on('close', () => seen.closed++)
  })
  const port = await listen(server)
  const client = new Http1Client(`http://127.0.0.1:${port}`)
  closers.push(() => client.close())
  return { server, client, seen }
}

/** A server that answers every connection with these raw bytes. */
async function rawServer(answer: (socket: net.Socket) => void) {
  const server = net.createServer((socket) => {
    socket.once('data', () => answer(socket))
    socket.on('error', () => {})
  })
  const port = await listen(server)
  const client = new Http1Client(`http://127.0.0.1:${port}`)
  closers.push(() => client.close())
  return client
}

async function text(body: Readable): Promise<string> {
  const parts: Buffer[] = []
  for await (const part of body) parts.push(part as Buffer)
  return Buffer.concat(parts).toString()
}

const get = { method: 'GET' as const, path: '/', headers: {} }

describe('Http1Client', () => {
  it('sends the request as given and reads a chunked answer', async () => {
    let seen: { method?: string; url?: string; headers?: Record<string, unknown>; body?: string } = {}
    const { client } = await httpServer(async (request, response) => {
      const parts: Buffer[] = []
      for await (const part of request) parts.push(part as Buffer)
      seen = {
        method: request.method,
        url: request.url,
        headers: request.headers,
        body: Buffer.concat(parts).toString(),
      }
      response.writeHead(201, {
        'content-type': 'text/event-stream',
        'set-cookie': ['a=1', 'b=2'],
        'x-two': ['1', '2'],
      })
      for (let index = 0; index < 50; index++) response.write(`data: ${index}\n\n`)
      response.end()
    })
    const response = await client.request({
      method: 'POST',
      path: '/v1/chat/completions?x=1',
      headers: { 'content-type': 'application/json', authorization: 'Bearer k' },
      body: Buffer.from('{"a":1}'),
    })
    expect(response.status).toBe(201)
    expect(response.headers['content-type']).toBe('text/event-stream')
    expect(response.headers['set-cookie']).toEqual(['a=1', 'b=2'])
    expect(response.headers['x-two']).toBe('1, 2')
    expect(await text(response.body)).toBe(
      Array.from({ length: 50 }, (_, index) => `data: ${index}\n\n`).join(''),
    )
    expect(seen).toMatchObject({
      method: 'POST',
      url: '/v1/chat/completions?x=1',
      body: '{"a":1}',
      headers: {
        'content-length': '7',
        authorization: 'Bearer k',
        host: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
      },
    })
    // A body in parts goes out whole, with their total length.
    const parts = [Buffer.from('{"a"'), Buffer.from(':'), Buffer.from('22}')]
    await text((await client.request({ method: 'POST', path: '/', headers: {}, body: parts })).body)
    expect(seen).toMatchObject({ body: '{"a":22}', headers: { 'content-length': '8' } })
  })

  it('hands over one buffer per socket read, not one per chunk', async () => {
    const { client } = await httpServer((_, response) => {
      response.writeHead(200)
      // 2,000 chunks in one socket write: far fewer reads than chunks.
      response.socket?.cork()
      for (let index = 0; index < 2000; index++) response.write('x')
      response.end()
      response.socket?.uncork()
    })
    const response = await client.request(get)
    let events = 0
    let size = 0
    for await (const part of response.body) {
      events++
      size += (part as Buffer).length
    }
    expect(size).toBe(2000)
    expect(events).toBeLessThan(20)
  })

  it('reads into one reused buffer: a body read late, a head in pieces and two answers at once stay whole', async () => {
    // 300 chunks of 4 KiB, each of its own byte, written in bursts: many reads into the same buffer.
    const part = (index: number) => Buffer.alloc(4096, 0x41 + (index % 50))
    const expected = Buffer.concat(Array.from({ length: 300 }, (_, index) => part(index))).toString()
    const { client } = await httpServer(async (_, response) => {
      response.writeHead(200, { 'content-type': 'text/plain' })
      for (let index = 0; index < 300; index++) {
        response.write(part(index))
        if (index % 30 === 0) await new Promise((resolve) => setTimeout(resolve, 5))
      }
      response.end()
    })
    const [late, early] = await Promise.all([client.request(get), client.request(get)])
    // One read as its bytes arrive, the other only once the whole answer has come: its stream
    // holds dozens of reads, each of which the buffer has held since.
    const [earlyText, lateText] = await Promise.all([
      text(early.body),
      new Promise((resolve) => setTimeout(resolve, 300)).then(() => text(late.body)),
    ])
    expect(earlyText === expected).toBe(true)
    expect(lateText === expected).toBe(true)

    const pieces = ['HTTP/1.1 200 OK\r\nx-first: one', '\r\nx-second: two\r', '\n\r\nbody']
    const slow = await rawServer(async (socket) => {
      for (const piece of pieces) {
        socket.write(piece)
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
      socket.end()
    })
    const response = await slow.request(get)
    expect(response.headers).toMatchObject({ 'x-first': 'one', 'x-second': 'two' })
    expect(await text(response.body)).toBe('body')
  })

  it('hands a taker each read, the bytes that came with the head first, then the end or the failure', async () => {
    const client = await rawServer(async (socket) => {
      socket.write('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n')
      await new Promise((resolve) => setTimeout(resolve, 20))
      socket.write('7\r\n second\r\n')
      await new Promise((resolve) => setTimeout(resolve, 20))
      socket.end('0\r\n\r\n')
    })
    const taken = (response: Awaited<ReturnType<Http1Client['request']>>) =>
      new Promise<{ parts: string[]; error?: Error }>((resolve) => {
        const parts: string[] = []
        response.take({
          bytes: (data) => parts.push(data.toString()),
          end: () => resolve({ parts }),
          error: (error) => resolve({ parts, error }),
        })
      })
    expect(await taken(await client.request(get))).toEqual({ parts: ['first', ' second'] })

    const cut = await rawServer((socket) =>
      socket.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nfirst\r\n'),
    )
    const failed = await taken(await cut.request(get))
    expect(failed.parts).toEqual(['first'])
    expect(failed.error?.message).toMatch(/before the end of its answer/)
  })

  it('reads content-length answers, empty ones and those ended by closing the connection', async () => {
    const { client } = await httpServer((request, response) => {
      if (request.url === '/empty') response.writeHead(204).end()
      else response.writeHead(200, { 'content-length': '5' }).end('hello')
    })
    expect(await text((await client.request(get)).body)).toBe('hello')
    const empty = await client.request({ ...get, path: '/empty' })
    expect(empty.status).toBe(204)
    expect(await text(empty.body)).toBe('')
    const closing = await rawServer((socket) =>
      socket.end('HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end'),
    )
    expect(await text((await closing.request(get)).body)).toBe('until the end')
  })

  it('skips informational answers (103 Early Hints) before the real one', async () => {
    const client = await rawServer((socket) =>
      socket.end(
        'HTTP/1.1 103 Early Hints\r\nlink: </a>\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok',
      ),
    )
    const response = await client.request(get)
    expect(response.status).toBe(200)
    expect(await text(response.body)).toBe('ok')
  })

  it('keeps connections alive and uses them again', async () => {
    const { client, seen } = await httpServer((_, response) => response.end('ok'))
    for (let index = 0; index < 5; index++) expect(await text((await client.request(get)).body)).toBe('ok')
    const both = await Promise.all([client.request(get), client.request(get)])
    await Promise.all(both.map((response) => text(response.body)))
    expect(seen.connections).toBe(2)
  })

  it('drops a kept connection the server closed, and sends again when it closes as we send', async () => {
    const { client, seen } = await httpServer((request, response) => {
      response.end('ok')
      // A server's idle timeout, after the answer.
      if (request.url === '/then-close')
        response.on('finish', () => setTimeout(() => request.socket.destroy(), 20))
    })
    expect(await text((await client.request({ ...get, path: '/then-close' })).body)).toBe('ok')
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(await text((await client.request(get)).body)).toBe('ok')
    expect(seen.connections).toBe(2)

    // A server that closes a kept connection when the next request arrives on it.
    let connections = 0
    const racing = net.createServer((socket) => {
      connections++
      let requests = 0
      socket.on('error', () => {})
      socket.on('data', () => {
        if (++requests === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok')
        else socket.destroy()
      })
    })
    const port = await listen(racing)
    const racingClient = new Http1Client(`http://127.0.0.1:${port}`)
    closers.push(() => racingClient.close())
    expect(await text((await racingClient.request(get)).body)).toBe('ok')
    expect(await text((await racingClient.request(get)).body)).toBe('ok')
    expect(connections).toBe(2)
  })

  it('closes the connection when the request is aborted, before or during the answer', async () => {
    const { client, seen } = await httpServer((request, response) => {
      if (request.url === '/slow') return
      response.writeHead(200)
      response.write('first')
    })
    const before = new AbortController()
    const pending = client.request({ ...get, path: '/slow', signal: before.signal })
    await new Promise((resolve) => setTimeout(resolve, 50))
    before.abort()
    await expect(pending).rejects.toThrow(/abort/i)

    const during = new AbortController()
    const response = await client.request({ ...get, signal: during.signal })
    const failed = new Promise((resolve) => response.body.once('error', resolve))
    response.body.resume()
    during.abort()
    expect(String(await failed)).toMatch(/abort/i)
    await expect.poll(() => seen.closed).toBe(2)
  })

  it('a body destroyed by its reader closes the connection', async () => {
    const { client, seen } = await httpServer((_, response) => {
      response.writeHead(200)
      response.write('first')
    })
    const response = await client.request(get)
    response.body.destroy()
    await expect.poll(() => seen.closed).toBe(1)
  })

  it('fails the body when the connection ends in the middle of the answer', async () => {
    const client = await rawServer((socket) =>
      socket.end('HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n'),
    )
    const response = await client.request(get)
    await expect(text(response.body)).rejects.toThrow(/before the end of its answer/)
  })

  it.each([
    ['not HTTP', 'SSH-2.0-OpenSSH\r\n\r\n', /did not answer in HTTP\/1.1/],
    ['a header without a name', 'HTTP/1.1 200 OK\r\n: x\r\n\r\n', /no name/],
    ['a bad content-length', 'HTTP/1.1 200 OK\r\ncontent-length: 1e3\r\n\r\n', /content-length/],
  ])('refuses an answer that is %s', async (_, answer, message) => {
    const client = await rawServer((socket) => socket.end(answer))
    await expect(client.request(get)).rejects.toThrow(message)
  })

  it('refuses a response head past its bound, and headers that would split the request', async () => {
    const client = await rawServer((socket) => socket.write(`HTTP/1.1 200 OK\r\nx: ${'a'.repeat(70_000)}`))
    await expect(client.request(get)).rejects.toThrow(/too large/)
    await expect(client.request({ ...get, headers: { 'x-a': 'b\r\nhost: evil' } })).rejects.toThrow(
      /line break/,
    )
  })

  it('gives up connecting after connectTimeout to an upstream that never answers the handshake', async () => {
    // A listener that never accepts: once its queue is full, the kernel drops further SYNs.
    const python = spawn('python3', [
      '-c',
      'import socket,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(30)',
    ])
    closers.push(() => python.kill('SIGKILL'))
    const port = Number(
      await new Promise<string>((resolve) => python.stdout.once('data', (line) => resolve(String(line)))),
    )
    const fillers = Array.from({ length: 4 }, () => net.connect(port, '127.0.0.1').on('error', () => {}))
    closers.push(() => {
      for (const filler of fillers) filler.destroy()
    })
    await new Promise((resolve) => setTimeout(resolve, 200))
    const client = new Http1Client(`http://127.0.0.1:${port}`, { connectTimeout: 300 })
    const started = Date.now()
    await expect(client.request(get)).rejects.toThrow(/no connection to 127\.0\.0\.1:\d+ within 300 ms/)
    expect(Date.now() - started).toBeLessThan(2000)
  })

  it('speaks https, checking the certificate against the given authority', async () => {
    const cert = readFileSync(new URL('../../test/fixtures/tls/localhost.crt', import.meta.url))
    const key = readFileSync(new URL('../../test/fixtures/tls/localhost.key', import.meta.url))
    const server = createHttpsServer({ cert, key }, (_, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.end('data: secure\n\n')
    })
    const port = await listen(server)
    const trusting = new Http1Client(`https://localhost:${port}`, { ca: cert })
    closers.push(() => trusting.close())
    expect(await text((await trusting.request(get)).body)).toBe('data: secure\n\n')
    const untrusting = new Http1Client(`https://localhost:${port}`)
    closers.push(() => untrusting.close())
    await expect(untrusting.request(get)).rejects.toThrow(/self-signed|certificate/)
  })
})
