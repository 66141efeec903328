import { describe, expect, it } from 'vitest'
import {
  badAnswer,
  forwardedHeaders,
  isRelayableError,
  isSuccess,
  relayedHeaders,
  unreadableBody,
} from './upstream-answer.js'

describe('what crosses the proxy', () => {
  it('forwards to the upstream only the headers that describe the request, never the client’s key', () => {
    expect(
      forwardedHeaders({
        'content-type': 'application/json',
        accept: 'text/event-stream',
        authorization: 'Bearer client-key',
        'x-api-key': 'client-key',
        cookie: 'session=1',
        'anthropic-version': '2023-06-01',
        'openai-beta': 'assistants=v2',
      }),
    ).toEqual({
      'content-type': 'application/json',
      accept: 'text/event-stream',
      'anthropic-version': '2023-06-01',
      'openai-beta': 'assistants=v2',
    })
  })

  it('relays only the upstream headers a client may see, and only values Node would send', () => {
    expect(
      relayedHeaders({
        'content-type': 'text/event-stream',
        'x-request-id': 'req_1',
        'openai-processing-ms': '12',
        'x-ratelimit-remaining-requests': '99',
        'set-cookie': ['a=1'],
        connection: 'close',
        'openai-organization': 'ümlaut is latin-1',
        'openai-model': 'bad\u0000value',
        'anthropic-ratelimit': '日本',
        'retry-after': 'x'.repeat(8193),
      }),
    ).toEqual({
      'content-type': 'text/event-stream',
      'x-request-id': 'req_1',
      'openai-processing-ms': '12',
      'x-ratelimit-remaining-requests': '99',
      'openai-organization': 'ümlaut is latin-1',
    })
  })

  it('relays 2xx as answers and 4xx/5xx as errors; nothing else, nothing out of range', () => {
    for (const status of [200, 201, 299]) expect(isSuccess(status)).toBe(true)
    for (const status of [400, 429, 503, 599]) expect(isRelayableError(status)).toBe(true)
    for (const status of [99, 100, 199, 300, 302, 399, 600, 999, 200.5, Number.NaN]) {
      expect(isSuccess(status) || isRelayableError(status), String(status)).toBe(false)
    }
    expect(badAnswer(302, '')).toMatch(/status 302, which the gateway does not relay/)
    expect(badAnswer(200, 'text/html')).toMatch(/200 with content type text\/html, not an event stream/)
  })

  it('refuses bodies it would relay garbled: compressed unasked, or in an unknown transfer coding', () => {
    expect(unreadableBody({})).toBeUndefined()
    expect(unreadableBody({ 'content-encoding': 'identity', 'transfer-encoding': 'chunked' })).toBeUndefined()
    expect(unreadableBody({ 'content-encoding': 'gzip' })).toMatch(/compressed its answer \(gzip\)/)
    expect(unreadableBody({ 'transfer-encoding': 'gzip, chunked' })).toMatch(/transfer coding/)
  })
})
