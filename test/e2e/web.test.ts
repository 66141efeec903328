import { mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer as createHttpServer } from 'node:http'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Browser, chromium, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FakeUpstream, startFakeUpstream, UPSTREAM_KEY } from '../fixtures/fake-llm-upstream.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { publish, publisherToken, type Subscription, subscribe } from '../helpers/hub.js'
import { CHROMIUM } from '../setup/system-packages.js'

const SCREENSHOTS = 'test-results'
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

let browser: Browser
let upstream: FakeUpstream
let gateway: GatewayProcess

beforeAll(async () => {
  mkdirSync(SCREENSHOTS, { recursive: true })
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] })
  upstream = await startFakeUpstream()
  gateway = await startGateway([
    '--upstream',
    upstream.openaiUrl,
    '--upstream-key',
    UPSTREAM_KEY,
    '--resume-grace',
    '10',
  ])
})

afterAll(async () => {
  await browser?.close()
  await gateway?.stop()
  await upstream?.close()
})

async function newPage(url: string, width = 1000): Promise<Page> {
  const page = await browser.newPage({ viewport: { width, height: 800 } })
  page.on('pageerror', (error) => console.error('page error:', error.message))
  await page.goto(url)
  return page
}

const assistantText = (page: Page) => page.locator('.message.assistant .content').last().innerText()

async function ask(page: Page, text: string): Promise<void> {
  await page.getByLabel('Message').fill(text)
  await page.getByLabel('Message').press('Enter')
}

