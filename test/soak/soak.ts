import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createParser } from '../../src/protocol/parser.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { publisherToken } from '../helpers/hub.js'
import { freePort, type RedisProcess, startRedis } from '../helpers/redis-server.js'

export interface SoakOptions {
  subscribers: number
  updates: number
  /** Gateway restarts (SIGTERM, then start again on the same port and sqlite file) while publishing. */
  restarts: number
  /** Bound on the whole run, in milliseconds. */
  timeoutMs: number
  /**
   * Two gateway nodes on Redis instead of one on sqlite: subscribers and the publisher use either
   * node; the chaos is one node killed (SIGKILL) and started again, then Redis restarted.
   */
  cluster?: boolean
}

export interface SoakReport {
  connections: number
  updates: number
  disconnects: number
  restarts: number
  lost: number
  duplicated: number
  outOfOrder: number
  seconds: number
}

const TOPICS = Array.from({ length: 5 }, (_, index) => `https://example.com/soak/${index}`)
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))
const random = (min: number, max: number) => min + Math.random() * (max - min)

/**
 * Chaos: subscribers on one or two topics that drop their connection at random and resume (half
 * with the `Last-Event-ID` header, half with the `lastEventID` query), a publisher at varying rates,
 * and the gateway restarted underneath them. Every subscriber's received ids are then compared with
 * what was acknowledged on its topics: complete, in order, no duplicates.
 */
export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const started = Date.now()
  const deadline = started + options.timeoutMs
  const directory = mkdtempSync(join(tmpdir(), 'streamgate-soak-'))
  const redis: RedisProcess | undefined = options.cluster ? await startRedis() : undefined
  const ports = options.cluster ? [await freePort(), await freePort()] : [await freePort()]
  const argsFor = (port: number) => [
    '--port',
    String(port),
    '--store',
    redis?.url ?? `sqlite:${join(directory, 'hub.db')}`,
    '--history-size',
    '1000000',
    '--heartbeat',
    '2',
  ]
  // startGateway puts --port 0 first; ours comes later and wins.
  const gateways: GatewayProcess[] = await Promise.all(ports.map((port) => startGateway(argsFor(port))))
  const baseOf = (index: number) => `http://127.0.0.1:${ports[index % ports.length]}`
  const token = await publisherToken()
  const acknowledged: { id: string; topic: string }[] = []
  let connections = 0
  let disconnects = 0
  let restarts = 0
  let publishing = true

  interface Subscriber {
    topics: string[]
    received: string[]
    lastId: string
  }
  const subscribers: Subscriber[] = Array.from({ length: options.subscribers }, (_, index) => ({
    topics:
      index % 3 === 0
        ? [TOPICS[index % 5] as string, TOPICS[(index + 1) % 5] as string]
        : [TOPICS[index % 5] as string],
    received: [],
    lastId: 'earliest',
  }))

  async function follow(subscriber: Subscriber, index: number): Promise<void> {
    while (Date.now() < deadline) {
      const caughtUp = !publishing && expectedFor(subscriber).length === subscriber.received.length
      if (caughtUp) return
      const byQuery = index % 2 === 0
      const query = subscriber.topics.map((topic) => `topic=${encodeURIComponent(topic)}`).join('&')
      const base = baseOf(Math.floor(Math.random() * ports.length))
      const url = `${base}/.well-known/mercure?${query}${byQuery ? `&lastEventID=${encodeURIComponent(subscriber.lastId)}` : ''}`
      const abort = new AbortController()
      // Drop at a random moment, as a flaky network would.
      const drop = setTimeout(() => abort.abort(), random(300, 3000))
      try {
        const response = await fetch(url, {
          headers: byQuery ? {} : { 'last-event-id': subscriber.lastId },
          signal: abort.signal,
        })
        if (response.status !== 200 || response.body === null) throw new Error(`status ${response.status}`)
        connections++
        const parser = createParser({
          onEvent: (event) => {
            if (event.id === undefined) return
            subscriber.received.push(event.id)
            subscriber.lastId = event.id
          },
        })
        for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
          parser.feed(chunk)
          if (!publishing && expectedFor(subscriber).length === subscriber.received.length) abort.abort()
        }
      } catch {
        // Dropped, or a node (or Redis) is restarting.
      } finally {
        clearTimeout(drop)
        disconnects++
      }
      await sleep(random(20, 300))
    }
  }

  const expectedFor = (subscriber: Subscriber) =>
    acknowledged.filter((update) => subscriber.topics.includes(update.topic)).map((update) => update.id)

  /** sqlite: the gateway restarted (SIGTERM). Redis: a node killed and started again, then Redis restarted. */
  async function chaos(round: number): Promise<void> {
    if (redis === undefined) {
      await gateways[0]?.stop('SIGTERM')
      gateways[0] = await startGateway(argsFor(ports[0] as number))
    } else if (round % 2 === 0) {
      await gateways[1]?.stop('SIGKILL')
      gateways[1] = await startGateway(argsFor(ports[1] as number))
    } else {
      await redis.stop()
      await sleep(500)
      await redis.restart()
    }
  }

  async function publishAll(): Promise<void> {
    const restartEvery = Math.floor(options.updates / (options.restarts + 1))
    for (let number = 0; number < options.updates && Date.now() < deadline; number++) {
      if (number > 0 && number % restartEvery === 0 && restarts < options.restarts) {
        await chaos(restarts)
        restarts++
      }
      const id = `soak-${number}`
      const topic = TOPICS[number % TOPICS.length] as string
      // Retry until acknowledged; a 400 for a known id means an earlier attempt was stored.
      for (;;) {
        const status = await fetch(`${baseOf(number)}/.well-known/mercure`, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams({ topic, id, data: String(number) }),
        }).then(
          async (response) => ({ code: response.status, text: await response.text() }),
          () => ({ code: 0, text: '' }),
        )
        if (status.code === 200 || (status.code === 400 && status.text.includes('SG_ERR_DUPLICATE_ID'))) break
        await sleep(50)
      }
      acknowledged.push({ id, topic })
      // Varying rates: bursts, then pauses.
      if (number % 200 < 150) continue
      await sleep(random(0, 5))
    }
    publishing = false
  }

  try {
    await Promise.all([publishAll(), ...subscribers.map((subscriber, index) => follow(subscriber, index))])
  } finally {
    await Promise.all(gateways.map((gateway) => gateway.stop('SIGTERM')))
    await redis?.dispose()
    rmSync(directory, { recursive: true, force: true })
  }

  let lost = 0
  let duplicated = 0
  let outOfOrder = 0
  for (const subscriber of subscribers) {
    const expected = expectedFor(subscriber)
    const seen = new Set(subscriber.received)
    duplicated += subscriber.received.length - seen.size
    lost += expected.filter((id) => !seen.has(id)).length
    const order = subscriber.received.filter((id, index, all) => all.indexOf(id) === index)
    if (order.join() !== expected.filter((id) => seen.has(id)).join()) outOfOrder++
  }
  return {
    connections,
    updates: acknowledged.length,
    disconnects,
    restarts,
    lost,
    duplicated,
    outOfOrder,
    seconds: Math.round((Date.now() - started) / 1000),
  }
}
