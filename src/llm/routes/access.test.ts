import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { Access, keyId } from './access.js'

describe('Access', () => {
  const options = { apiKeys: ['alpha', 'beta'], requestsPerMinute: 2, concurrentStreams: 1 }

  it('accepts a known key as a bearer token or x-api-key, and nothing else', () => {
    const access = new Access({ ...options, requestsPerMinute: 0, concurrentStreams: 0 })
    expect(access.admit({ authorization: 'Bearer alpha' })).toMatchObject({
      ok: true,
      keyId: keyId('alpha', options.apiKeys),
    })
    expect(access.admit({ 'x-api-key': 'beta' })).toMatchObject({
      ok: true,
      keyId: keyId('beta', options.apiKeys),
    })
    for (const headers of [
      {},
      { authorization: 'Bearer gamma' },
      { authorization: 'alpha' },
      { 'x-api-key': 'alph' },
    ]) {
      expect(access.admit(headers)).toMatchObject({ ok: false, status: 401 })
    }
    expect(keyId('alpha', options.apiKeys)).toMatch(/^key_[0-9a-f]{12}$/)
    expect(keyId('alpha', options.apiKeys)).not.toContain('alpha')
  })

  it('names a key by a fingerprint that cannot be checked against a word list without every key', () => {
    const plainHash = (key: string) => `key_${createHash('sha256').update(key).digest('hex').slice(0, 12)}`
    expect(keyId('alpha', ['alpha', 'beta'])).not.toBe(plainHash('alpha'))
    expect(keyId('alpha', ['alpha', 'beta'])).not.toBe(keyId('alpha', ['alpha', 'gamma']))
    // The same keys, in any order, on any node: the same names.
    expect(keyId('alpha', ['beta', 'alpha'])).toBe(keyId('alpha', ['alpha', 'beta']))
  })

  it('counts requests per key in one-minute windows and open requests until released', () => {
    const access = new Access(options)
    const start = 1_000_000
    const first = access.admit({ 'x-api-key': 'alpha' }, start)
    expect(access.admit({ 'x-api-key': 'alpha' }, start + 1)).toMatchObject({
      ok: false,
      status: 429,
      retryAfter: 1,
    })
    if (first.ok) first.release()
    first.ok && first.release() // a second release changes nothing
    const second = access.admit({ 'x-api-key': 'alpha' }, start + 2)
    expect(second.ok).toBe(true)
    if (second.ok) second.release()
    expect(access.admit({ 'x-api-key': 'alpha' }, start + 30_000)).toMatchObject({
      ok: false,
      status: 429,
      retryAfter: 30,
    })
    expect(access.admit({ 'x-api-key': 'beta' }, start + 30_000).ok).toBe(true)
    expect(access.admit({ 'x-api-key': 'alpha' }, start + 60_000).ok).toBe(true)
  })

  it('with no keys configured, everyone shares the open budget', () => {
    const access = new Access({ apiKeys: [], requestsPerMinute: 0, concurrentStreams: 0 })
    expect(access.admit({})).toMatchObject({ ok: true, keyId: 'open' })
  })
})
