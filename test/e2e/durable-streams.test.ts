import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'

// The gateway's Durable Streams routes beyond the conformance suite: who may use them.
let gateway: GatewayProcess

beforeAll(async () => {
  gateway = await startGateway(['--api-key', 'stream-key-1,stream-key-2'])
})

afterAll(async () => {
  await gateway?.stop()
})

describe('durable streams with gateway keys', () => {
  it('refuses every operation without a key, with a 401 and a reason, and accepts either key', async () => {
    const url = `${gateway.url}/v1/stream/keys/${Date.now()}`
    for (const method of ['PUT', 'POST', 'GET', 'HEAD', 'DELETE']) {
      const response = await fetch(url, {
        method,
        headers: { 'content-type': 'text/plain' },
        body: method === 'POST' || method === 'PUT' ? 'x' : undefined,
      })
      expect(response.status, method).toBe(401)
      if (method !== 'HEAD')
        expect(await response.json()).toMatchObject({
          error: { code: 'SG_ERR_UNAUTHORIZED', message: expect.stringMatching(/gateway key/) },
        })
    }
    const wrong = await fetch(url, { method: 'PUT', headers: { authorization: 'Bearer nope' } })
    expect(wrong.status).toBe(401)
    const created = await fetch(url, {
      method: 'PUT',
      headers: { authorization: 'Bearer stream-key-1', 'content-type': 'text/plain' },
      body: 'hello',
    })
    expect(created.status).toBe(201)
    const read = await fetch(url, { headers: { 'x-api-key': 'stream-key-2' } })
    expect(read.status).toBe(200)
    expect(await read.text()).toBe('hello')
  })
})
