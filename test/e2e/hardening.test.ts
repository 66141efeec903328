import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FakeUpstream, startFakeUpstream, UPSTREAM_KEY } from '../fixtures/fake-llm-upstream.js'
import { type GatewayProcess, runCli, startGateway, TEST_SECRET } from '../helpers/gateway-process.js'
import { publish, publisherToken, subscribe, subscriberToken } from '../helpers/hub.js'
import { rawExchange, rawGet } from '../helpers/raw-http.js'

// Rows of the security review (issue #21), each against a real gateway over loopback.

let upstream: FakeUpstream
let gateway: GatewayProcess
const directory = mkdtempSync(join(tmpdir(), 'streamgate-hardening-'))

beforeAll(async () => {
  upstream = await startFakeUpstream()
  upstream.scenario.tokens = Array.from({ length: 20 }, (_, index) => ` t${index}`)
  gateway = await startGateway([
    '--upstream',
    upstream.openaiUrl,
    '--upstream-key',
    UPSTREAM_KEY,
    '--publish-origin',
    'https://app.example',
  ])
})

afterAll(async () => {
  await gateway?.stop()
  await upstream?.close()
  rmSync(directory, { recursive: true, force: true })
})

const leakyChat = (leaky: GatewayProcess) =>
  fetch(`${leaky.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', messages: [] }),
  })

const chat = (body: string, headers: Record<string, string> = {}) =>
  fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  })

describe('what is public', () => {
  it('/api/info names the upstream without its credentials or query, and the credentials go as Basic', async () => {
    // Credentials and a key in the upstream URL, as an operator in a hurry writes it.
    const withSecrets = new URL(upstream.openaiUrl)
    withSecrets.username = 'model-user'
    withSecrets.password = 'model-secret'
    withSecrets.search = '?api-key=query-secret'
    const leaky = await startGateway(['--upstream', withSecrets.href])
    try {
      const info = await (await fetch(`${leaky.url}/api/info`)).text()
      expect(info).not.toMatch(/model-user|model-secret|query-secret/)
      expect(JSON.parse(info).upstreams.openai).toBe(upstream.openaiUrl)
      // The fake upstream wants its bearer key: its 401 comes back as it is, and shows what it was sent.
      await (await leakyChat(leaky)).text()
      expect(upstream.requests.at(-1)?.headers.authorization).toBe(
        `Basic ${Buffer.from('model-user:model-secret').toString('base64')}`,
      )
      expect(upstream.requests.at(-1)?.path).toBe('/v1/chat/completions?api-key=query-secret')
    } finally {
      await leaky.stop()
    }
  })
})

describe('the pages', () => {
  it('are sent with a content security policy, no framing, no sniffing and no referrer', async () => {
    for (const page of ['/', '/live', '/dashboard']) {
      const response = await fetch(`${gateway.url}${page}`)
      expect(response.status).toBe(200)
      expect(response.headers.get('content-security-policy')).toMatch(
        /default-src 'self'.*frame-ancestors 'none'/,
      )
      expect(response.headers.get('x-frame-options')).toBe('DENY')
      expect(response.headers.get('x-content-type-options')).toBe('nosniff')
      expect(response.headers.get('referrer-policy')).toBe('no-referrer')
      // Nothing inline that the policy would block.
      expect(await response.text()).not.toMatch(/ style=|<script(?![^>]*\ssrc=)|<style|\son[a-z]+=/i)
    }
  })
})

describe('the public counts', () => {
  it('/api/stats and /metrics never name the selectors of a subscription that may see private updates', async () => {
    const inbox = 'https://example.com/users/alice/private-inbox'
    const token = await new SignJWT({ mercure: { subscribe: [inbox] } })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(TEST_SECRET))
    const subscription = new AbortController()
    const response = await fetch(`${gateway.url}/.well-known/mercure?match=${encodeURIComponent(inbox)}`, {
      headers: { authorization: `Bearer ${token}` },
      signal: subscription.signal,
    })
    expect(response.status).toBe(200)
    try {
      const stats = await (await fetch(`${gateway.url}/api/stats`)).text()
      const metrics = await (await fetch(`${gateway.url}/metrics`)).text()
      expect(stats + metrics).not.toMatch(/alice/)
      expect(JSON.parse(stats).latest.subscribersPerTopic['(subscriptions with private access)']).toBe(1)
    } finally {
      subscription.abort()
    }
  })
})

describe('paths that are not in normal form', () => {
  it.each([
    '//evil/metrics',
    '/v1/../metrics',
    '/web/%2e%2e/metrics',
    '/api/%2E%2E/api/stats',
    '/x\\..\\metrics',
  ])('%s is refused with 400, not routed to what it resolves to', async (path) => {
    const [response] = await rawExchange(gateway.url, rawGet(path, { connection: 'close' }))
    expect(response?.status).toBe(400)
    expect(response?.body).toMatch(/not in normal form/)
  })
})

describe('requests that cost the gateway more than they should', () => {
  it('a deeply nested body with stream_options is a 400 on every runtime, not a stack overflow and a 500', async () => {
    const nested = (depth: number) => `${'['.repeat(depth)}${']'.repeat(depth)}`
    const response = await chat(
      `{"model":"m","stream":true,"stream_options":{},"x":${nested(20_000)},"messages":[]}`,
    )
    expect(response.status).toBe(400)
    expect(((await response.json()) as { error: { message: string } }).error.message).toMatch(
      /nests deeper than 256 levels/,
    )
    // Brackets in strings are text, and 255 levels with the body's own are taken.
    const deepEnough = `{"model":"m","stream":true,"x":"${'['.repeat(1000)}","y":${nested(254)},"messages":[]}`
    const taken = await chat(deepEnough)
    expect(taken.status).toBe(200)
    await taken.text()
  })
})

describe('resuming a generation', () => {
  it('takes the Last-Event-ID header over ?last_event_id=, as the hub does (an EventSource reconnecting)', async () => {
    const first = await chat(JSON.stringify({ model: 'm', stream: true, messages: [] }))
    const id = first.headers.get('streamgate-generation-id')
    const events = (await first.text()).match(/^id: \d+$/gm)?.length ?? 0
    expect(events).toBeGreaterThan(10)
    const resumed = await fetch(`${gateway.url}/v1/generations/${id}/stream?last_event_id=2`, {
      headers: { 'last-event-id': String(events - 1) },
    })
    expect((await resumed.text()).match(/^id: \d+$/gm)).toEqual([`id: ${events}`])
  })
})

describe('authorization that ends', () => {
  it('ends a subscription when its token expires, as the reference hub does', async () => {
    const token = await new SignJWT({ mercure: { subscribe: ['*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) + 2)
      .sign(new TextEncoder().encode(TEST_SECRET))
    const started = performance.now()
    const response = await fetch(`${gateway.url}/.well-known/mercure?match=https://example.com/expiring`, {
      headers: { authorization: `Bearer ${token}` },
    })
    expect(response.status).toBe(200)
    await response.text()
    const seconds = (performance.now() - started) / 1000
    expect(seconds).toBeGreaterThan(0.9)
    expect(seconds).toBeLessThan(4)
  })
})

