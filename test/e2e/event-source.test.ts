/**
 * The web-platform-tests `eventsource/` suite, ported to our EventSource in Node, against a local
 * server that reproduces each test's resources (test/helpers/wpt-server.ts).
 *
 * Ported: eventsource-constructor-url-bogus, -stringify, eventsource-prototype, -eventtarget,
 * -onopen, -onmessage, -close (both tests), -reconnect (both), -request-cancellation, -url,
 * -readyState, event-data, format-bom, format-bom-2, format-comments,
 * format-data-before-final-empty-line, format-field-data, format-field-event, -event-empty,
 * format-field-id, -id-2, -id-3, -id-null, format-field-retry, -retry-bogus, format-mime-valid-bogus,
 * format-null-character, format-utf-8, request-accept, request-cache-control, request-redirect,
 * request-status-error, request-credentials (the withCredentials attribute and credentials mode).
 *
 * Not applicable outside a browser: eventsource-constructor-empty-url and -document-domain (need a
 * document base URL), -non-same-origin, -cross-origin, -cross-origin-preflight and the cookie half of
 * request-credentials (CORS and cookies are the browser's fetch policy, not the EventSource's),
 * eventsource-onmessage-trusted (isTrusted is true only for events the browser itself creates),
 * -onmessage-realm, -url-multi-window, -bfcache, dedicated-worker/ and shared-worker/ (realms,
 * documents and workers), eventsource-from-readable-stream* (a proposal, not in the standard).
 */
import { EventSource as PeerEventSource } from 'eventsource'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { EventSource } from '../../src/client/event-source.js'
import { startWptServer } from '../helpers/wpt-server.js'

let server: Awaited<ReturnType<typeof startWptServer>>
let nextId = 0
const uniqueId = () => `${Date.now()}-${nextId++}`

beforeAll(async () => {
  server = await startWptServer()
})

afterAll(async () => {
  await server.close()
})

interface Entry {
  type: string
  data?: string
  lastEventId?: string
  readyState: number
}

type AnySource = EventSource | PeerEventSource

/** Records open, error, message and the named events until `done` says so (or 5 s pass), then closes. */
function record(
  source: AnySource,
  done: (log: Entry[]) => boolean,
  named: string[] = [],
  timeoutMs = 5000,
): Promise<Entry[]> {
  return new Promise((resolve) => {
    const log: Entry[] = []
    const finish = () => {
      source.close()
      resolve(log)
    }
    const timer = setTimeout(finish, timeoutMs)
    for (const type of ['open', 'error', 'message', ...named]) {
      source.addEventListener(type, (event: Event) => {
        const entry: Entry = { type, readyState: source.readyState }
        if (event instanceof MessageEvent)
          Object.assign(entry, { data: event.data, lastEventId: event.lastEventId })
        log.push(entry)
        if (done(log)) {
          clearTimeout(timer)
          finish()
        }
      })
    }
  })
}

const messages = (log: Entry[]) => log.filter((entry) => entry.type !== 'open' && entry.type !== 'error')
const hasMessages = (count: number) => (log: Entry[]) => messages(log).length >= count
const endsInError = (log: Entry[]) =>
  log.at(-1)?.type === 'error' && log.at(-1)?.readyState === EventSource.CLOSED
const message = (query: string) => `${server.url}/message?${query}`

