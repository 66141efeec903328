import type { IncomingHttpHeaders } from 'node:http'
import { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { BodySink } from './body-sink.js'
import type { UpstreamRequest, UpstreamResponse } from './upstream.js'

/** Reads of a body held for a reader that has not chosen how to read it, before the upstream is paused. */
const EARLY_READS_AT_MOST = 16

/**
 * One request through an undici dispatcher (an Agent, a ProxyAgent): undici's handler callbacks,
 * not its streams, so that body bytes go to the relay's sink as llhttp hands them over.
 */
export function dispatchRequest(
  dispatcher: Dispatcher,
  origin: string,
  { path, method, headers, body, signal }: UpstreamRequest,
): Promise<UpstreamResponse> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise((resolve, reject) => {
    const exchange = new Exchange(resolve, reject, signal)
    dispatcher.dispatch(
      {
        origin,
        path,
        method,
        headers,
        body: body === undefined ? null : Buffer.isBuffer(body) ? body : Buffer.concat(body),
      },
      exchange,
    )
  })
}

/** The handler of one exchange: the response head resolves the request; the body goes to its reader. */
class Exchange implements Dispatcher.DispatchHandler {
  #controller: Dispatcher.DispatchController | undefined
  #answered = false
  #finished = false
  #reader: BodySink | undefined
  #early: Buffer[] = []
  #earlyEnd: Error | null | undefined

  constructor(
    readonly resolve: (response: UpstreamResponse) => void,
    readonly reject: (error: unknown) => void,
    readonly signal: AbortSignal,
  ) {
    signal.addEventListener('abort', this.#onAbort, { once: true })
  }

  readonly #onAbort = (): void => {
    this.#controller?.abort(this.signal.reason as Error)
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.#controller = controller
    if (this.signal.aborted) controller.abort(this.signal.reason as Error)
  }

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    status: number,
    headers: IncomingHttpHeaders,
  ): void {
    // An interim answer (103 Early Hints): the real one follows.
    if (status < 200) return
    this.#answered = true
    let body: Readable | undefined
    const exchange = this
    this.resolve({
      status,
      headers,
      get body() {
        body ??= exchange.#stream()
        return body
      },
      take: (sink) => this.#choose(sink),
    })
  }

  /** Each HTTP chunk — one per token from an LLM API — as a view of the socket read it came in. */
  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.#reader !== undefined) {
      this.#reader.bytes(chunk)
      return
    }
    this.#early.push(chunk)
    if (this.#early.length > EARLY_READS_AT_MOST) controller.pause()
  }

  onResponseEnd(): void {
    this.#done()
    if (this.#reader === undefined) this.#earlyEnd = null
    else this.#reader.end()
  }

  onResponseError(_controller: Dispatcher.DispatchController, error: Error): void {
    this.#done()
    if (!this.#answered) this.reject(error)
    else if (this.#reader === undefined) this.#earlyEnd = error
    else this.#reader.error(error)
  }

  #done(): void {
    this.#finished = true
    this.signal.removeEventListener('abort', this.#onAbort)
  }

  #choose(reader: BodySink): void {
    if (this.#reader !== undefined) throw new Error('the body has already been taken')
    this.#reader = reader
    for (const data of this.#early.splice(0)) reader.bytes(data)
    const end = this.#earlyEnd
    if (end === null) reader.end()
    else if (end !== undefined) reader.error(end)
    else this.#controller?.resume()
  }

  #stream(): Readable {
    const stream = new Readable({
      read: () => this.#controller?.resume(),
      destroy: (error, callback) => {
        if (!this.#finished) this.#controller?.abort(error ?? new Error('the body was dropped'))
        callback(error)
      },
    })
    this.#choose({
      bytes: (data) => {
        if (!stream.push(data)) this.#controller?.pause()
      },
      end: () => stream.push(null),
      error: (error) => stream.destroy(error),
    })
    return stream
  }
}
