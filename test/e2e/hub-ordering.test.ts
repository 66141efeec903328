import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { publish, publisherToken, type Subscription, subscribe } from '../helpers/hub.js'

let gateway: GatewayProcess
beforeAll(async () => {
  // A generous buffer: this test is about order, and its one process both publishes and reads 200 streams.
  gateway = await startGateway(['--history-size', '20000', '--subscriber-buffer', '4MiB'])
})
afterAll(async () => {
  await gateway.stop()
})

describe('ordering under concurrency', () => {
  it('gives 200 subscribers the store’s order of 10 × 1,000 concurrent publishes', async () => {
    const topic = 'https://example.com/ordered'
    const hub = `${gateway.url}/.well-known/mercure`
    const token = await publisherToken()
    const subscribers: Subscription[] = []
    for (let index = 0; index < 200; index++)
      subscribers.push(await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`))

    await Promise.all(
      Array.from({ length: 10 }, async (_, publisher) => {
        for (let index = 0; index < 1000; index++) {
          const { status } = await publish(
            hub,
            [
              ['topic', topic],
              ['data', `${publisher}:${index}`],
            ],
            token,
          )
          expect(status).toBe(200)
        }
      }),
    )
    const store = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}&lastEventID=earliest`)
    const storeOrder = (await store.waitFor(10_000, 30_000)).map((event) => event.id)
    store.close()

    for (const subscription of subscribers) {
      await subscription.waitFor(10_000, 30_000)
      subscription.close()
      expect(subscription.events.map((event) => event.id)).toEqual(storeOrder)
    }
    // Each publisher's own updates keep the order it sent them in.
    const firstPublisher = subscribers[0]?.events.filter((event) => event.data.startsWith('0:')) ?? []
    expect(firstPublisher.map((event) => event.data)).toEqual(
      Array.from({ length: 1000 }, (_, index) => `0:${index}`),
    )
  }, 180_000)
})