describe('the EventSource interface', () => {
  it('throws a SyntaxError for a URL that does not parse (eventsource-constructor-url-bogus)', () => {
    expect(() => new EventSource('http://this is invalid/')).toThrow(
      expect.objectContaining({ name: 'SyntaxError' }),
    )
    expect(() => new EventSource('not a url')).toThrow(DOMException)
  })

  it('stringifies its URL argument and reports it resolved (eventsource-constructor-stringify, -url)', () => {
    const source = new EventSource({ toString: () => `${server.url}/message?x` } as unknown as string)
    expect(source.url).toBe(`${server.url}/message?x`)
    source.close()
  })

  it('has the constants on the constructor and the prototype (eventsource-prototype)', () => {
    expect([EventSource.CONNECTING, EventSource.OPEN, EventSource.CLOSED]).toEqual([0, 1, 2])
    expect([
      EventSource.prototype.CONNECTING,
      EventSource.prototype.OPEN,
      EventSource.prototype.CLOSED,
    ]).toEqual([0, 1, 2])
    const source = new EventSource(message(''))
    expect(source).toBeInstanceOf(EventTarget)
    expect(source.readyState).toBe(source.CONNECTING)
    expect(source.withCredentials).toBe(false)
    expect(source.onopen).toBeNull()
    source.close()
    expect(new EventSource(message(''), { withCredentials: true }).withCredentials).toBe(true)
  })

  it('fires open with readyState OPEN, then message, to handlers and listeners (-onopen, -onmessage, -eventtarget)', async () => {
    const source = new EventSource(message(''))
    const seen: string[] = []
    source.onopen = function (this: EventSource) {
      seen.push(`onopen:${this.readyState}`)
    }
    source.addEventListener('message', (event) => seen.push(`listener:${(event as MessageEvent).data}`))
    const done = new Promise<void>((resolve) => {
      source.onmessage = (event) => {
        seen.push(`onmessage:${(event as MessageEvent).data}`)
        resolve()
      }
    })
    await done
    source.close()
    expect(seen).toEqual(['onopen:1', 'listener:data', 'onmessage:data'])
  })

  it('close() makes readyState CLOSED at once and fires nothing more (-close, -request-cancellation)', async () => {
    const source = new EventSource(`${server.url}/hang`)
    const log = record(source, () => false, [], 500)
    await new Promise((resolve) => source.addEventListener('open', resolve))
    source.close()
    expect(source.readyState).toBe(EventSource.CLOSED)
    expect((await log).map((entry) => entry.type)).toEqual(['open'])
  })

  it('reconnects after the end of stream, firing error with CONNECTING, and stops at 204 (-close, test events)', async () => {
    const log = await record(new EventSource(`${server.url}/reconnect-fail?id=${uniqueId()}`), endsInError)
    expect(log).toEqual([
      { type: 'open', readyState: 1 },
      { type: 'message', data: 'opened', lastEventId: '', readyState: 1 },
      { type: 'error', readyState: 0 },
      { type: 'open', readyState: 1 },
      { type: 'message', data: 'reconnected', lastEventId: '', readyState: 1 },
      { type: 'error', readyState: 0 },
      { type: 'error', readyState: 2 },
    ])
  })

  it('reconnects after an answered stream ends (eventsource-reconnect, both tests)', async () => {
    const log = await record(
      new EventSource(`${server.url}/status-reconnect?status=200&ok_first&id=${uniqueId()}`),
      hasMessages(2),
    )
    expect(log.map(({ type, data, readyState }) => [type, data, readyState])).toEqual([
      ['open', undefined, 1],
      ['message', 'ok', 1],
      ['error', undefined, 0],
      ['open', undefined, 1],
      ['message', 'data', 1],
    ])
  })

  it('goes CONNECTING → OPEN → CONNECTING → CLOSED (eventsource-readyState)', async () => {
    const source = new EventSource(`${server.url}/reconnect-fail?id=${uniqueId()}`)
    expect(source.readyState).toBe(0)
    const log = await record(source, endsInError)
    expect([...new Set(log.map((entry) => entry.readyState))]).toEqual([1, 0, 2])
  })
})

