import OpenAI from 'openai'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import type { ServerSentEvent } from '../../src/protocol/types.js'
import { type FakeUpstream, startFakeUpstream, UPSTREAM_KEY } from '../fixtures/fake-llm-upstream.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { publish, publisherToken, type Subscription, subscribe } from '../helpers/hub.js'
import { readEvents } from '../helpers/read-events.js'
import { type RedisProcess, startRedis } from '../helpers/redis-server.js'

// Three gateway nodes on one real redis-server behave as one hub.
let redis: RedisProcess
let nodes: GatewayProcess[] = []
const open: Subscription[] = []
const topic = 'https://example.com/cluster'
const hubOf = (node: GatewayProcess) => `${node.url}/.well-known/mercure`
const subscribeUrl = (node: GatewayProcess) => `${hubOf(node)}?topic=${encodeURIComponent(topic)}`

async function startNodes(count: number): Promise<GatewayProcess[]> {
  return Promise.all(
    Array.from({ length: count }, () => startGateway(['--store', redis.url, '--heartbeat', '1'])),
  )
}

beforeAll(async () => {
  redis = await startRedis()
})
afterEach(async () => {
  for (const subscription of open.splice(0)) subscription.close()
  await Promise.all(nodes.map((node) => node.stop('SIGKILL')))
  nodes = []
})
afterAll(async () => {
  await redis.dispose()
})

async function track(subscription: Promise<Subscription>): Promise<Subscription> {
  const opened = await subscription
  open.push(opened)
  return opened
}

const ids = (subscription: Subscription) => subscription.events.map((event) => event.id)

