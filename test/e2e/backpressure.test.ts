import { connect, type Socket } from 'node:net'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { encodeEvent } from '../../src/protocol/encoder.js'
import { type CloseReason, createEventStream, type EventStream } from '../../src/server/index.js'
import { startServer } from '../helpers/servers.js'

const BOUND = 64 * 1024
const EVENT = { data: 'x'.repeat(1000) }

/** A client that sends its request and then never reads a byte. */
function stalledClient(url: string): Socket {
  const { port } = new URL(url)
  const socket = connect(Number(port), '127.0.0.1')
  socket.write('GET /stream HTTP/1.1\r\nHost: test\r\nAccept: text/event-stream\r\n\r\n')
  socket.pause()
  return socket
}

describe('a client that stops reading', () => {
  it('never holds more than the buffer bound, and is cut off when a producer will not wait', async () => {
    let maxBuffered = 0
    let sent = 0
    let closedReason: CloseReason | undefined
    const server = await startServer(async (request, response) => {
      const stream = createEventStream(request, response, { maxBufferedBytes: BOUND, heartbeat: 0 })
      stream.onClose((reason) => {
        closedReason = reason
      })
      // Fire and forget, as a fan-out does: nothing here waits for the client.
      while (!stream.isClosed && sent < 200_000) {
        stream.offer(encodeEvent(EVENT))
        sent++
        maxBuffered = Math.max(maxBuffered, response.writableLength)
        if (sent % 64 === 0) await yieldToLoop()
      }
    })
    const client = stalledClient(server.url)
    try {
      await expect.poll(() => closedReason, { timeout: 20_000 }).toBe('overflow')
      expect(maxBuffered).toBeLessThanOrEqual(BOUND)
      expect(sent).toBeLessThan(200_000)
    } finally {
      client.destroy()
      await server.close()
    }
  })

  it('lets a slow client that reads again drain its buffer, then tells it when to come back', async () => {
    let closedReason: CloseReason | undefined
    const server = await startServer(async (request, response) => {
      const stream = createEventStream(request, response, { maxBufferedBytes: BOUND, heartbeat: 0 })
      stream.onClose((reason) => {
        closedReason = reason
      })
      for (let sent = 0; !stream.isClosed && sent < 200_000; sent++) {
        stream.offer(encodeEvent(EVENT))
        if (sent % 64 === 0) await yieldToLoop()
      }
    })
    const client = stalledClient(server.url)
    try {
      await expect.poll(() => closedReason, { timeout: 20_000 }).toBe('overflow')
      let tail = ''
      client.setEncoding('latin1').on('data', (text: string) => {
        tail = (tail + text).slice(-200)
      })
      client.resume()
      // The chunked response ends after the hint; the connection itself may stay open (keep-alive).
      await expect.poll(() => tail, { timeout: 4000 }).toMatch(/retry: 1000\n\r\n0\r\n\r\n$/)
    } finally {
      client.destroy()
      await server.close()
    }
  })

  it('makes an awaiting producer wait instead of buffering', async () => {
    let maxBuffered = 0
    let stream: EventStream | undefined
    let sent = 0
    const server = await startServer(async (request, response) => {
      stream = createEventStream(request, response, { maxBufferedBytes: BOUND, heartbeat: 0 })
      while (sent < 100_000 && (await stream.send(EVENT))) {
        sent++
        maxBuffered = Math.max(maxBuffered, response.writableLength)
      }
    })
    const client = stalledClient(server.url)
    try {
      // The kernel's socket buffers fill first; then send() stops resolving.
      let previous = -1
      await expect
        .poll(
          async () => {
            const stalled = sent === previous
            previous = sent
            return stalled && sent > 0
          },
          { timeout: 20_000, interval: 500 },
        )
        .toBe(true)
      expect(stream?.isClosed).toBe(false)
      expect(maxBuffered).toBeLessThanOrEqual(BOUND)
      client.resume()
      await expect.poll(() => sent, { timeout: 20_000 }).toBeGreaterThan(previous)
    } finally {
      client.destroy()
      await server.close()
    }
  })
})