describe('the event stream format', () => {
  // [name, query, expected events or a check, how many events to wait for]
  const formatCases: [string, string, Entry[] | ((log: Entry[]) => void), number?][] = [
    [
      'event-data',
      'message=data%3Ax%0Adata%0Adata%3A%20y',
      [{ type: 'message', data: 'x\n\ny', lastEventId: '', readyState: 1 }],
    ],
    [
      'format-bom',
      'message=%EF%BB%BFdata%3A1%0A%0A%EF%BB%BFdata%3A2%0A%0Adata%3A3',
      (log) => expect(messages(log).map((entry) => entry.data)).toEqual(['1', '3']),
      2,
    ],
    [
      'format-comments',
      'message=%3Acomment%0A%3A%0Adata%3Ax%0A%3Aanother',
      (log) => expect(messages(log).map((entry) => entry.data)).toEqual(['x']),
    ],
    [
      'format-data-before-final-empty-line',
      'message=data%3Atest%0A%0Adata%3Aincomplete&newline=none',
      (log) => expect(messages(log).map((entry) => entry.data)).toEqual(['test']),
    ],
    [
      'format-field-data',
      'message=data%3A%3Atest%0Adata%3A%20%3Atest',
      (log) => expect(messages(log)[0]?.data).toBe(':test\n:test'),
    ],
    [
      'format-field-event',
      'message=event%3Atest%0Adata%3Ax%0A%0Adata%3Ax',
      (log) => expect(messages(log).map((entry) => entry.type)).toEqual(['test', 'message']),
      2,
    ],
    [
      'format-field-event-empty',
      'message=event%3A%20%0Adata%3Adata',
      (log) => expect(messages(log)[0]?.type).toBe('message'),
    ],
    [
      'format-field-id',
      'message=id%3A%20%E2%80%A6%0Adata%3Ax',
      (log) => expect(messages(log)[0]?.lastEventId).toBe('…'),
    ],
    [
      'format-field-id-null',
      'message=id%3A%201%00%0Adata%3Ax',
      (log) => expect(messages(log)[0]?.lastEventId).toBe(''),
    ],
    ['format-null-character', 'message=data%3A%00%0A%0A', (log) => expect(messages(log)[0]?.data).toBe('\0')],
    [
      'format-utf-8',
      'message=data%3A%20%C3%A9%E6%9D%B1%F0%9F%98%80',
      (log) => expect(messages(log)[0]?.data).toBe('é東😀'),
    ],
  ]

  describe.each(['whole', 'bytes', 'crlf'])('delivered %s', (chunking) => {
    it.each(formatCases)('%s', async (_name, query, expected, count = 1) => {
      const wanted = Array.isArray(expected) ? expected.length : count
      const log = await record(
        new EventSource(message(`${query}&chunking=${chunking}`)),
        (entries) => messages(entries).length >= wanted && query.includes('newline=none') === false,
        ['test'],
        query.includes('newline=none') ? 800 : 5000,
      )
      if (Array.isArray(expected)) expect(messages(log)).toEqual(expected)
      else expected(log)
    })
  })

  it('sends Last-Event-ID on reconnection and keeps the id (format-field-id-2)', async () => {
    const log = await record(new EventSource(`${server.url}/last-event-id`), hasMessages(3))
    expect(messages(log).map(({ data, lastEventId }) => [data, lastEventId])).toEqual([
      ['hello', '…'],
      ['…', '…'],
      ['…', '…'],
    ])
    expect(server.requests.at(-1)?.headers['last-event-id']).toBe(Buffer.from('…').toString('latin1'))
  })

  it.each([
    ['1', 'persists', ['1', '1']],
    ['2', 'changes and persists', ['1', '2', '2']],
    ['3', 'resets', ['1', '', '']],
  ])(
    'keeps the last event ID across a reconnection: type %s %s (format-field-id-3)',
    async (type, _name, ids) => {
      const log = await record(
        new EventSource(`${server.url}/last-event-id2?type=${type}`),
        hasMessages(ids.length),
      )
      expect(messages(log).map((entry) => entry.lastEventId)).toEqual(ids)
    },
  )

  it('waits the retry it was given before reconnecting (format-field-retry, -retry-bogus)', async () => {
    for (const [query, expectedMs] of [
      ['message=retry%3A300%0Adata%3Ax', 300],
      ['message=retry%3A300%0Aretry%3A1000x%0Adata%3Ax', 300],
    ] as const) {
      const opens: number[] = []
      const source = new EventSource(message(query))
      await new Promise<void>((resolve) => {
        source.onopen = () => {
          opens.push(performance.now())
          if (opens.length === 2) resolve()
        }
      })
      source.close()
      const waited = (opens[1] ?? 0) - (opens[0] ?? 0)
      expect(waited).toBeGreaterThanOrEqual(expectedMs * 0.9)
      expect(waited).toBeLessThan(expectedMs + 500)
    }
  })
})

