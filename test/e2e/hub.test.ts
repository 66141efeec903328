import { EventSource } from 'eventsource'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signToken } from '../../src/hub/authorization.js'
import {
  type GatewayProcess,
  runCli,
  startCli,
  startGateway,
  TEST_SECRET,
} from '../helpers/gateway-process.js'
import { publish, publisherToken, subscribe, subscriberToken } from '../helpers/hub.js'

let gateway: GatewayProcess
let hub: string
let token: string
let topicCounter = 0
/** A topic no other test uses. */
const freshTopic = () => `https://example.com/things/${Date.now()}-${topicCounter++}`

beforeAll(async () => {
  gateway = await startGateway(['--history-size', '50'])
  hub = `${gateway.url}/.well-known/mercure`
  token = await publisherToken()
})

afterAll(async () => {
  await gateway.stop()
})

describe('public delivery', () => {
  it('delivers a published update to the eventsource package, with id, type and data', async () => {
    const topic = freshTopic()
    const source = new EventSource(`${hub}?topic=${encodeURIComponent(topic)}`)
    const received = new Promise<MessageEvent>((resolve) => source.addEventListener('change', resolve))
    await new Promise((resolve) => {
      source.onopen = resolve
    })
    const published = await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'hello'],
        ['type', 'change'],
        ['id', `id-${topic}`],
      ],
      token,
    )
    expect(published).toEqual({ status: 200, body: `id-${topic}` })
    const event = await received
    source.close()
    expect([event.data, event.lastEventId]).toEqual(['hello', `id-${topic}`])
  })

  it('delivers to streamgate listen', async () => {
    const topic = freshTopic()
    const listen = startCli([
      'listen',
      '--json',
      '--max-events',
      '1',
      `${hub}?match=${encodeURIComponent(topic)}`,
    ])
    // Published once the CLI says it is connected (its start-up takes longer on a busy machine).
    await expect
      .poll(() => listen.output.stderr, { timeout: 10_000, interval: 20 })
      .toMatch(/connected: HTTP 200/)
    const { body: id } = await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'to the terminal'],
      ],
      token,
    )
    const { code, stdout } = await listen.done
    expect(code).toBe(0)
    expect(JSON.parse(stdout)).toEqual({ type: 'message', data: 'to the terminal', lastEventId: id })
  })

  it.each([
    ['match= (exact)', (topic: string) => `match=${encodeURIComponent(topic)}`, true],
    [
      'topic= (URI template)',
      (topic: string) => `topic=${encodeURIComponent(`${topic.replace(/\/[^/]*$/, '')}/{id}`)}`,
      true,
    ],
    [
      'match_urlpattern=',
      (topic: string) => `match_urlpattern=${encodeURIComponent(`${topic.replace(/\/[^/]*$/, '')}/:id`)}`,
      true,
    ],
    [
      'matchURLPattern= (Mercure 1.0 spelling)',
      (topic: string) => `matchURLPattern=${encodeURIComponent(`${topic.replace(/\/[^/]*$/, '')}/*`)}`,
      true,
    ],
    ['topic=*', () => 'topic=*', true],
    ['another exact topic', () => `match=${encodeURIComponent('https://example.com/other')}`, false],
  ])('selects by %s', async (_name, query, expected) => {
    const topic = freshTopic()
    const subscription = await subscribe(`${hub}?${query(topic)}`)
    await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'x'],
      ],
      token,
    )
    await publish(
      hub,
      [
        ['topic', 'https://example.com/unrelated/1'],
        ['data', 'y'],
      ],
      token,
    )
    await new Promise((resolve) => setTimeout(resolve, 300))
    subscription.close()
    expect(subscription.events.some((event) => event.data === 'x')).toBe(expected)
  })
})

describe('private updates', () => {
  it('reach only subscribers whose token allows one of their topics', async () => {
    const topic = freshTopic()
    const anonymous = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`)
    const allowed = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`, {
      authorization: `Bearer ${await subscriberToken([topic])}`,
    })
    const other = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`, {
      authorization: `Bearer ${await subscriberToken(['https://example.com/elsewhere'])}`,
    })
    await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'secret'],
        ['private', 'on'],
      ],
      token,
    )
    await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'public'],
      ],
      token,
    )
    await allowed.waitFor(2)
    await anonymous.waitFor(1)
    await new Promise((resolve) => setTimeout(resolve, 200))
    for (const subscription of [anonymous, allowed, other]) subscription.close()
    expect(allowed.events.map((event) => event.data)).toEqual(['secret', 'public'])
    expect(anonymous.events.map((event) => event.data)).toEqual(['public'])
    expect(other.events.map((event) => event.data)).toEqual(['public'])
  })

  it('reads Mercure 1.0 object claims ({ match, matchType })', async () => {
    const topic = freshTopic()
    const objectClaims = await signToken(TEST_SECRET, {
      subscribe: [
        { match: `${topic.replace(/\/[^/]*$/, '')}/:id`, matchType: 'urlpattern' },
      ] as unknown as string[],
    })
    const subscription = await subscribe(`${hub}?match=${encodeURIComponent(topic)}`, {
      authorization: `Bearer ${objectClaims}`,
    })
    await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'object claim'],
        ['private', 'on'],
      ],
      token,
    )
    await subscription.waitFor(1)
    subscription.close()
  })

  it('reads the token from the mercureAuthorization cookie', async () => {
    const topic = freshTopic()
    const subscription = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`, {
      cookie: `mercureAuthorization=${await subscriberToken(['*'])}`,
    })
    await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'cookie'],
        ['private', 'on'],
      ],
      token,
    )
    await subscription.waitFor(1)
    subscription.close()
  })
})

describe('reconciliation', () => {
  async function publishSeries(topic: string, count: number): Promise<string[]> {
    const ids: string[] = []
    for (let index = 1; index <= count; index++) {
      ids.push(
        (
          await publish(
            hub,
            [
              ['topic', topic],
              ['data', String(index)],
            ],
            token,
          )
        ).body,
      )
    }
    return ids
  }

  it.each([
    ['the Last-Event-ID header', (id: string) => ({ query: '', headers: { 'last-event-id': id } })],
    [
      'the last_event_id query',
      (id: string) => ({ query: `&last_event_id=${encodeURIComponent(id)}`, headers: {} }),
    ],
    [
      'the 0.x lastEventID query',
      (id: string) => ({ query: `&lastEventID=${encodeURIComponent(id)}`, headers: {} }),
    ],
  ])('replays exactly what followed, by %s, and says where it resumed', async (_name, resume) => {
    const topic = freshTopic()
    const ids = await publishSeries(topic, 6)
    const { query, headers } = resume(ids[2] as string)
    const subscription = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}${query}`, headers)
    const events = await subscription.waitFor(3)
    await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'live'],
      ],
      token,
    )
    await subscription.waitFor(4)
    subscription.close()
    expect(subscription.response.headers.get('mercure-last-event-id')).toBe(ids[2])
    expect(subscription.response.headers.get('last-event-id')).toBe(ids[2])
    expect([...events.map((event) => event.data), subscription.events[3]?.data]).toEqual([
      '4',
      '5',
      '6',
      'live',
    ])
    expect(subscription.events).toHaveLength(4)
  })

  it('replays all history with earliest', async () => {
    const topic = freshTopic()
    await publishSeries(topic, 3)
    const subscription = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}&lastEventID=earliest`)
    const events = await subscription.waitFor(3)
    subscription.close()
    expect(events.map((event) => event.data)).toEqual(['1', '2', '3'])
    expect(subscription.response.headers.get('mercure-last-event-id')).toBe('earliest')
  })

  it('a history larger than the subscriber buffer comes in parts, each resumed by the client: all of it, once, in order', async () => {
    const small = await startGateway(['--subscriber-buffer', '16KiB', '--history-size', '1000'])
    const smallHub = `${small.url}/.well-known/mercure`
    const topic = freshTopic()
    const payload = 'x'.repeat(1000)
    for (let index = 1; index <= 120; index++) {
      await publish(
        smallHub,
        [
          ['topic', topic],
          ['data', `${index} ${payload}`],
        ],
        token,
      )
    }
    // About 120 KB of history against a 16 KiB buffer: it arrives over several responses.
    const source = new EventSource(`${smallHub}?topic=${encodeURIComponent(topic)}&lastEventID=earliest`)
    const received: number[] = []
    let opened = 0
    source.onopen = () => {
      opened++
    }
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`only ${received.length} of 120 arrived`)), 15_000)
      source.onmessage = (event) => {
        received.push(Number.parseInt(event.data, 10))
        if (received.length === 120) {
          clearTimeout(timer)
          resolve()
        }
      }
    })
    source.close()
    await small.stop()
    expect(received).toEqual(Array.from({ length: 120 }, (_, index) => index + 1))
    expect(opened).toBeGreaterThan(2)
  })

  it('reports an evicted id in a header and a first event, then replays what it has', async () => {
    const topic = freshTopic()
    const ids = await publishSeries(topic, 3)
    // --history-size 50: push the first ids out of the history.
    await publishSeries(freshTopic(), 60)
    const subscription = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`, {
      'last-event-id': ids[0] as string,
    })
    const [gap] = await subscription.waitFor(1)
    subscription.close()
    expect(subscription.response.headers.get('mercure-last-event-id')).toBe('earliest')
    expect(gap?.event).toBe('streamgate-gap')
    expect(JSON.parse(gap?.data ?? '{}')).toEqual({ requested: ids[0], resumedFrom: 'earliest' })
  })

  it('tells a fresh subscriber the newest id at subscription time', async () => {
    const { body: id } = await publish(
      hub,
      [
        ['topic', freshTopic()],
        ['data', 'x'],
      ],
      token,
    )
    const subscription = await subscribe(`${hub}?topic=${encodeURIComponent(freshTopic())}`)
    subscription.close()
    expect(subscription.response.headers.get('mercure-last-event-id')).toBe(id)
  })
})

describe('publishing errors', () => {
  const form = (topic: string) =>
    [
      ['topic', topic],
      ['data', 'x'],
    ] as [string, string][]

  it('answers 401 without a token, with a bad one, an expired one, alg none, or a wrong key', async () => {
    const topic = freshTopic()
    const expired = await new SignJWT({ mercure: { publish: ['*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(TEST_SECRET))
    const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${Buffer.from(
      JSON.stringify({ mercure: { publish: ['*'] } }),
    ).toString('base64url')}.`
    const hs512 = await new SignJWT({ mercure: { publish: ['*'] } })
      .setProtectedHeader({ alg: 'HS512' })
      .sign(new TextEncoder().encode(TEST_SECRET.repeat(2)))
    const wrongKey = await signToken('another secret of sufficient size!', { publish: ['*'] })
    for (const [bad, reason] of [
      [undefined, /requires a token/],
      ['not.a.jwt', /invalid/],
      [expired, /expired/],
      [unsigned, /invalid|algorithm/],
      [hs512, /algorithm/],
      [wrongKey, /invalid/],
    ] as const) {
      const { status, body } = await publish(hub, form(topic), bad)
      expect(status, String(bad)).toBe(401)
      expect(JSON.parse(body).error.message).toMatch(reason)
    }
    const check = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}&lastEventID=earliest`)
    await new Promise((resolve) => setTimeout(resolve, 200))
    check.close()
    expect(check.events).toEqual([])
  })

  it('answers 403 for a topic the token does not allow', async () => {
    const limited = await publisherToken(['https://example.com/allowed/{id}'])
    expect((await publish(hub, form('https://example.com/allowed/1'), limited)).status).toBe(200)
    const { status, body } = await publish(hub, form('https://example.com/denied/1'), limited)
    expect(status).toBe(403)
    expect(JSON.parse(body).error.message).toContain('https://example.com/denied/1')
  })

  it('answers 415 for another content type and 413 over --max-body', async () => {
    const wrongType = await fetch(hub, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'text/plain' },
      body: 'topic=x',
    })
    expect(wrongType.status).toBe(415)
    const huge = await publish(
      hub,
      [
        ['topic', freshTopic()],
        ['data', 'x'.repeat(2 * 1024 * 1024)],
      ],
      token,
    )
    expect(huge.status).toBe(413)
  })

  it.each([
    ['no topic', 'data=x', /topic is required/],
    ['a repeated data field', 'topic=t&data=a&data=b', /data may appear only once/],
    ['a repeated id field', 'topic=t&id=a&id=b', /id may appear only once/],
    ['a retry that is not digits', 'topic=t&retry=1e3', /retry/],
    ['LF in the id', 'topic=t&id=a%0Ab', /id must not contain control characters/],
    ['CR in the type', 'topic=t&type=a%0Db', /type must not contain/],
    ['a control character in a topic', 'topic=t%01x', /topic must not contain/],
    ['invalid percent-encoded UTF-8', 'topic=t&data=%C3%28', /UTF-8/],
  ])('answers 400 for %s, and publishes nothing', async (_name, body, reason) => {
    const response = await fetch(hub, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body,
    })
    expect(response.status).toBe(400)
    expect((await response.json()).error.message).toMatch(reason)
  })

  it('answers 400 for raw invalid UTF-8 and for an id already used', async () => {
    const raw = await fetch(hub, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.concat([Buffer.from('topic=t&data='), Buffer.from([0xff, 0xfe])]),
    })
    expect(raw.status).toBe(400)
    const topic = freshTopic()
    expect(
      (
        await publish(
          hub,
          [
            ['topic', topic],
            ['id', `dup-${topic}`],
          ],
          token,
        )
      ).status,
    ).toBe(200)
    const again = await publish(
      hub,
      [
        ['topic', topic],
        ['id', `dup-${topic}`],
      ],
      token,
    )
    expect(again.status).toBe(400)
    expect(JSON.parse(again.body).error.code).toBe('SG_ERR_DUPLICATE_ID')
  })

  it('publishes JSON bodies too', async () => {
    const topic = freshTopic()
    const subscription = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`)
    const response = await fetch(hub, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        topic: [topic, 'https://example.com/second'],
        data: 'json',
        type: 'created',
        retry: 5,
      }),
    })
    expect(response.status).toBe(200)
    const [event] = await subscription.waitFor(1)
    subscription.close()
    expect(event).toMatchObject({ data: 'json', event: 'created', id: await response.text() })
  })
})

describe('metrics', () => {
  it('counts updates, deliveries, bytes, resumes and subscribers per topic on /metrics', async () => {
    const topic = freshTopic()
    const subscription = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}&lastEventID=earliest`)
    await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'counted'],
      ],
      token,
    )
    await subscription.waitFor(1)
    const text = await (await fetch(`${gateway.url}/metrics`)).text()
    subscription.close()
    const value = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1])
    expect(value('streamgate_updates_published_total')).toBeGreaterThan(0)
    expect(value('streamgate_deliveries_total')).toBeGreaterThan(0)
    expect(value('streamgate_bytes_out_total')).toBeGreaterThan(0)
    expect(value('streamgate_resume_requests_total')).toBeGreaterThan(0)
    expect(value('streamgate_connections_open')).toBeGreaterThan(0)
    expect(text).toContain(`streamgate_subscribers{topic="${topic}"} 1`)
  })
})

describe('the CLI', () => {
  it('publish prints the id; token mints what the hub accepts', async () => {
    const topic = freshTopic()
    const subscription = await subscribe(`${hub}?topic=${encodeURIComponent(topic)}`)
    const minted = await runCli(['token', '--secret', TEST_SECRET, '--publish', topic])
    expect(minted.code).toBe(0)
    const published = await runCli(
      ['publish', hub, '--topic', topic, '--event', 'note', '--token', minted.stdout.trim()],
      {
        input: 'from stdin',
      },
    )
    expect(published.code).toBe(0)
    const [event] = await subscription.waitFor(1)
    subscription.close()
    expect(event).toMatchObject({ data: 'from stdin', event: 'note', id: published.stdout.trim() })
    const denied = await runCli([
      'publish',
      hub,
      '--topic',
      'https://example.com/not-mine',
      '--data',
      'x',
      '--token',
      minted.stdout.trim(),
    ])
    expect(denied.code).toBe(1)
    expect(denied.stderr).toMatch(/HTTP 403: the token does not allow publishing/)
  })
})
