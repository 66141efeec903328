import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { DurableStream, stream } from '@durable-streams/client'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createParser } from '../../src/protocol/parser.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'

// The gateway's Durable Streams routes beyond the conformance suite: who may use them.
let gateway: GatewayProcess

beforeAll(async () => {
  gateway = await startGateway(['--api-key', 'stream-key-1,stream-key-2'])
})

afterAll(async () => {
  await gateway?.stop()
})

describe('durable streams with gateway keys', () => {
  it('refuses every operation without a key, with a 401 and a reason, and accepts either key', async () => {
    const url = `${gateway.url}/v1/stream/keys/${Date.now()}`
    for (const method of ['PUT', 'POST', 'GET', 'HEAD', 'DELETE']) {
      const response = await fetch(url, {
        method,
        headers: { 'content-type': 'text/plain' },
        body: method === 'POST' || method === 'PUT' ? 'x' : undefined,
      })
      expect(response.status, method).toBe(401)
      if (method !== 'HEAD')
        expect(await response.json()).toMatchObject({
          error: { code: 'SG_ERR_UNAUTHORIZED', message: expect.stringMatching(/gateway key/) },
        })
    }
    const wrong = await fetch(url, { method: 'PUT', headers: { authorization: 'Bearer nope' } })
    expect(wrong.status).toBe(401)
    const created = await fetch(url, {
      method: 'PUT',
      headers: { authorization: 'Bearer stream-key-1', 'content-type': 'text/plain' },
      body: 'hello',
    })
    expect(created.status).toBe(201)
    const read = await fetch(url, { headers: { 'x-api-key': 'stream-key-2' } })
    expect(read.status).toBe(200)
    expect(await read.text()).toBe('hello')
  })
})

describe('durable streams through a crash', () => {
  it('1,000 acknowledged producer appends survive SIGKILL: read back once and in order, a resent one is a duplicate', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'streamgate-streams-crash-'))
    const args = ['--store', `sqlite:${join(directory, 'gateway.db')}`]
    let node = await startGateway(args)
    try {
      const url = () => `${node.url}/v1/stream/crash/log`
      expect(
        (await fetch(url(), { method: 'PUT', headers: { 'content-type': 'application/json' } })).status,
      ).toBe(201)
      const send = (seq: number) =>
        fetch(url(), {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            'producer-id': 'writer-1',
            'producer-epoch': '0',
            'producer-seq': String(seq),
          },
          body: JSON.stringify({ seq, text: `message ${seq}` }),
        })
      for (let seq = 0; seq < 1000; seq++) expect((await send(seq)).status).toBe(200)
      await node.stop('SIGKILL')
      node = await startGateway(args)
      const messages: { seq: number }[] = []
      let offset = '-1'
      for (;;) {
        const page = await fetch(`${url()}?offset=${offset}`)
        expect(page.status).toBe(200)
        messages.push(...((await page.json()) as { seq: number }[]))
        offset = page.headers.get('stream-next-offset') as string
        if (page.headers.get('stream-up-to-date') === 'true') break
      }
      expect(messages.map((message) => message.seq)).toEqual(Array.from({ length: 1000 }, (_, seq) => seq))
      const resent = await send(999)
      expect(resent.status).toBe(204)
      expect(resent.headers.get('producer-seq')).toBe('999')
      expect((await send(1000)).status).toBe(200)
    } finally {
      await node.stop()
      rmSync(directory, { recursive: true, force: true })
    }
  })
})

