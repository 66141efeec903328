import { EventEmitter } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { describe, expect, it } from 'vitest'
import { secretKey } from './authorization.js'
import { Hub } from './hub.js'
import { asHeaderValue, createMercureHandler } from './mercure-http.js'
import { MemoryStore } from './store/memory.js'

const key = secretKey('test-secret-of-thirty-two-bytes!')

/** A response whose writeHead throws, as Node's does for a header value it refuses. */
function refusingResponse() {
  const response = Object.assign(new EventEmitter(), {
    headersSent: false,
    destroyed: false,
    writableFinished: false,
    statusMessage: '',
    writeHead() {
      throw new TypeError('Invalid character in header content')
    },
    end() {},
  })
  return response
}

describe('a subscription that fails after it was registered', () => {
  it('is unregistered, so that it keeps no later update', async () => {
    const hub = new Hub(new MemoryStore())
    const handler = createMercureHandler(hub, {
      publisherKey: key,
      subscriberKey: key,
      anonymous: true,
      maxBody: 1024,
      streamOptions: { heartbeat: 0 },
    })
    const request = {
      method: 'GET',
      headers: {},
      httpVersionMajor: 1,
      socket: { setNoDelay() {}, destroyed: false },
    } as unknown as IncomingMessage
    const response = refusingResponse()
    // The error goes on to the application, which answers 500 (app.ts).
    await expect(
      handler(
        request,
        response as unknown as ServerResponse,
        new URL('http://hub/.well-known/mercure?match=t'),
      ),
    ).rejects.toThrow(/Invalid character/)
    expect(hub.subscribers.size).toBe(0)
    await hub.close()
  })
})

describe('asHeaderValue', () => {
  it('keeps visible ASCII and percent-encodes everything else as UTF-8, lone surrogates included', () => {
    expect(asHeaderValue('urn:uuid:1234-abcd')).toBe('urn:uuid:1234-abcd')
    expect(asHeaderValue('https://ex.com/日本/1')).toBe('https://ex.com/%E6%97%A5%E6%9C%AC/1')
    expect(asHeaderValue('a b\u00e9🦊')).toBe('a%20b%C3%A9%F0%9F%A6%8A')
    expect(asHeaderValue('x\ud800')).toBe('x%EF%BF%BD')
  })
})