describe('chat page', () => {
  const tokens = Array.from({ length: 40 }, (_, index) => `word${index} `)
  const answer = tokens.join('').trim()

  it('streams the answer as it arrives, renders it, and shows the upstream in use', async () => {
    upstream.reset()
    upstream.scenario.tokens = tokens
    upstream.scenario.interTokenDelayMs = 40
    const page = await newPage(`${gateway.url}/`)
    await expect.poll(() => page.locator('#upstream').innerText()).toBe(upstream.openaiUrl)
    await expect.poll(() => page.locator('#model').inputValue()).toBe('fake-model')
    await ask(page, 'Say forty words')
    const lengths: number[] = []
    for (let index = 0; index < 5; index++) {
      await sleep(200)
      lengths.push((await assistantText(page)).length)
    }
    expect(new Set(lengths).size).toBeGreaterThanOrEqual(3)
    expect(lengths).toEqual([...lengths].sort((a, b) => a - b))
    await page.locator('.message.assistant.streaming').waitFor({ state: 'detached' })
    expect(await assistantText(page)).toBe(answer)
    await page.screenshot({ path: `${SCREENSHOTS}/chat.png`, fullPage: true })
    await page.setViewportSize({ width: 360, height: 740 })
    await page.screenshot({ path: `${SCREENSHOTS}/chat-360.png`, fullPage: true })
    await page.close()
  })

  it('Stop halts the answer and the upstream request is aborted', async () => {
    upstream.reset()
    upstream.scenario.tokens = tokens
    upstream.scenario.interTokenDelayMs = 100
    const page = await newPage(`${gateway.url}/`)
    await page.getByRole('button', { name: 'New conversation' }).click()
    await ask(page, 'Start and stop')
    await expect.poll(async () => (await assistantText(page)).length).toBeGreaterThan(10)
    await page.getByRole('button', { name: 'Stop' }).click()
    await expect.poll(() => page.locator('.message.assistant .status').last().innerText()).toBe('Stopped.')
    const completion = () => upstream.requests.find((request) => request.path === '/v1/chat/completions')
    await expect.poll(() => completion()?.abortedAt, { timeout: 2000 }).toBeDefined()
    const stoppedAt = await assistantText(page)
    await sleep(500)
    expect(await assistantText(page)).toBe(stoppedAt)
    expect(stoppedAt.length).toBeLessThan(answer.length)
    await page.close()
  })

  it('a reload mid-answer resumes to the same text as an uninterrupted run, with one upstream request', async () => {
    upstream.reset()
    upstream.scenario.tokens = tokens
    upstream.scenario.interTokenDelayMs = 50
    const page = await newPage(`${gateway.url}/`)
    await page.getByRole('button', { name: 'New conversation' }).click()
    await ask(page, 'Survive a reload')
    await expect.poll(async () => (await assistantText(page)).length).toBeGreaterThan(30)
    await page.reload()
    await expect.poll(async () => (await assistantText(page)).length).toBeGreaterThan(0)
    await page.locator('.message.assistant.streaming').waitFor({ state: 'detached', timeout: 10_000 })
    expect(await assistantText(page)).toBe(answer)
    expect(await page.locator('.message.user .content').last().innerText()).toBe('Survive a reload')
    const completions = upstream.requests.filter((request) => request.path === '/v1/chat/completions')
    expect(completions).toHaveLength(1)
    expect(completions[0]?.abortedAt).toBeUndefined()
    await page.close()
  })

  it('a gateway killed mid-answer and restarted: the page keeps every word it showed, then says the answer was interrupted', async () => {
    upstream.reset()
    upstream.scenario.tokens = tokens
    upstream.scenario.interTokenDelayMs = 60
    const directory = mkdtempSync(join(tmpdir(), 'streamgate-chat-restart-'))
    const args = ['--upstream', upstream.openaiUrl, '--upstream-key', UPSTREAM_KEY]
    const store = ['--store', `sqlite:${join(directory, 'gateway.db')}`]
    let node = await startGateway([...args, ...store])
    try {
      const page = await newPage(`${node.url}/`)
      await ask(page, 'Survive a crash')
      await expect.poll(async () => (await assistantText(page)).length).toBeGreaterThan(30)
      await node.stop('SIGKILL')
      const shown = await assistantText(page)
      node = await startGateway([...args, ...store, '--port', new URL(node.url).port])
      await page.locator('.message.assistant.streaming').waitFor({ state: 'detached', timeout: 20_000 })
      const kept = await assistantText(page)
      expect(kept.startsWith(shown)).toBe(true)
      expect(answer.startsWith(kept)).toBe(true)
      expect(await page.locator('.message.assistant .status').last().innerText()).toMatch(
        /^Failed \(the gateway stopped while this answer was streaming\)/,
      )
      await page.reload()
      await expect.poll(() => assistantText(page)).toBe(kept)
      await page.close()
    } finally {
      await node.stop()
      rmSync(directory, { recursive: true, force: true })
    }
  })

  it('renders Markdown and never runs what the model writes', async () => {
    upstream.reset()
    upstream.scenario.tokens = [
      '**bold** and `code`\n\n',
      '<img src=x onerror="window.pwned=1"> ',
      '<script>window.pwned=2</script> ',
      '[click](javascript:window.pwned=3) ',
      '[docs](https://example.com/)',
    ]
    const page = await newPage(`${gateway.url}/`)
    await page.getByRole('button', { name: 'New conversation' }).click()
    await ask(page, 'Try to inject')
    await page.locator('.message.assistant.streaming').waitFor({ state: 'detached' })
    const content = page.locator('.message.assistant .content').last()
    expect(await content.locator('strong').innerText()).toBe('bold')
    expect(await content.locator('code').innerText()).toBe('code')
    expect(await content.locator('img, script').count()).toBe(0)
    expect(await content.locator('a').getAttribute('href')).toBe('https://example.com/')
    expect(await content.innerText()).toContain('<img src=x onerror="window.pwned=1">')
    await content.getByText('[click](javascript:window.pwned=3)').click()
    expect(await page.evaluate(() => (window as { pwned?: number }).pwned)).toBeUndefined()
    await page.close()
  })
})

/** A TCP relay in front of the gateway whose connections the test can cut: "the server drops them". */
async function startRelay(target: URL): Promise<{ url: string; cut(): void; close(): Promise<void> }> {
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const backend = connect(Number(target.port), target.hostname)
    for (const socket of [client, backend]) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      socket.on('error', () => {})
    }
    client.pipe(backend).pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as { port: number }).port
  return {
    url: `http://127.0.0.1:${port}`,
    cut: () => {
      for (const socket of sockets) socket.destroy()
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      }),
  }
}

