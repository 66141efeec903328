import { Redis } from 'ioredis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { RedisStore } from '../../src/hub/store/redis.js'
import { DuplicateIdError, StoreUnavailableError, type UpdateStore } from '../../src/hub/store/store.js'
import { type RedisProcess, startRedis } from '../helpers/redis-server.js'
import { storeContract } from '../helpers/store-contract.js'

let redis: RedisProcess
let admin: Redis
const stores: UpdateStore[] = []

beforeAll(async () => {
  redis = await startRedis()
  admin = new Redis(redis.url)
})
beforeEach(async () => {
  await admin.flushall()
})
afterAll(async () => {
  await Promise.all(stores.map((store) => store.close()))
  admin.disconnect()
  await redis.dispose()
})

function createStore(options: { maxPresence?: number } = {}): UpdateStore {
  const store = new RedisStore(redis.url, options)
  stores.push(store)
  return store
}

describe('redis store', () => {
  storeContract(createStore)

  it('gives every node the same ids and order, and tells each node’s listener about every update', async () => {
    const [a, b] = [createStore(), createStore()]
    const seenByB: string[] = []
    b.onAppend((update) => seenByB.push(`${update.sequence}:${update.data}`))
    // A node hears of updates from the moment its reader started (as its subscribers do).
    await b.newestSequence()
    const published = []
    for (let index = 0; index < 20; index++)
      published.push(
        await (index % 2 === 0 ? a : b).append({ topics: ['t'], data: String(index), private: false }),
      )
    await expect.poll(() => seenByB.length).toBe(20)
    expect(seenByB).toEqual(published.map((update) => `${update.sequence}:${update.data}`))
    const fromA = await a.readAfter({ after: published[9]?.id as string }, () => true, 100)
    expect(fromA.updates.map((update) => update.data)).toEqual(
      published.slice(10).map((update) => update.data),
    )
  })

  it('refuses within a second while Redis is down, and its reader catches up once it is back', async () => {
    const store = createStore()
    const seen: string[] = []
    store.onAppend((update) => seen.push(update.data))
    await store.append({ topics: ['t'], data: 'before', private: false })
    await redis.stop()
    const started = Date.now()
    await expect(store.append({ topics: ['t'], data: 'during', private: false })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    )
    expect(Date.now() - started).toBeLessThan(1500)
    await redis.restart()
    // Another node publishes as soon as Redis is back; this store's reader sees it.
    const other = createStore()
    await expect
      .poll(
        async () =>
          other.append({ topics: ['t'], data: 'after', private: false }).then(
            () => true,
            () => false,
          ),
        { timeout: 10_000 },
      )
      .toBe(true)
    await expect.poll(() => seen, { timeout: 10_000 }).toEqual(['before', 'after'])
    // Its command connection may come back a little after its reader: a read refused meanwhile is a
    // 503 that the client retries, as here.
    await expect
      .poll(
        async () =>
          store
            .readAfter('earliest', () => true, 10)
            .then(
              (page) => page.updates.map((update) => update.data),
              () => 'refused',
            ),
        { timeout: 10_000 },
      )
      .toEqual(['before', 'after'])
  })

  it('says an append whose answer was lost may have been stored, and the duplicate check then tells', async () => {
    const store = createStore()
    await store.append({ topics: ['t'], data: 'before', private: false })
    // Redis holds write commands for 1.5 s: the append is sent, its answer comes after the
    // store's one-second command timeout, yet Redis runs it once the pause ends.
    await admin.client('PAUSE', 1500, 'WRITE')
    const refused = await store
      .append({ id: 'urn:lost-answer', topics: ['t'], data: 'during', private: false })
      .then(
        () => undefined,
        (error: unknown) => error,
      )
    expect(refused).toBeInstanceOf(StoreUnavailableError)
    expect((refused as StoreUnavailableError).stored).toBe('unknown')
    expect((refused as Error).message).toContain('"urn:lost-answer"')
    // Published again under its id once Redis answers: it was stored, exactly once.
    await expect
      .poll(
        () =>
          store.append({ id: 'urn:lost-answer', topics: ['t'], data: 'during', private: false }).then(
            () => 'stored now',
            (error: unknown) => (error instanceof DuplicateIdError ? 'stored before' : 'refused'),
          ),
        { timeout: 5000 },
      )
      .toBe('stored before')
    const page = await store.readAfter('earliest', () => true, 10)
    expect(page.updates.map((update) => update.data)).toEqual(['before', 'during'])
  })

  it('says an append that could not be sent was not stored', async () => {
    const store = createStore()
    await store.append({ topics: ['t'], data: 'before', private: false })
    await redis.stop()
    try {
      const refused = await store.append({ id: 'urn:unsent', topics: ['t'], data: 'x', private: false }).then(
        () => undefined,
        (error: unknown) => error,
      )
      expect(refused).toBeInstanceOf(StoreUnavailableError)
      expect((refused as StoreUnavailableError).stored).toBe(false)
      expect((refused as Error).message).toContain('nothing was stored')
    } finally {
      await redis.restart()
    }
  })
})
