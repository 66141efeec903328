import { Redis } from 'ioredis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createParser } from '../../src/protocol/parser.js'
import { RedisStreamStore } from '../../src/streams/redis-store.js'
import type { StreamStore } from '../../src/streams/stream-store.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { type RedisProcess, startRedis } from '../helpers/redis-server.js'
import { streamStoreContract } from '../helpers/stream-store-contract.js'

let redis: RedisProcess
let admin: Redis
const stores: StreamStore[] = []

beforeAll(async () => {
  redis = await startRedis()
  admin = new Redis(redis.url)
})
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()))
  admin.disconnect()
  await redis.dispose()
})

describe('redis stream store', () => {
  beforeEach(async () => {
    await admin.flushall()
  })
  streamStoreContract((clock) => {
    const store = new RedisStreamStore(redis.url, {}, clock.now)
    stores.push(store)
    return store
  })
})

describe('durable streams on two gateway nodes sharing Redis', () => {
  let nodes: GatewayProcess[] = []
  afterAll(async () => {
    await Promise.all(nodes.map((node) => node.stop()))
  })

  it('an append on one node is read live, in order, by an SSE reader on the other', async () => {
    nodes = await Promise.all([startGateway(['--store', redis.url]), startGateway(['--store', redis.url])])
    const [a, b] = nodes as [GatewayProcess, GatewayProcess]
    const path = `/v1/stream/nodes/${Date.now()}`
    expect(
      (await fetch(`${a.url}${path}`, { method: 'PUT', headers: { 'content-type': 'application/json' } }))
        .status,
    ).toBe(201)
    const seen: number[] = []
    const parser = createParser({
      onEvent: (event) => {
        if (event.event === 'data')
          seen.push(...(JSON.parse(event.data) as { n: number }[]).map((item) => item.n))
      },
    })
    const reader = new AbortController()
    const response = await fetch(`${b.url}${path}?offset=-1&live=sse`, { signal: reader.signal })
    expect(response.status).toBe(200)
    const reading = (async () => {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(chunk)
    })().catch(() => {})
    for (let n = 0; n < 50; n++) {
      const appended = await fetch(`${a.url}${path}`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'producer-id': 'a',
          'producer-epoch': '0',
          'producer-seq': String(n),
        },
        body: JSON.stringify({ n }),
      })
      expect(appended.status).toBe(200)
    }
    await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(50)
    expect(seen).toEqual(Array.from({ length: 50 }, (_, n) => n))
    // The same stream, the same state, from either node.
    const head = await fetch(`${b.url}${path}`, { method: 'HEAD' })
    expect(head.headers.get('stream-next-offset')).toBe('0000000000000050_0000000000000000')
    reader.abort()
    await reading
  })

  it('takes 50 producers appending at once to one stream from both nodes: each append once, in its order', async () => {
    if (nodes.length === 0)
      nodes = await Promise.all([startGateway(['--store', redis.url]), startGateway(['--store', redis.url])])
    const path = `/v1/stream/contended/${Date.now()}`
    const url = (index: number) => `${(nodes[index % 2] as GatewayProcess).url}${path}`
    await fetch(url(0), { method: 'PUT', headers: { 'content-type': 'application/json' } })
    const statuses: number[] = []
    await Promise.all(
      Array.from({ length: 50 }, async (_, producer) => {
        for (let seq = 0; seq < 10; seq++) {
          const response = await fetch(url(producer), {
            method: 'POST',
            headers: {
              'content-type': 'application/json',
              'producer-id': `p${producer}`,
              'producer-epoch': '0',
              'producer-seq': String(seq),
            },
            body: JSON.stringify({ producer, seq }),
          })
          await response.arrayBuffer()
          statuses.push(response.status)
        }
      }),
    )
    expect(statuses.filter((status) => status !== 200)).toEqual([])
    const read = (await (await fetch(`${url(1)}?offset=-1`)).json()) as { producer: number; seq: number }[]
    expect(read).toHaveLength(500)
    for (let producer = 0; producer < 50; producer++)
      expect(read.filter((item) => item.producer === producer).map((item) => item.seq)).toEqual([
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9,
      ])
  })

  it('refuses appends promptly while Redis is down, and takes them again once it is back', async () => {
    const [a] = nodes as [GatewayProcess]
    const path = `/v1/stream/outage/${Date.now()}`
    await fetch(`${a.url}${path}`, { method: 'PUT', headers: { 'content-type': 'text/plain' } })
    await redis.stop()
    try {
      const started = Date.now()
      const refused = await fetch(`${a.url}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'text/plain' },
        body: 'x',
      })
      expect(refused.status).toBe(503)
      expect(((await refused.json()) as { error: { code: string } }).error.code).toBe(
        'SG_ERR_STORE_UNAVAILABLE',
      )
      expect(refused.headers.get('retry-after')).toBe('1')
      expect(Date.now() - started).toBeLessThan(1500)
    } finally {
      await redis.restart()
    }
    await expect
      .poll(
        async () =>
          (
            await fetch(`${a.url}${path}`, {
              method: 'POST',
              headers: { 'content-type': 'text/plain' },
              body: 'y',
            })
          ).status,
        { timeout: 15_000 },
      )
      .toBe(204)
  })
})