describe('the request', () => {
  it('sends Accept: text/event-stream and Cache-Control: no-cache (request-accept, request-cache-control)', async () => {
    for (const [name, expected] of [
      ['accept', 'text/event-stream'],
      ['cache-control', 'no-cache'],
    ]) {
      const log = await record(new EventSource(`${server.url}/echo-header?name=${name}`), hasMessages(1))
      expect(messages(log)[0]?.data).toBe(expected)
    }
  })

  it('sends extension headers and uses an extension fetch', async () => {
    let used = false
    const source = new EventSource(`${server.url}/echo-header?name=authorization`, {
      headers: { authorization: 'Bearer abc' },
      fetch: (input, init) => {
        used = true
        return fetch(input, init)
      },
    })
    const log = await record(source, hasMessages(1))
    expect(messages(log)[0]?.data).toBe('Bearer abc')
    expect(used).toBe(true)
  })

  it.each(['301', '302', '303', '307'])(
    'follows a %s redirect and opens (request-redirect)',
    async (status) => {
      const log = await record(new EventSource(`${server.url}/redirect?status=${status}`), hasMessages(1))
      expect(log.map((entry) => entry.type)).toEqual(['open', 'message'])
    },
  )

  it.each(['204', '205', '210', '299', '404', '410', '503'])(
    'fails without reconnecting on status %s (request-status-error)',
    async (status) => {
      const log = await record(new EventSource(`${server.url}/status-error?status=${status}`), endsInError)
      expect(log).toEqual([{ type: 'error', readyState: EventSource.CLOSED }])
    },
  )

  it('fails on a wrong content type with a plain Event (format-mime-valid-bogus)', async () => {
    const source = new EventSource(message('mime=text/x-bogus'))
    const event = await new Promise<Event>((resolve) => {
      source.onerror = resolve
    })
    expect(source.readyState).toBe(EventSource.CLOSED)
    expect(event).not.toBeInstanceOf(MessageEvent)
    expect([event.bubbles, event.cancelable]).toEqual([false, false])
  })
})

describe('differential against the eventsource package', () => {
  const scenarios = [
    'message=data%3Ax%0Adata%0Adata%3A%20y&chunking=bytes',
    'message=%EF%BB%BFdata%3A1%0A%0A%EF%BB%BFdata%3A2%0A%0Adata%3A3&chunking=crlf',
    'message=event%3Atest%0Adata%3Ax%0A%0Aid%3A%207%0Adata%3Ay&chunking=bytes',
    'message=data%3A%20%C3%A9%E6%9D%B1%F0%9F%98%80',
  ]

  it.each(scenarios)('gives the same events for %s', async (query) => {
    const ours = await record(new EventSource(message(query)), hasMessages(2), ['test'], 1500)
    const theirs = await record(new PeerEventSource(message(query)), hasMessages(2), ['test'], 1500)
    const shape = (log: Entry[]) =>
      messages(log).map(({ type, data, lastEventId }) => ({ type, data, lastEventId }))
    expect(shape(ours)).toEqual(shape(theirs))
    expect(shape(ours).length).toBeGreaterThan(0)
  })

  it('agrees on status errors and reconnection', async () => {
    const id = uniqueId()
    const ours = await record(new EventSource(`${server.url}/reconnect-fail?id=a${id}`), endsInError)
    const theirs = await record(new PeerEventSource(`${server.url}/reconnect-fail?id=b${id}`), endsInError)
    const types = (log: Entry[]) => log.map(({ type, data }) => `${type}${data ? `:${data}` : ''}`)
    expect(types(ours)).toEqual(types(theirs))
  })
})