describe('the official client (@durable-streams/client)', () => {
  const key = { authorization: 'Bearer stream-key-1' }

  it.each(['sse', 'long-poll'] as const)(
    'reads live over %s, is cut off, and resumes from its saved offset: nothing lost or repeated',
    async (live) => {
      const url = `${gateway.url}/v1/stream/client/${live}-${Date.now()}`
      const handle = await DurableStream.create({ url, contentType: 'application/json', headers: key })
      // One append per message, as the client sends them.
      const append = async (from: number, to: number) => {
        for (let n = from; n < to; n++) await handle.append(JSON.stringify({ n }))
      }
      await append(0, 5)
      const seen: number[] = []
      let saved: string | undefined
      const first = new AbortController()
      const reading = await stream<{ n: number }>({
        url,
        headers: key,
        offset: '-1',
        live,
        signal: first.signal,
      })
      reading.subscribeJson(async (batch) => {
        seen.push(...batch.items.map((item) => item.n))
        saved = batch.offset
      })
      await expect.poll(() => seen.length).toBe(5)
      // Live: appended while it reads.
      await append(5, 8)
      await expect.poll(() => seen.length).toBe(8)
      first.abort()
      // Appended while it is away.
      await append(8, 12)
      const again = await stream<{ n: number }>({ url, headers: key, offset: saved, live })
      again.subscribeJson(async (batch) => {
        seen.push(...batch.items.map((item) => item.n))
      })
      await append(12, 15)
      await expect.poll(() => seen.length, { timeout: 10_000 }).toBe(15)
      expect(seen).toEqual(Array.from({ length: 15 }, (_, index) => index))
      again.cancel()
    },
  )
})

describe('SSE catch-up of a large stream', () => {
  it('sends 3 MiB of history page by page, at the pace of the reader, without cutting it off', async () => {
    const key = { authorization: 'Bearer stream-key-1' }
    const url = `${gateway.url}/v1/stream/large/${Date.now()}`
    await fetch(url, { method: 'PUT', headers: { ...key, 'content-type': 'text/plain' } })
    const chunk = 'x'.repeat(64 * 1024)
    for (let index = 0; index < 48; index++)
      await fetch(url, { method: 'POST', headers: { ...key, 'content-type': 'text/plain' }, body: chunk })
    const response = await fetch(`${url}?offset=-1&live=sse`, { headers: key })
    let received = 0
    let upToDate = false
    const parser = createParser({
      onEvent: (event) => {
        if (event.event === 'data') received += event.data.length
        else if (JSON.parse(event.data).upToDate === true) upToDate = true
      },
    })
    const reader = (response.body as ReadableStream<Uint8Array>).getReader()
    while (!upToDate) {
      const { value, done } = await reader.read()
      if (done) break
      parser.feed(value)
      // A slow reader: the server must wait for it, not cut it off.
      await new Promise((resolve) => setTimeout(resolve, 1))
    }
    await reader.cancel()
    expect(upToDate).toBe(true)
    expect(received).toBe(48 * 64 * 1024)
  })
})

describe('read capability URLs', () => {
  const key = { authorization: 'Bearer stream-key-1' }
  const mint = (body: unknown, headers: Record<string, string> = key) =>
    fetch(`${gateway.url}/v1/stream-capabilities`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })

  it('let a holder of no key read one stream, and do nothing else', async () => {
    const path = `/v1/stream/capability/${Date.now()}`
    await fetch(`${gateway.url}${path}`, {
      method: 'PUT',
      headers: { ...key, 'content-type': 'application/json' },
      body: '[{"n":1},{"n":2}]',
    })
    const minted = await mint({ path, expiresIn: 600 })
    expect(minted.status).toBe(201)
    const { url, expiresAt } = (await minted.json()) as { url: string; expiresAt: string }
    expect(Date.parse(expiresAt) - Date.now()).toBeGreaterThan(590_000)
    expect((await fetch(url)).status).toBe(200)
    expect((await fetch(url, { method: 'HEAD' })).status).toBe(200)
    // The official client adds its own parameters to the URL; the capability still holds.
    const read = await stream<{ n: number }>({ url, offset: '-1', live: false })
    expect(await read.json()).toEqual([{ n: 1 }, { n: 2 }])
    // Not for writing, nor for another stream, nor tampered with.
    const write = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"n":3}',
    })
    expect(write.status).toBe(401)
    const other = new URL(url)
    other.pathname = `${path}-other`
    expect((await fetch(other)).status).toBe(401)
    const tampered = new URL(url)
    tampered.searchParams.set('sg_expires', String(Number(tampered.searchParams.get('sg_expires')) + 3600))
    const refused = await fetch(tampered)
    expect(refused.status).toBe(401)
    expect(((await refused.json()) as { error: { message: string } }).error.message).toMatch(
      /not valid for this stream/,
    )
  })

  it('expire, and are minted only with a key, for a stream path, for at most seven days', async () => {
    const path = `/v1/stream/capability/short-${Date.now()}`
    await fetch(`${gateway.url}${path}`, { method: 'PUT', headers: { ...key, 'content-type': 'text/plain' } })
    const { url } = (await (await mint({ path, expiresIn: 1 })).json()) as { url: string }
    expect((await fetch(url)).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 2100))
    const expired = await fetch(url)
    expect(expired.status).toBe(401)
    expect(((await expired.json()) as { error: { message: string } }).error.message).toMatch(/expired/)
    expect((await mint({ path }, {})).status).toBe(401)
    expect((await mint({ path: '/v1/chat/completions' })).status).toBe(400)
    expect((await mint({ path, expiresIn: 8 * 24 * 3600 })).status).toBe(400)
  })
})

