import { describe, expect, it } from 'vitest'
import { corsHeaders, eventStreamHeaders } from './headers.js'

describe('eventStreamHeaders', () => {
  it('sends Connection only on HTTP/1.1', () => {
    expect(eventStreamHeaders(1)).toEqual({
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      'x-accel-buffering': 'no',
      connection: 'keep-alive',
    })
    expect(eventStreamHeaders(2)).not.toHaveProperty('connection')
  })
})

describe('corsHeaders', () => {
  it('allows any origin with *', () => {
    expect(corsHeaders({ origin: '*' }, 'https://a.example')).toEqual({ 'access-control-allow-origin': '*' })
    expect(corsHeaders({ origin: ['*'] }, undefined)).toEqual({ 'access-control-allow-origin': '*' })
  })

  it('echoes a listed origin and varies on Origin', () => {
    const options = { origin: ['https://a.example', 'https://b.example'] }
    expect(corsHeaders(options, 'https://b.example')).toEqual({
      vary: 'Origin',
      'access-control-allow-origin': 'https://b.example',
    })
    expect(corsHeaders(options, 'https://evil.example')).toEqual({ vary: 'Origin' })
  })

  it('never answers * when credentials are allowed', () => {
    expect(corsHeaders({ origin: '*', credentials: true }, 'https://a.example')).toEqual({
      vary: 'Origin',
      'access-control-allow-origin': 'https://a.example',
      'access-control-allow-credentials': 'true',
    })
  })

  it('asks a predicate and lists exposed headers', () => {
    const options = {
      origin: (origin: string) => origin.endsWith('.example'),
      exposeHeaders: ['Last-Event-ID'],
    }
    expect(corsHeaders(options, 'https://x.example')).toMatchObject({
      'access-control-allow-origin': 'https://x.example',
      'access-control-expose-headers': 'Last-Event-ID',
    })
    expect(corsHeaders(undefined, 'https://x.example')).toEqual({})
  })
})
