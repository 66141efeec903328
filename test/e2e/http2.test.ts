import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import http2 from 'node:http2'
import https from 'node:https'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import tls from 'node:tls'
import selfsigned from 'selfsigned'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createParser } from '../../src/protocol/parser.js'
import type { ServerSentEvent } from '../../src/protocol/types.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'

let gateway: GatewayProcess
let certificate: string
let directory: string

beforeAll(async () => {
  const pems = await selfsigned.generate([{ name: 'commonName', value: '127.0.0.1' }], {
    notAfterDate: new Date(Date.now() + 86_400_000),
    keyType: 'ec',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
  })
  certificate = pems.cert
  directory = mkdtempSync(join(tmpdir(), 'streamgate-tls-'))
  writeFileSync(join(directory, 'cert.pem'), pems.cert)
  writeFileSync(join(directory, 'key.pem'), pems.private)
  gateway = await startGateway([
    '--tls-cert',
    join(directory, 'cert.pem'),
    '--tls-key',
    join(directory, 'key.pem'),
  ])
})

afterAll(async () => {
  await gateway?.stop()
  rmSync(directory, { recursive: true, force: true })
})

/** Opens one HTTP/2 stream on the session and collects its events until the server ends it. */
function streamOverSession(
  session: http2.ClientHttp2Session,
  path: string,
): Promise<{ headers: http2.IncomingHttpHeaders; events: ServerSentEvent[] }> {
  return new Promise((resolve, reject) => {
    const events: ServerSentEvent[] = []
    const parser = createParser({ onEvent: (event) => events.push(event) })
    const request = session.request({ ':path': path })
    let headers: http2.IncomingHttpHeaders = {}
    request.on('response', (received) => {
      headers = received
    })
    request.on('data', (chunk: Buffer) => parser.feed(chunk))
    request.on('end', () => resolve({ headers, events }))
    request.on('error', reject)
  })
}

describe('HTTP/2 with TLS', () => {
  it('holds 20 concurrent streams on one session', async () => {
    expect(gateway.url.startsWith('https://')).toBe(true)
    const session = http2.connect(gateway.url, { ca: certificate })
    try {
      const results = await Promise.all(
        Array.from({ length: 20 }, () => streamOverSession(session, '/stream?interval=100&count=3')),
      )
      for (const { headers, events } of results) {
        expect(headers[':status']).toBe(200)
        expect(headers['content-type']).toBe('text/event-stream; charset=utf-8')
        expect(headers.connection).toBeUndefined()
        expect(events.map((event) => event.id)).toEqual(['0', '1', '2', '3', '4'])
      }
      const opened = gateway.logs.filter((entry) => entry.msg === 'stream open')
      expect(opened.length).toBeGreaterThanOrEqual(20)
    } finally {
      session.close()
    }
  })

  it('still serves HTTP/1.1 clients on the same port', async () => {
    const { status, contentType, body } = await new Promise<{
      status?: number
      contentType?: string
      body: string
    }>((resolve, reject) => {
      https
        .get(`${gateway.url}/stream?interval=1&count=1`, { ca: certificate }, (response) => {
          let body = ''
          response.setEncoding('utf8').on('data', (text: string) => {
            body += text
          })
          response.on('end', () =>
            resolve({ status: response.statusCode, contentType: response.headers['content-type'], body }),
          )
        })
        .on('error', reject)
    })
    expect(status).toBe(200)
    expect(contentType).toBe('text/event-stream; charset=utf-8')
    expect(body).toContain('event: end')
  })
})

describe('slow and idle clients over TLS (--header-timeout 1)', () => {
  let strict: GatewayProcess
  beforeAll(async () => {
    strict = await startGateway([
      '--tls-cert',
      join(directory, 'cert.pem'),
      '--tls-key',
      join(directory, 'key.pem'),
      '--header-timeout',
      '1',
    ])
  })
  afterAll(async () => {
    await strict?.stop()
  })

  const port = () => Number(new URL(strict.url).port)
  /** Seconds until the socket closes; gives up (Infinity) after 10 s. */
  const secondsUntilClosed = (socket: net.Socket, started: number) =>
    new Promise<number>((resolve) => {
      const timer = setTimeout(() => resolve(Number.POSITIVE_INFINITY), 10_000)
      socket.on('error', () => {})
      // Read what comes (a 408), or the end never comes.
      socket.resume()
      socket.once('close', () => {
        clearTimeout(timer)
        resolve((performance.now() - started) / 1000)
      })
    })

  it('closes an HTTP/1.1 connection whose headers never end (it stayed open 60 s)', async () => {
    const started = performance.now()
    const socket = tls.connect({
      port: port(),
      host: '127.0.0.1',
      ca: certificate,
      ALPNProtocols: ['http/1.1'],
    })
    await new Promise((resolve) => socket.once('secureConnect', resolve))
    expect(socket.alpnProtocol).toBe('http/1.1')
    socket.write('GET /stream HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n')
    const seconds = await secondsUntilClosed(socket, started)
    // One second to send them, checked every second.
    expect(seconds).toBeGreaterThan(0.9)
    expect(seconds).toBeLessThan(4)
    socket.destroy()
  })

  it('closes a connection that never starts its TLS handshake', async () => {
    const started = performance.now()
    const socket = net.connect(port(), '127.0.0.1')
    const seconds = await secondsUntilClosed(socket, started)
    expect(seconds).toBeLessThan(4)
  })

  it('closes an HTTP/2 session that opens no stream, and keeps one whose SSE stream is open', async () => {
    const started = performance.now()
    const idle = http2.connect(strict.url, { ca: certificate })
    idle.on('error', () => {})
    const idleClosed = new Promise<number>((resolve) =>
      idle.once('close', () => resolve((performance.now() - started) / 1000)),
    )
    const busy = http2.connect(strict.url, { ca: certificate })
    try {
      // A stream of 30 events 100 ms apart: 3 s, past the idle time, on a session never idle.
      const { events } = await streamOverSession(busy, '/stream?interval=100&count=30')
      // start, 30 messages, end: it ran to its end on a session kept open.
      expect(events.map((event) => event.id)).toEqual(Array.from({ length: 32 }, (_, index) => String(index)))
      expect(busy.closed).toBe(false)
      const seconds = await idleClosed
      expect(seconds).toBeGreaterThan(0.9)
      expect(seconds).toBeLessThan(4)
    } finally {
      busy.close()
      idle.close()
    }
  })
})
