import { describe, expect, it } from 'vitest'
import { routeUrl } from './request-target.js'

describe('routeUrl', () => {
  it.each([
    ['/metrics', '/metrics', ''],
    ['/v1/chat/completions?x=1', '/v1/chat/completions', '?x=1'],
    ['/.well-known/mercure?topic=a', '/.well-known/mercure', '?topic=a'],
    ['/v1/generations/gen_1.2/stream', '/v1/generations/gen_1.2/stream', ''],
    ['/files/..data/x', '/files/..data/x', ''],
    ['http://gateway.example:8080/metrics?a', '/metrics', '?a'],
    ['http://gateway.example', '/', ''],
  ])('routes %s on %s', (target, pathname, search) => {
    expect(routeUrl(target)?.pathname).toBe(pathname)
    expect(routeUrl(target)?.search).toBe(search)
  })

  it.each([
    '//evil/metrics',
    '/v1/../metrics',
    '/v1/./metrics',
    '/web/%2e%2e/metrics',
    '/web/%2E./metrics',
    '/web/.%2e/metrics',
    '/web\\..\\metrics',
    '/..',
    'metrics',
    '*',
    'http://host/../metrics',
    'http://host//evil/metrics',
  ])('refuses %s', (target) => {
    expect(routeUrl(target)).toBeUndefined()
  })
})