describe('live events page', () => {
  it('shows the demo stream in both clients and a hub topic that survives a dropped connection', async () => {
    const relay = await startRelay(new URL(gateway.url))
    const topic = 'https://example.com/live-test'
    const page = await newPage(`${relay.url}/live?interval=100&topic=${encodeURIComponent(topic)}`)
    const native = page.locator('#native')
    await expect
      .poll(() => native.locator('[data-field="state"]').innerText(), { timeout: 10_000 })
      .toBe('CLOSED')
    const nativeLog = await native.locator('.log li .type').allInnerTexts()
    expect(nativeLog.reverse()).toEqual(['start', ...Array(10).fill('message'), 'end'])
    await expect.poll(() => page.locator('#fetch [data-field="state"]').innerText()).toBe('ended')
    expect(await page.locator('#fetch .log li').count()).toBe(12)

    const hub = page.locator('#hub')
    await expect.poll(() => hub.locator('[data-field="state"]').innerText()).toBe('OPEN')
    const token = await publisherToken()
    const hubUrl = `${gateway.url}/.well-known/mercure`
    await publish(
      hubUrl,
      [
        ['topic', topic],
        ['data', 'before the drop'],
        ['id', 'live-1'],
      ],
      token,
    )
    await expect.poll(() => hub.locator('.log li').count()).toBe(1)
    relay.cut()
    // Published while the browser is away: its reconnection asks for them with Last-Event-ID.
    await publish(
      hubUrl,
      [
        ['topic', topic],
        ['data', 'while away 1'],
        ['id', 'live-2'],
      ],
      token,
    )
    await publish(
      hubUrl,
      [
        ['topic', topic],
        ['data', 'while away 2'],
        ['id', 'live-3'],
      ],
      token,
    )
    await expect
      .poll(() => hub.locator('[data-field="reconnections"]').innerText(), { timeout: 15_000 })
      .toBe('1')
    await expect.poll(() => hub.locator('.log li').count()).toBe(3)
    expect((await hub.locator('.log li').allInnerTexts()).reverse()).toEqual([
      'message before the drop #live-1',
      'message while away 1 #live-2',
      'message while away 2 #live-3',
    ])
    expect(await hub.locator('[data-field="last-id"]').innerText()).toBe('live-3')
    await page.screenshot({ path: `${SCREENSHOTS}/live.png`, fullPage: true })
    await page.setViewportSize({ width: 360, height: 740 })
    await page.screenshot({ path: `${SCREENSHOTS}/live-360.png`, fullPage: true })
    await page.close()
    await relay.close()
  })

  it('three tabs share one hub connection; closing the leader hands over without losing an update', async () => {
    const topic = 'https://example.com/shared-test'
    const context = await browser.newContext()
    const url = `${gateway.url}/live?shared=1&interval=100&topic=${encodeURIComponent(topic)}`
    const pages = [] as Page[]
    for (let index = 0; index < 3; index++) {
      const page = await context.newPage()
      await page.goto(url)
      pages.push(page)
    }
    const roles = () => Promise.all(pages.map((page) => page.locator('#hub [data-field="role"]').innerText()))
    await expect.poll(async () => (await roles()).sort()).toEqual(['follower', 'follower', 'leader'])
    const subscribersOnTopic = async () =>
      (
        (await (await fetch(`${gateway.url}/api/stats`)).json()) as {
          latest: { subscribersPerTopic: Record<string, number> }
        }
      ).latest.subscribersPerTopic[topic]
    await expect.poll(subscribersOnTopic, { timeout: 5000 }).toBe(1)

    const token = await publisherToken()
    const hubUrl = `${gateway.url}/.well-known/mercure`
    const send = (index: number) =>
      publish(
        hubUrl,
        [
          ['topic', topic],
          ['data', `update ${index}`],
          ['id', `shared-${index}`],
        ],
        token,
      )
    const received = (page: Page) => page.locator('#hub .log li').allInnerTexts()
    for (let index = 1; index <= 3; index++) await send(index)
    for (const page of pages) await expect.poll(async () => (await received(page)).length).toBe(3)

    const leader = pages[(await roles()).indexOf('leader')] as Page
    await leader.close()
    const rest = pages.filter((page) => page !== leader)
    await send(4)
    await send(5)
    await expect
      .poll(async () =>
        (await Promise.all(rest.map((page) => page.locator('#hub [data-field="role"]').innerText()))).sort(),
      )
      .toEqual(['follower', 'leader'])
    await send(6)
    for (const page of rest) {
      await expect.poll(async () => (await received(page)).length, { timeout: 10_000 }).toBe(6)
      expect((await received(page)).reverse()).toEqual(
        [1, 2, 3, 4, 5, 6].map((index) => `message update ${index} #shared-${index}`),
      )
    }
    await expect.poll(subscribersOnTopic, { timeout: 5000 }).toBe(1)
    await context.close()
  })
})

