import { readFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { afterEach, describe, expect, it } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { publish, publisherToken, type Subscription, subscribe } from '../helpers/hub.js'

const gateways: GatewayProcess[] = []
const subscriptions: Subscription[] = []
const sockets: Socket[] = []
afterEach(async () => {
  for (const subscription of subscriptions.splice(0)) subscription.close()
  for (const socket of sockets.splice(0)) socket.destroy()
  await Promise.all(gateways.splice(0).map((gateway) => gateway.stop('SIGKILL')))
})

async function gateway(...args: string[]): Promise<GatewayProcess> {
  const started = await startGateway(args)
  gateways.push(started)
  return started
}

const topicUrl = (gw: GatewayProcess, topic: string) =>
  `${gw.url}/.well-known/mercure?topic=${encodeURIComponent(topic)}`
const rssOf = (pid: number) =>
  Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) * 1024

describe('limits against hostile clients', () => {
  it('--max-connections-per-ip: the request past the limit gets 429 with the reason; a freed slot is usable again', async () => {
    const gw = await gateway('--max-connections-per-ip', '3')
    for (let index = 0; index < 3; index++)
      subscriptions.push(await subscribe(topicUrl(gw, 'https://example.com/a')))
    const refused = await fetch(`${gw.url}/healthz`)
    expect(refused.status).toBe(429)
    expect(refused.headers.get('retry-after')).toBe('5')
    const body = (await refused.json()) as { error: { code: string; message: string } }
    expect(body.error.code).toBe('SG_ERR_TOO_MANY_CONNECTIONS')
    expect(body.error.message).toMatch(/127\.0\.0\.1 already has 3 requests or streams open/)
    subscriptions.pop()?.close()
    await expect.poll(async () => (await fetch(`${gw.url}/healthz`)).status).toBe(200)
  })

  it('--max-topics: a subscription with more selectors gets 429 with the reason', async () => {
    const gw = await gateway('--max-topics', '2')
    const url = `${gw.url}/.well-known/mercure?topic=a&topic=b&topic=c`
    const response = await fetch(url)
    expect(response.status).toBe(429)
    expect(await response.json()).toEqual({
      error: {
        code: 'SG_ERR_TOO_MANY_TOPICS',
        message: 'at most 2 topic selectors per subscription (--max-topics); this one has 3',
      },
    })
    const fine = await subscribe(`${gw.url}/.well-known/mercure?topic=a&topic=b`)
    subscriptions.push(fine)
    expect(fine.response.status).toBe(200)
  })

  it('a slowloris client that sends its headers byte by byte is cut off after --header-timeout', async () => {
    const gw = await gateway('--header-timeout', '1')
    const { port } = new URL(gw.url)
    const socket = connect(Number(port), '127.0.0.1')
    sockets.push(socket)
    let answer = ''
    socket.setEncoding('utf8').on('data', (text: string) => {
      answer += text
    })
    const closed = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())))
    const started = Date.now()
    const request =
      'GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n'
    let index = 0
    const drip = setInterval(() => {
      if (index < request.length && !socket.destroyed) socket.write(request[index++] as string)
    }, 100)
    const closedAt = await closed
    clearInterval(drip)
    expect(closedAt - started).toBeGreaterThanOrEqual(900)
    expect(closedAt - started).toBeLessThan(3500)
    expect(answer).toMatch(/^HTTP\/1\.1 408/)
    // The gateway is fine.
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200)
  })

  it('1,000 subscribers that never read: memory stays bounded, they are cut off, a fast subscriber keeps up', async () => {
    const buffer = 64 * 1024
    const gw = await gateway('--subscriber-buffer', String(buffer), '--heartbeat', '3600')
    const { port } = new URL(gw.url)
    const pid = gw.child.pid as number
    const topic = 'https://example.com/flood'
    const path = `/.well-known/mercure?topic=${encodeURIComponent(topic)}`
    let opened = 0
    for (let index = 0; index < 1000; index++) {
      const socket = connect({
        port: Number(port),
        host: '127.0.0.1',
        localAddress: `127.0.0.${1 + (index % 4)}`,
      })
      socket.once('connect', () => opened++)
      socket.on('error', () => {})
      socket.write(`GET ${path} HTTP/1.1\r\nHost: flood\r\n\r\n`)
      // Never read: the socket is paused from the start.
      socket.pause()
      sockets.push(socket)
    }
    await expect.poll(() => opened, { timeout: 10_000 }).toBe(1000)
    const fast = await subscribe(`${gw.url}${path}`)
    subscriptions.push(fast)
    await expect
      .poll(
        async () =>
          ((await (await fetch(`${gw.url}/healthz`)).json()) as { subscribers: number }).subscribers,
        { timeout: 10_000 },
      )
      .toBe(1001)
    const baseline = rssOf(pid)
    const token = await publisherToken()
    const data = 'x'.repeat(64 * 1024)
    let peak = baseline
    const latencies: number[] = []
    // Each update 64 KiB: the kernel's socket buffers fill first, then each slow subscriber's own
    // buffer, then the slow-subscriber policy cuts it off.
    for (let index = 0; index < 120; index++) {
      const sent = Date.now()
      expect(
        (
          await publish(
            `${gw.url}/.well-known/mercure`,
            [
              ['topic', topic],
              ['data', `${index} ${data}`],
            ],
            token,
          )
        ).status,
      ).toBe(200)
      await fast.waitFor(index + 1, 10_000)
      latencies.push(Date.now() - sent)
      peak = Math.max(peak, rssOf(pid))
    }
    const subscribersLeft = ((await (await fetch(`${gw.url}/healthz`)).json()) as { subscribers: number })
      .subscribers
    expect(subscribersLeft).toBe(1)
    const metrics = await (await fetch(`${gw.url}/metrics`)).text()
    expect(metrics).toMatch(/streamgate_slow_subscriber_disconnects_total 1000/)
    // Documented bound: the per-subscriber buffer for each of them, plus a constant.
    const bound = baseline + 1000 * buffer + 150 * 1024 * 1024
    expect(peak).toBeLessThan(bound)
    latencies.sort((a, b) => a - b)
    expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(250)
    console.log(
      `slow consumers: RSS ${Math.round(baseline / 2 ** 20)} → peak ${Math.round(peak / 2 ** 20)} MiB (bound ${Math.round(bound / 2 ** 20)} MiB); fast subscriber p50 ${latencies[Math.floor(latencies.length / 2)]} ms, max ${latencies.at(-1)} ms`,
    )
  })
})