describe('three gateway nodes on Redis', () => {
  it('1,000 updates published round-robin reach 30 subscribers on all nodes, all in the same order', async () => {
    nodes = await startNodes(3)
    const subscriptions = await Promise.all(
      Array.from({ length: 30 }, (_, index) =>
        track(subscribe(subscribeUrl(nodes[index % 3] as GatewayProcess))),
      ),
    )
    const token = await publisherToken()
    const published: string[] = []
    for (let batch = 0; batch < 100; batch++) {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, index) => {
          const number = batch * 10 + index
          return publish(
            hubOf(nodes[number % 3] as GatewayProcess),
            [
              ['topic', topic],
              ['data', String(number)],
            ],
            token,
          )
        }),
      )
      for (const result of results) {
        expect(result.status).toBe(200)
        published.push(result.body)
      }
    }
    await Promise.all(subscriptions.map((subscription) => subscription.waitFor(1000, 20_000)))
    const order = ids(subscriptions[0] as Subscription)
    expect(new Set(order)).toEqual(new Set(published))
    for (const subscription of subscriptions) expect(ids(subscription)).toEqual(order)
  })

  it('a subscriber cut off mid-stream resumes on another node: complete, ordered, no duplicates', async () => {
    nodes = await startNodes(2)
    const [a, b] = nodes as [GatewayProcess, GatewayProcess]
    const token = await publisherToken()
    const first = await track(subscribe(subscribeUrl(a)))
    const published: string[] = []
    for (let index = 0; index < 20; index++) {
      published.push(
        (
          await publish(
            hubOf(index % 2 === 0 ? a : b),
            [
              ['topic', topic],
              ['data', String(index)],
            ],
            token,
          )
        ).body,
      )
    }
    await first.waitFor(20)
    first.close()
    const lastSeen = first.events[9]?.id as string
    for (let index = 20; index < 30; index++) {
      published.push(
        (
          await publish(
            hubOf(a),
            [
              ['topic', topic],
              ['data', String(index)],
            ],
            token,
          )
        ).body,
      )
    }
    const resumed = await track(subscribe(subscribeUrl(b), { 'last-event-id': lastSeen }))
    expect(resumed.response.headers.get('mercure-last-event-id')).toBe(lastSeen)
    await resumed.waitFor(20)
    expect([...ids(first).slice(0, 10), ...ids(resumed)]).toEqual(published)
  })

  it('a node killed while its subscribers receive: they reconnect to the others and lose nothing', async () => {
    nodes = await startNodes(3)
    const [doomed, b, c] = nodes as [GatewayProcess, GatewayProcess, GatewayProcess]
    const token = await publisherToken()
    const victims = await Promise.all(Array.from({ length: 5 }, () => track(subscribe(subscribeUrl(doomed)))))
    const published: string[] = []
    let publishing = true
    const publisher = (async () => {
      for (let index = 0; publishing || index < 50; index++) {
        const result = await publish(
          hubOf(index % 2 === 0 ? b : c),
          [
            ['topic', topic],
            ['data', String(index)],
          ],
          token,
        )
        published.push(result.body)
        await new Promise((resolve) => setTimeout(resolve, 5))
      }
    })()
    await Promise.all(victims.map((victim) => victim.waitFor(10)))
    await doomed.stop('SIGKILL')
    // Each reconnects to a surviving node with the last id it saw.
    const resumed = await Promise.all(
      victims.map((victim, index) =>
        track(
          subscribe(subscribeUrl(index % 2 === 0 ? b : c), {
            'last-event-id': victim.events.at(-1)?.id as string,
          }),
        ),
      ),
    )
    publishing = false
    await publisher
    for (const [index, victim] of victims.entries()) {
      const rest = resumed[index] as Subscription
      const expectedRest = published.length - victim.events.length
      await rest.waitFor(expectedRest, 10_000)
      expect([...ids(victim), ...ids(rest)]).toEqual(published)
    }
  })

  it('Redis restarted during publishing: 503s while it is down, every acknowledged update delivered once, in order', async () => {
    nodes = await startNodes(2)
    const [a, b] = nodes as [GatewayProcess, GatewayProcess]
    const token = await publisherToken()
    const subscriber = await track(subscribe(subscribeUrl(b)))
    // A careful publisher: it names each update, and publishes a refused one again under the same
    // id until the hub says it is stored (200) or was stored already (the duplicate check).
    const acknowledged: string[] = []
    let refused = 0
    let stop = false
    const publisher = (async () => {
      for (let index = 0; !stop; index++) {
        const id = `urn:restart:${index}`
        for (;;) {
          const started = Date.now()
          const result = await publish(
            hubOf(a),
            [
              ['topic', topic],
              ['id', id],
              ['data', String(index)],
            ],
            token,
          )
          const error = result.status === 200 ? undefined : JSON.parse(result.body).error
          if (result.status === 200 || error.code === 'SG_ERR_DUPLICATE_ID') {
            acknowledged.push(id)
            break
          }
          expect(result.status).toBe(503)
          expect(error.code).toBe('SG_ERR_STORE_UNAVAILABLE')
          expect(Date.now() - started).toBeLessThan(1500)
          refused++
          // A lost answer is said to be one, naming the update.
          if (/may have been stored/.test(error.message)) {
            expect(error.message).toContain(id)
          } else expect(error.message).toContain('nothing was stored')
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        await new Promise((resolve) => setTimeout(resolve, 20))
      }
    })()
    await expect.poll(() => acknowledged.length).toBeGreaterThan(10)
    await redis.stop()
    await expect.poll(() => refused, { timeout: 5000 }).toBeGreaterThan(3)
    await redis.restart()
    const countAtRestart = acknowledged.length
    await expect.poll(() => acknowledged.length, { timeout: 15_000 }).toBeGreaterThan(countAtRestart + 10)
    stop = true
    await publisher
    await subscriber.waitFor(acknowledged.length, 15_000)
    expect(ids(subscriber)).toEqual(acknowledged)
  })

  it('a generation started on node A is resumed on node B after the client is cut, and cancelled from node C', async () => {
    const upstream: FakeUpstream = await startFakeUpstream()
    try {
      nodes = await Promise.all(
        Array.from({ length: 3 }, () =>
          startGateway([
            '--store',
            redis.url,
            '--upstream',
            upstream.openaiUrl,
            '--upstream-key',
            UPSTREAM_KEY,
          ]),
        ),
      )
      const [a, b, c] = nodes as [GatewayProcess, GatewayProcess, GatewayProcess]
      upstream.scenario.tokens = Array.from({ length: 200 }, (_, index) => ` t${index}`)
      upstream.scenario.interTokenDelayMs = 30
      const content = (events: ServerSentEvent[]) =>
        events
          .filter((event) => event.data !== '[DONE]')
          .map(
            (event) =>
              (JSON.parse(event.data) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta
                .content ?? '',
          )
          .join('')
      const started = await fetch(`${a.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          model: 'fake-model',
          stream: true,
          messages: [{ role: 'user', content: 'hi' }],
        }),
      })
      const id = started.headers.get('streamgate-generation-id') as string
      const first = await readEvents(started, 11)
      const lastId = first.at(-1)?.id as string

      const resumed = await fetch(`${b.url}/v1/generations/${id}/stream`, {
        headers: { 'last-event-id': lastId },
      })
      expect(resumed.status).toBe(200)
      expect(resumed.headers.get('streamgate-generation-id')).toBe(id)
      const reading = readEvents(resumed)
      await new Promise((resolve) => setTimeout(resolve, 500))
      const state = (await (await fetch(`${c.url}/v1/generations/${id}`)).json()) as {
        state: string
        text: string
      }
      expect(state.state).toBe('streaming')
      expect(state.text.length).toBeGreaterThan(content(first).length)

      const cancelled = (await (
        await fetch(`${c.url}/v1/generations/${id}/cancel`, { method: 'POST' })
      ).json()) as {
        state: string
      }
      expect(cancelled.state).toBe('cancelled')
      const rest = await reading
      expect(rest[0]?.id).toBe(String(Number(lastId) + 1))
      const text = content(first) + content(rest)
      expect(upstream.scenario.tokens.join('').startsWith(text)).toBe(true)
      expect(text.length).toBeGreaterThan(content(first).length)
      expect(text.length).toBeLessThan(upstream.scenario.tokens.join('').length)
      await expect
        .poll(() => upstream.requests.find((request) => request.path === '/v1/chat/completions')?.abortedAt)
        .toBeDefined()
      const final = (await (await fetch(`${b.url}/v1/generations/${id}`)).json()) as {
        state: string
        text: string
        usage: { estimated: boolean }
      }
      expect(final).toMatchObject({ state: 'cancelled', text, usage: { estimated: true } })
    } finally {
      await upstream.close()
    }
  })

  it('a background response started on node A is resumed on node B with starting_after, and is completed for node C; one whose node is killed reads as failed', async () => {
    nodes = await startNodes(3)
    const [a, b, c] = nodes as [GatewayProcess, GatewayProcess, GatewayProcess]
    const client = (node: GatewayProcess) =>
      new OpenAI({ baseURL: `${node.url}/v1`, apiKey: 'unused', maxRetries: 0 })
    const sequence: number[] = []
    let id = ''
    let text = ''
    let deltas = 0
    for await (const event of await client(a).responses.create({
      model: 'any',
      input: 'hi',
      background: true,
      stream: true,
    })) {
      sequence.push(event.sequence_number)
      if (event.type === 'response.created') id = event.response.id
      if (event.type === 'response.output_text.delta') {
        text += event.delta
        if (++deltas === 10) break
      }
    }
    const rest = await client(b).responses.retrieve(id, {
      stream: true,
      starting_after: sequence.at(-1) as number,
    })
    for await (const event of rest) {
      sequence.push(event.sequence_number)
      if (event.type === 'response.output_text.delta') text += event.delta
    }
    expect(sequence).toEqual(sequence.map((_, index) => index))
    const done = await client(c).responses.retrieve(id)
    expect(done).toMatchObject({ id, status: 'completed' })
    expect(done.output_text).toBe(text)

    const orphan = await client(a).responses.create({ model: 'any', input: 'hi', background: true })
    expect((await client(b).responses.retrieve(orphan.id)).status).toBe('in_progress')
    await a.stop('SIGKILL')
    // Node B notices that node A is gone (its presence expires) and ends the response.
    await expect
      .poll(async () => (await client(b).responses.retrieve(orphan.id)).status, {
        timeout: 25_000,
        interval: 500,
      })
      .toBe('failed')
    expect((await client(c).responses.retrieve(orphan.id)).status).toBe('failed')
  }, 40_000)
})
