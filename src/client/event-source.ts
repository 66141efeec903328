import { HttpStatusError } from './errors.js'
import { fetchEventStream } from './fetch-event-stream.js'

export interface EventSourceInit {
  withCredentials?: boolean
  /** Extension: more request headers, e.g. `Authorization` (a browser's EventSource cannot send any). */
  headers?: HeadersInit
  /** Extension: the `fetch` to connect with (a proxy agent, a test double). */
  fetch?: typeof fetch
}

type Handler = ((this: EventSource, event: MessageEvent | Event) => unknown) | null

const CONNECTING = 0
const OPEN = 1
const CLOSED = 2
// Browsers use a few seconds; 3 s as Chromium does.
const DEFAULT_RECONNECTION_TIME = 3000

/**
 * The WHATWG EventSource (https://html.spec.whatwg.org/multipage/server-sent-events.html), for Node
 * and browsers, on top of fetchEventStream: one reconnection loop serves both clients. The second
 * argument may also carry `headers` and `fetch` (extensions).
 */
export class EventSource extends EventTarget {
  static readonly CONNECTING = CONNECTING
  static readonly OPEN = OPEN
  static readonly CLOSED = CLOSED
  declare readonly CONNECTING: 0
  declare readonly OPEN: 1
  declare readonly CLOSED: 2
  declare onopen: Handler
  declare onmessage: Handler
  declare onerror: Handler

  readonly url: string
  readonly withCredentials: boolean
  #readyState: number = CONNECTING
  readonly #abort = new AbortController()

  constructor(url: string | URL, init: EventSourceInit = {}) {
    super()
    let resolved: URL
    try {
      resolved = new URL(String(url), (globalThis as { location?: { href: string } }).location?.href)
    } catch {
      throw new DOMException(`Invalid URL: ${String(url)}`, 'SyntaxError')
    }
    this.url = resolved.href
    this.withCredentials = init.withCredentials === true
    // #run fails the connection on every error of its own: nothing reaches this catch.
    this.#run(init).catch(() => {})
  }

  get readyState(): number {
    return this.#readyState
  }

  close(): void {
    this.#readyState = CLOSED
    this.#abort.abort()
  }

  async #run(init: EventSourceInit): Promise<void> {
    let origin = new URL(this.url).origin
    const headers = new Headers(init.headers)
    headers.set('cache-control', 'no-cache')
    try {
      const events = fetchEventStream(this.url, {
        headers,
        credentials: this.withCredentials ? 'include' : 'same-origin',
        signal: this.#abort.signal,
        fetch: init.fetch,
        reconnect: true,
        retryDelay: DEFAULT_RECONNECTION_TIME,
        jitter: 0,
        // "Fail the connection" on any status but 200: only a broken connection is retried.
        shouldReconnect: ({ error }) => !(error instanceof HttpStatusError),
        onOpen: (response) => {
          origin = new URL(response.url || this.url).origin
          this.#readyState = OPEN
          this.dispatchEvent(new Event('open'))
        },
        onReconnect: () => {
          this.#readyState = CONNECTING
          this.dispatchEvent(new Event('error'))
        },
      })
      for await (const { event, data, lastEventId } of events) {
        if (this.#readyState === CLOSED) return
        this.dispatchEvent(new MessageEvent(event ?? 'message', { data, lastEventId, origin }))
      }
    } catch {
      // Every way out below is "fail the connection".
    }
    if (this.#readyState === CLOSED) return
    this.#readyState = CLOSED
    this.dispatchEvent(new Event('error'))
  }
}

for (const [value, name] of ['CONNECTING', 'OPEN', 'CLOSED'].entries()) {
  Object.defineProperty(EventSource.prototype, name, { value, enumerable: true })
}

// Event handler attributes: one listener each, registered when first set, calling the current handler.
const handlers = new WeakMap<EventSource, Record<string, Handler>>()
for (const type of ['open', 'message', 'error']) {
  Object.defineProperty(EventSource.prototype, `on${type}`, {
    get(this: EventSource) {
      return handlers.get(this)?.[type] ?? null
    },
    set(this: EventSource, handler: Handler) {
      const own = handlers.get(this) ?? {}
      handlers.set(this, own)
      if (!(type in own)) this.addEventListener(type, (event) => own[type]?.call(this, event))
      own[type] = typeof handler === 'function' ? handler : null
    },
    enumerable: true,
    configurable: true,
  })
}
