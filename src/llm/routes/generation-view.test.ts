import type { IncomingMessage } from 'node:http'
import { describe, expect, it } from 'vitest'
import { lastEventIdOf } from './generation-view.js'
import { routeLabel } from './route-label.js'

const request = (headers: Record<string, string> = {}) => ({ headers }) as unknown as IncomingMessage

describe('generation routes', () => {
  it('resume from Last-Event-ID, the header before the query, and refuse what is not an event number', () => {
    const url = (query = '') => new URL(`http://gateway/v1/generations/g1/stream${query}`)
    expect(lastEventIdOf(request(), url())).toBe(0)
    expect(lastEventIdOf(request(), url('?last_event_id=7'))).toBe(7)
    expect(lastEventIdOf(request({ 'last-event-id': ' 12 ' }), url('?last_event_id=7'))).toBe(12)
    for (const bad of ['-1', '1e3', '0x10', 'abc', '1234567890'])
      expect(lastEventIdOf(request({ 'last-event-id': bad }), url()), bad).toBeNaN()
  })

  it('label requests for metrics by route, never by the path or method as sent', () => {
    const routes = { 'POST /v1/chat/completions': {}, 'GET /v1/models': {} }
    expect(routeLabel('POST', '/v1/chat/completions', routes)).toBe('POST /v1/chat/completions')
    expect(routeLabel('GET', '/v1/generations/abc123/stream', routes)).toBe('GET /v1/generations/{id}/stream')
    expect(routeLabel('POST', '/v1/generations/abc123/cancel', routes)).toBe(
      'POST /v1/generations/{id}/cancel',
    )
    expect(routeLabel('GET', '/v1/random-path-42', routes)).toBe('other')
    expect(routeLabel('BREW', '/v1/chat/completions', routes)).toBe('other')
    expect(routeLabel('GET', '/v1/toString', routes)).toBe('other')
  })
})
