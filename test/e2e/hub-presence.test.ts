import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { subscribe, subscriberToken } from '../helpers/hub.js'

let gateway: GatewayProcess
let hub: string
const presenceTopics = '/.well-known/mercure/subscriptions{/topic}{/subscriber}'

beforeAll(async () => {
  gateway = await startGateway(['--subscriptions', '--no-anonymous'])
  hub = `${gateway.url}/.well-known/mercure`
})
afterAll(async () => {
  await gateway.stop()
})

describe('presence and the subscriptions API', () => {
  it('announces a subscription when it starts and when it ends, and lists it while active', async () => {
    const watcherToken = await subscriberToken([presenceTopics])
    const watcher = await subscribe(`${hub}?topic=${encodeURIComponent(presenceTopics)}`, {
      authorization: `Bearer ${watcherToken}`,
    })
    const topic = 'https://example.com/rooms/1'
    const member = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`, {
      authorization: `Bearer ${await subscriberToken([topic])}`,
    })
    // The watcher also sees its own subscription announced: look for the member's.
    const about = (active: boolean) =>
      watcher.events
        .map((event) => JSON.parse(event.data))
        .filter((doc) => doc.topic === topic && doc.active === active)
    await expect.poll(() => about(true).length).toBe(1)
    const document = about(true)[0]
    expect(document).toMatchObject({
      '@context': 'https://mercure.rocks/',
      type: 'Subscription',
      topic,
      active: true,
    })
    expect(document.id).toBe(
      `/.well-known/mercure/subscriptions/${encodeURIComponent(topic)}/${encodeURIComponent(document.subscriber)}`,
    )

    const list = await fetch(`${hub}/subscriptions`, { headers: { authorization: `Bearer ${watcherToken}` } })
    expect(list.headers.get('content-type')).toBe('application/ld+json')
    const body = (await list.json()) as {
      type: string
      lastEventID: string
      subscriptions: { subscriber: string; topic: string }[]
    }
    expect(body.type).toBe('Subscriptions')
    // The cursor in the hub link too, as discovery gives it.
    expect(list.headers.get('link')).toBe(
      `</.well-known/mercure>; rel="mercure"; last-event-id="${encodeURIComponent(body.lastEventID)}"`,
    )
    expect(body.subscriptions).toContainEqual(
      expect.objectContaining({ subscriber: document.subscriber, topic }),
    )

    const one = await fetch(
      `${hub}/subscriptions/${encodeURIComponent(topic)}/${encodeURIComponent(document.subscriber)}`,
      {
        headers: { authorization: `Bearer ${watcherToken}` },
      },
    )
    expect(one.status).toBe(200)

    member.close()
    await expect.poll(() => about(false).length).toBe(1)
    watcher.close()
    expect(about(false)[0]).toMatchObject({ subscriber: document.subscriber, active: false })
  })

  it('requires a token for the API and, with --no-anonymous, for subscribing', async () => {
    expect((await fetch(`${hub}/subscriptions`)).status).toBe(401)
    const malformed = await fetch(`${hub}/subscriptions/%E0%A4%A`, {
      headers: { authorization: `Bearer ${await subscriberToken(['*'])}` },
    })
    expect(malformed.status).toBe(400)
    expect((await malformed.json()).error.message).toMatch(/percent-encoding/)
    const anonymous = await fetch(`${hub}?topic=x`)
    expect(anonymous.status).toBe(401)
    expect(anonymous.headers.get('www-authenticate')).toContain('Bearer')
  })

  it('lists nothing the token does not cover', async () => {
    const member = await subscribe(`${hub}?topic=${encodeURIComponent('https://example.com/hidden')}`, {
      authorization: `Bearer ${await subscriberToken(['https://example.com/hidden'])}`,
    })
    const narrow = await subscriberToken(['/.well-known/mercure/subscriptions/other/{subscriber}'])
    const list = await fetch(`${hub}/subscriptions`, { headers: { authorization: `Bearer ${narrow}` } })
    member.close()
    expect(((await list.json()) as { subscriptions: unknown[] }).subscriptions).toEqual([])
  })
})