describe('dashboard page', () => {
  it('moves when 50 connections open, and offers the same data as JSON', async () => {
    const page = await newPage(`${gateway.url}/dashboard`)
    await expect.poll(() => page.locator('#status').innerText()).toBe('live')
    const connections = async () => Number((await page.locator('#connections').innerText()).replace(/,/g, ''))
    await expect.poll(connections).toBeGreaterThan(0)
    const subscriptions: Subscription[] = []
    for (let index = 0; index < 50; index++) {
      subscriptions.push(
        await subscribe(
          `${gateway.url}/.well-known/mercure?topic=${encodeURIComponent('https://example.com/dashboard')}`,
        ),
      )
    }
    // The 50, and the dashboard's own stream.
    await expect.poll(connections, { timeout: 5000 }).toBeGreaterThanOrEqual(51)
    await expect
      .poll(() => page.locator('#topics').innerText(), { timeout: 5000 })
      .toContain('https://example.com/dashboard\t50')
    expect(await page.locator('#chart polyline').count()).toBe(2)
    // Durable streams and their live readers.
    const figure = async (id: string) => Number((await page.locator(`#${id}`).innerText()).replace(/,/g, ''))
    const streamsBefore = await figure('streams')
    for (const name of ['one', 'two'])
      await fetch(`${gateway.url}/v1/stream/dashboard/${name}`, { method: 'PUT' })
    // The body is read, and the reader kept, until the figure is seen: an undici that finds a
    // response body nobody reads may collect it and close the connection (Node 26 did).
    const response = await fetch(`${gateway.url}/v1/stream/dashboard/one?offset=now&live=sse`)
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    const reading = reader.read().catch(() => undefined)
    // The dashboard samples once a second.
    await expect.poll(() => figure('streams'), { timeout: 5000 }).toBe(streamsBefore + 2)
    await expect.poll(() => figure('stream-readers'), { timeout: 5000 }).toBeGreaterThanOrEqual(1)
    await reader.cancel()
    await reading
    await page.screenshot({ path: `${SCREENSHOTS}/dashboard.png`, fullPage: true })
    const json = (await (await fetch(`${gateway.url}/api/stats`)).json()) as {
      latest: { connections: number }
      history: unknown[]
    }
    expect(json.latest.connections).toBeGreaterThanOrEqual(51)
    expect(json.history.length).toBeGreaterThan(0)
    for (const subscription of subscriptions) subscription.close()
    await expect.poll(connections, { timeout: 5000 }).toBeLessThan(51)
    await page.setViewportSize({ width: 360, height: 740 })
    await page.screenshot({ path: `${SCREENSHOTS}/dashboard-360.png`, fullPage: true })
    await page.close()
  })
})

describe('durable streams in the browser', () => {
  it("a plain EventSource on another origin reads a stream's SSE mode live, to its close", async () => {
    // The application's page comes from another origin than the gateway (CORS, as deployed).
    const app = createHttpServer((_, response) => {
      response.writeHead(200, { 'content-type': 'text/html' })
      response.end('<!doctype html><title>app</title>')
    })
    app.listen(0, '127.0.0.1')
    await new Promise((resolve) => app.once('listening', resolve))
    const address = app.address() as { port: number }
    const url = `${gateway.url}/v1/stream/browser/${Date.now()}`
    const append = (body: string, headers: Record<string, string> = {}) =>
      fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body })
    expect(
      (
        await fetch(url, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: '[{"n":1},{"n":2}]',
        })
      ).status,
    ).toBe(201)
    const page = await newPage(`http://127.0.0.1:${address.port}/`)
    await page.evaluate((source) => {
      const events: { type: string; data: unknown }[] = []
      Object.assign(window, { events })
      const reader = new EventSource(`${source}?offset=-1&live=sse`)
      for (const type of ['data', 'control'])
        reader.addEventListener(type, (event) => {
          const data = JSON.parse((event as MessageEvent<string>).data)
          events.push({ type, data })
          // A plain EventSource would reconnect to its first URL: the page stops at the end.
          if (type === 'control' && data.streamClosed === true) reader.close()
        })
    }, url)
    const events = () =>
      page.evaluate(() => (window as unknown as { events: { type: string; data: unknown }[] }).events)
    const data = async () =>
      (await events()).filter((event) => event.type === 'data').map((event) => event.data)
    await expect.poll(data, { timeout: 5000 }).toEqual([[{ n: 1 }, { n: 2 }]])
    expect((await events())[1]).toMatchObject({ type: 'control', data: { upToDate: true } })
    expect((await append('{"n":3}')).status).toBe(204)
    await expect.poll(data, { timeout: 5000 }).toEqual([[{ n: 1 }, { n: 2 }], [{ n: 3 }]])
    expect((await append('', { 'stream-closed': 'true' })).status).toBe(204)
    await expect
      .poll(async () => (await events()).at(-1), { timeout: 5000 })
      .toMatchObject({
        type: 'control',
        data: { streamClosed: true, streamNextOffset: expect.stringMatching(/^0+3_/) },
      })
    await page.close()
    app.close()
  })
})