describe('live readers per stream (--stream-readers 2)', () => {
  it('refuses a third live reader with 429, and takes one again once a reader leaves', async () => {
    const small = await startGateway(['--stream-readers', '2', '--stream-long-poll', '1'])
    try {
      const url = `${small.url}/v1/stream/readers`
      await fetch(url, { method: 'PUT', headers: { 'content-type': 'text/plain' } })
      const readers = [new AbortController(), new AbortController()]
      for (const reader of readers)
        expect((await fetch(`${url}?offset=now&live=sse`, { signal: reader.signal })).status).toBe(200)
      const third = await fetch(`${url}?offset=now&live=sse`)
      expect(third.status).toBe(429)
      expect(third.headers.get('retry-after')).toBe('1')
      expect((await fetch(`${url}?offset=now&live=long-poll`)).status).toBe(429)
      // Catch-up reads are not live readers.
      expect((await fetch(`${url}?offset=-1`)).status).toBe(200)
      readers[0]?.abort()
      await expect
        .poll(async () => {
          const again = await fetch(`${url}?offset=now&live=long-poll`)
          await again.arrayBuffer()
          return again.status
        })
        .toBe(204)
      readers[1]?.abort()
    } finally {
      await small.stop()
    }
  })
})

describe('stream limits (--stream-max-bytes 1KiB, --max-streams 3)', () => {
  it('refuses an append past the bytes bound with 413, and a fourth stream with 507, each with a reason', async () => {
    const small = await startGateway(['--stream-max-bytes', '1KiB', '--max-streams', '3'])
    try {
      const url = (name: string) => `${small.url}/v1/stream/limits/${name}`
      const put = (name: string, body?: string) =>
        fetch(url(name), { method: 'PUT', headers: { 'content-type': 'text/plain' }, body })
      const post = (name: string, body: string) =>
        fetch(url(name), { method: 'POST', headers: { 'content-type': 'text/plain' }, body })
      expect((await put('a', 'x'.repeat(1000))).status).toBe(201)
      expect((await post('a', 'y'.repeat(24))).status).toBe(204)
      const full = await post('a', 'z')
      expect(full.status).toBe(413)
      expect(await full.json()).toMatchObject({
        error: {
          code: 'SG_ERR_STREAM_FULL',
          message: expect.stringMatching(/holds 1024 bytes.*--stream-max-bytes/),
        },
      })
      // Nothing of it was appended; a close still goes through.
      expect(await (await fetch(`${url('a')}?offset=-1`)).text()).toBe(`${'x'.repeat(1000)}${'y'.repeat(24)}`)
      expect((await fetch(url('a'), { method: 'POST', headers: { 'stream-closed': 'true' } })).status).toBe(
        204,
      )
      expect((await put('too-big', 'x'.repeat(1025))).status).toBe(413)
      expect((await put('b')).status).toBe(201)
      expect((await put('c')).status).toBe(201)
      const fourth = await put('d')
      expect(fourth.status).toBe(507)
      expect(await fourth.json()).toMatchObject({
        error: {
          code: 'SG_ERR_TOO_MANY_STREAMS',
          message: expect.stringMatching(/3 streams.*--max-streams/),
        },
      })
      // An existing stream is still answered, and a deleted one makes room.
      expect((await put('c')).status).toBe(200)
      expect((await fetch(url('b'), { method: 'DELETE' })).status).toBe(204)
      expect((await put('d')).status).toBe(201)
    } finally {
      await small.stop()
    }
  })
})