describe('cross-site publishing', () => {
  it('takes a publish authorized by the cookie only from an origin of --publish-origin', async () => {
    const token = await new SignJWT({ mercure: { publish: ['*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(TEST_SECRET))
    const post = (headers: Record<string, string>) =>
      fetch(`${gateway.url}/.well-known/mercure`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body: 'topic=https://example.com/csrf&data=x',
      })
    const cookie = `mercureAuthorization=${token}`
    const elsewhere = await post({ cookie, origin: 'https://evil.example' })
    expect(elsewhere.status).toBe(403)
    expect(await elsewhere.text()).toMatch(/--publish-origin/)
    expect((await post({ cookie })).status).toBe(403)
    expect((await post({ cookie, origin: 'https://app.example' })).status).toBe(200)
    // A bearer token is not sent by a browser on its own: no origin needed.
    expect((await post({ authorization: `Bearer ${token}` })).status).toBe(200)
  })
})

describe('two processes on one sqlite file (an overlapping deploy)', () => {
  it('the second refuses to start with the reason; once the first is gone, it starts', async () => {
    const store = `sqlite:${join(directory, 'hub.db')}`
    const first = await startGateway(['--store', store])
    const second = await runCli(['serve', '--port', '0', '--store', store, '--jwt-secret', TEST_SECRET])
    expect(second.code).toBe(1)
    expect(second.stderr).toMatch(/hub\.db is in use by another process: one gateway per sqlite file/)
    await first.stop()
    const third = await startGateway(['--store', store])
    expect((await fetch(`${third.url}/healthz`)).status).toBe(200)
    await third.stop()
  })
})

describe('presence (--subscriptions)', () => {
  it('connecting and disconnecting cannot push publishers’ updates out of history, nor grow it without bound', async () => {
    const store = `sqlite:${join(directory, 'presence.db')}`
    const args = ['--store', store, '--subscriptions', '--history-size', '50', '--presence-history', '100']
    let hub = await startGateway(args)
    const hubUrl = () => `${hub.url}/.well-known/mercure`
    try {
      const token = await publisherToken()
      for (let index = 0; index < 20; index++)
        expect(
          (
            await publish(
              hubUrl(),
              [
                ['topic', 'https://example.com/real'],
                ['data', `real ${index}`],
              ],
              token,
            )
          ).status,
        ).toBe(200)
      // 60 anonymous subscriptions of 50 selectors come and go: 6,000 presence updates.
      const selectors = Array.from({ length: 50 }, (_, index) => `match=https://example.com/s/${index}`).join(
        '&',
      )
      for (let cycle = 0; cycle < 60; cycle++) {
        const response = await fetch(`${hubUrl()}?${selectors}`)
        expect(response.status).toBe(200)
        await response.body?.cancel()
      }
      // History is trimmed at start (and every minute): after a restart every publisher's update is there.
      await hub.stop()
      hub = await startGateway(args)
      const everything = await subscribe(`${hubUrl()}?match=*`, {
        authorization: `Bearer ${await subscriberToken(['*'])}`,
        'last-event-id': 'earliest',
      })
      const real = (await everything.waitFor(20)).filter((event) => event.data.startsWith('real'))
      expect(real.map((event) => event.data)).toEqual(
        Array.from({ length: 20 }, (_, index) => `real ${index}`),
      )
      // And no more than 100 presence updates are kept, whatever the number of cycles.
      await new Promise((resolve) => setTimeout(resolve, 500))
      everything.close()
      const presence = everything.events.filter((event) => !event.data.startsWith('real'))
      // (One more: this subscription's own, live.)
      expect(presence.length).toBeLessThanOrEqual(101)
      expect(presence.length).toBeGreaterThan(50)
    } finally {
      await hub.stop()
    }
  })
})

describe('selectors that cost more than they should', () => {
  it('a subscription is refused past --max-wildcards, with the count, and accepted within it', async () => {
    const selectors = Array.from(
      { length: 9 },
      (_, index) => `match_urlpattern=${encodeURIComponent(`${'*a'.repeat(7)}*${index}`)}`,
    ).join('&')
    const refused = await fetch(`${gateway.url}/.well-known/mercure?${selectors}`)
    expect(refused.status).toBe(400)
    expect(await refused.json()).toMatchObject({
      error: {
        code: 'SG_ERR_BAD_SELECTOR',
        message: expect.stringMatching(/at most 64 wildcards .*these hold 72/),
      },
    })
    const accepted = await fetch(
      `${gateway.url}/.well-known/mercure?${selectors.split('&').slice(1).join('&')}`,
    )
    expect(accepted.status).toBe(200)
    await accepted.body?.cancel()
  })
})

describe('configuration slips', () => {
  it('refuses an HS256 secret shorter than 32 bytes, and reads a secret file without its final newline', async () => {
    const short = await runCli(['serve', '--port', '0', '--store', 'memory', '--jwt-secret', 'x'])
    expect(short.code).toBe(2)
    expect(short.stderr).toMatch(/--jwt-secret: an HS256 secret needs at least 32 bytes \(this one has 1\)/)
    const file = join(directory, 'secret')
    writeFileSync(file, 'a-secret-of-thirty-two-bytes-yes\n')
    const served = await startGateway(['--jwt-secret', `@${file}`])
    try {
      const minted = await runCli(['token', '--secret', 'a-secret-of-thirty-two-bytes-yes', '--publish', '*'])
      const published = await fetch(`${served.url}/.well-known/mercure`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${minted.stdout.trim()}`,
          'content-type': 'application/x-www-form-urlencoded',
        },
        body: 'topic=t&data=x',
      })
      expect(published.status).toBe(200)
    } finally {
      await served.stop()
    }
  })
})
