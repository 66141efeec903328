import type { IncomingHttpHeaders } from 'node:http'
import net from 'node:net'
import { Readable } from 'node:stream'
import tls from 'node:tls'
import type { BodySink } from './body-sink.js'
import { ChunkedDecoder } from './chunked-decoder.js'

export interface Http1Request {
  method: 'GET' | 'POST'
  /** The path and query, e.g. `/v1/chat/completions`. */
  path: string
  headers: Record<string, string>
  /** The body, or its parts in order (sent as one write, copied once). */
  body?: Buffer | readonly Buffer[]
  signal?: AbortSignal
}

export interface Http1Response {
  status: number
  headers: IncomingHttpHeaders
  /** The body, one `data` event per socket read (all the chunks of that read together). */
  readonly body: Readable
  /**
   * Takes the body instead of `body`, one call per socket read and without a copy: the bytes may
   * be a view of a read buffer that is reused (see BodySink). To stop early, abort the request.
   */
  take(sink: BodySink): void
}

export interface Http1ClientOptions {
  /** Milliseconds an unused keep-alive connection stays open (below common servers' 5 s). */
  idleTimeout?: number
  /** Bytes of a response head at most. */
  maxHeadBytes?: number
  /** Milliseconds a new connection may take to connect (and for https, to shake hands). */
  connectTimeout?: number
  /** Certificate authorities to trust for https instead of Node's (a private upstream's CA). */
  ca?: string | Buffer
}

export class UpstreamProtocolError extends Error {
  readonly code = 'SG_UPSTREAM_PROTOCOL'
}

export class UpstreamConnectError extends Error {
  readonly code = 'SG_UPSTREAM_CONNECT_TIMEOUT'
}

const HEAD_END = Buffer.from('\r\n\r\n')
/** Bytes read at most at once (what libuv reads into a fresh buffer by default). */
const READ_BUFFER_BYTES = 64 * 1024
/** Reads of a body held for a reader that has not chosen how to read it, before the socket pauses. */
const EARLY_READS_AT_MOST = 16
const UNSAFE_HEADER_TEXT = /[\r\n\0]/

/**
 * A keep-alive HTTP/1.1 client for one origin (http or https), made for relaying event streams:
 * the body comes out as one buffer per socket read, however many chunks the read holds. node:http's
 * client emits one stream event per HTTP chunk — one per token from an LLM API — and that cost the
 * proxy more CPU than all of its own work (`npm run bench -- llm`, docs/BENCHMARKS.md).
 *
 * Plain-TCP connections read into one buffer of the client's, reused for every read (`onread`,
 * which node documents for net sockets only): a new buffer per read is memory that V8 counts until
 * the next young collection, and at a proxy's read rate that started a major collection every few
 * hundred milliseconds. Bytes from it are copied wherever they are kept (a head that straddles
 * reads, a `body` stream's queue); a `take`r gets the view itself.
 */
export class Http1Client {
  readonly #url: URL
  readonly #idleTimeout: number
  readonly #maxHeadBytes: number
  readonly #idle: Connection[] = []
  readonly #ca: string | Buffer | undefined
  readonly #connectTimeout: number
  #readBuffer: Buffer | undefined

  constructor(origin: string | URL, options: Http1ClientOptions = {}) {
    this.#url = new URL(origin)
    if (this.#url.protocol !== 'http:' && this.#url.protocol !== 'https:')
      throw new TypeError(`not an http(s) URL: ${this.#url.protocol}`)
    this.#idleTimeout = options.idleTimeout ?? 4000
    this.#maxHeadBytes = options.maxHeadBytes ?? 64 * 1024
    this.#ca = options.ca
    this.#connectTimeout = options.connectTimeout ?? 10_000
  }

  request(request: Http1Request): Promise<Http1Response> {
    const { signal } = request
    if (signal?.aborted) return Promise.reject(signal.reason)
    for (const [name, value] of Object.entries(request.headers)) {
      if (UNSAFE_HEADER_TEXT.test(name) || UNSAFE_HEADER_TEXT.test(value))
        return Promise.reject(new TypeError(`the header ${JSON.stringify(name)} holds a line break`))
    }
    const head = this.#head(request)
    const reused = this.#idle.pop()
    if (reused === undefined) return this.#send(this.#connect(), head, request, false)
    // A server may close an idle connection just as we send on it: then once more on a new one.
    return this.#send(reused, head, request, true).catch((error: unknown) => {
      if (signal?.aborted) throw signal.reason
      if (!(error instanceof StaleConnectionError)) throw error
      return this.#send(this.#connect(), head, request, false)
    })
  }

  /** Closes the unused connections (those in use close when their answers end). */
  close(): void {
    for (const connection of this.#idle.splice(0)) connection.socket.destroy()
  }

  #head({ method, path, headers, body }: Http1Request): Buffer {
    let text = `${method} ${path} HTTP/1.1\r\nhost: ${this.#url.host}\r\n`
    for (const [name, value] of Object.entries(headers)) text += `${name}: ${value}\r\n`
    if (body !== undefined)
      text += `content-length: ${bodyParts(body).reduce((sum, part) => sum + part.length, 0)}\r\n`
    return Buffer.from(`${text}\r\n`, 'latin1')
  }

  #connect(): Connection {
    const { hostname, port, protocol } = this.#url
    const host = hostname.startsWith('[') ? hostname.slice(1, -1) : hostname
    const socket =
      protocol === 'https:'
        ? tls.connect({
            host,
            port: Number(port || 443),
            servername: net.isIP(host) === 0 ? host : undefined,
            ALPNProtocols: ['http/1.1'],
            ...(this.#ca === undefined ? {} : { ca: this.#ca }),
          })
        : net.connect({ host, port: Number(port || 80), onread: this.#reuseReadBuffer() })
    socket.setNoDelay(true)
    // An upstream that drops packets would otherwise hold the request until the OS gives up (minutes).
    const timer = setTimeout(
      () =>
        socket.destroy(
          new UpstreamConnectError(`no connection to ${this.#url.host} within ${this.#connectTimeout} ms`),
        ),
      this.#connectTimeout,
    )
    socket.once(protocol === 'https:' ? 'secureConnect' : 'connect', () => clearTimeout(timer))
    socket.once('close', () => clearTimeout(timer))
    return new Connection(socket)
  }

  /**
   * Reads into the client's buffer, each read given to the socket's `data` listeners (ours only:
   * an exchange or a parked connection's watch), which finish with it before the next read.
   */
  #reuseReadBuffer(): net.OnReadOpts {
    this.#readBuffer ??= Buffer.allocUnsafe(READ_BUFFER_BYTES)
    const buffer = this.#readBuffer
    return {
      buffer,
      callback(this: net.Socket, bytes: number) {
        this.emit('data', buffer.subarray(0, bytes))
        return !this.isPaused()
      },
    }
  }

  #send(
    connection: Connection,
    head: Buffer,
    request: Http1Request,
    reused: boolean,
  ): Promise<Http1Response> {
    const { socket } = connection
    connection.take()
    return new Promise((resolve, reject) => {
      const exchange = new Exchange(
        socket,
        this.#maxHeadBytes,
        resolve,
        (error) => reject(reused && exchange.received === 0 ? new StaleConnectionError(error) : error),
        () => connection.park(this.#idleTimeout, () => this.#idle.push(connection), this.#forget),
        request.signal,
      )
      const { body } = request
      socket.write(body === undefined ? head : Buffer.concat([head, ...bodyParts(body)]))
    })
  }

  readonly #forget = (connection: Connection): void => {
    const at = this.#idle.indexOf(connection)
    if (at !== -1) this.#idle.splice(at, 1)
  }
}

/** A socket, and while it waits in the pool, the listeners that close it. */
class Connection {
  #parked: (() => void) | undefined

  constructor(readonly socket: net.Socket) {}

  /** Into the pool: closed after `idleTimeout` ms, or when the server closes it or sends anything. */
  park(idleTimeout: number, pool: () => void, forget: (connection: Connection) => void): void {
    const { socket } = this
    if (socket.destroyed) return
    const close = () => socket.destroy()
    const closed = () => {
      this.#unpark()
      forget(this)
    }
    socket.unref()
    socket.setTimeout(idleTimeout)
    socket.on('timeout', close)
    socket.on('data', close)
    // An error of an idle connection needs a listener not to crash the process; its close follows.
    socket.on('error', noop)
    socket.on('close', closed)
    this.#parked = () => {
      socket.off('timeout', close)
      socket.off('data', close)
      socket.off('error', noop)
      socket.off('close', closed)
    }
    pool()
  }

  /** Out of the pool, for an exchange. */
  take(): void {
    this.#unpark()
    this.socket.ref()
    this.socket.setTimeout(0)
  }

  #unpark(): void {
    this.#parked?.()
    this.#parked = undefined
  }
}

const noop = () => {}

class StaleConnectionError extends Error {
  constructor(readonly original: unknown) {
    super('the kept-alive connection was closed')
  }
}

enum Phase {
  Head,
  Body,
  Done,
}

/** One request and its response on a connection: parses the head, then frames the body. */
class Exchange {
  /** Bytes of response received. */
  received = 0
  #phase = Phase.Head
  #head: Buffer | undefined
  /** Body bytes still expected (content-length), or -1: chunked, or -2: until the connection closes. */
  #remaining = 0
  #chunked: ChunkedDecoder | undefined
  #keepAlive = false
  /** Where the body goes, once its reader has chosen: a stream (`body`) or a sink (`take`). */
  #reader: BodySink | undefined
  /** The body's bytes (copies) and end, while no reader has chosen yet. */
  #early: Buffer[] = []
  #earlyEnd: Error | null | undefined

  constructor(
    readonly socket: net.Socket,
    readonly maxHeadBytes: number,
    readonly resolve: (response: Http1Response) => void,
    readonly reject: (error: unknown) => void,
    readonly release: () => void,
    readonly signal: AbortSignal | undefined,
  ) {
    socket.on('data', this.#onData)
    socket.on('error', this.#onError)
    socket.on('close', this.#onClose)
    signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  readonly #onData = (bytes: Buffer): void => {
    this.received += bytes.length
    try {
      if (this.#phase === Phase.Head) this.#readHead(bytes)
      else if (this.#phase === Phase.Body) this.#readBody(bytes)
      else throw new UpstreamProtocolError('bytes after the end of the answer')
    } catch (error) {
      this.#fail(error)
    }
  }

  #readHead(bytes: Buffer): void {
    const before = this.#head?.length ?? 0
    const all = this.#head === undefined ? bytes : Buffer.concat([this.#head, bytes])
    // The end may straddle two reads: search from just before this read.
    const end = all.indexOf(HEAD_END, Math.max(0, before - 3))
    if (end === -1) {
      if (all.length > this.maxHeadBytes) throw new UpstreamProtocolError('the response head is too large')
      // Kept until the next read: a copy, the read buffer is reused.
      this.#head = all === bytes ? Buffer.from(bytes) : all
      return
    }
    this.#head = undefined
    const { status, headers, version } = parseHead(all.toString('latin1', 0, end))
    const rest = all.subarray(end + HEAD_END.length)
    // 1xx answers (103 Early Hints) come before the real one.
    if (status >= 100 && status < 200) {
      if (rest.length > 0) this.#readHead(rest)
      return
    }
    const connection = String(headers.connection ?? '').toLowerCase()
    this.#keepAlive = version === '1.1' ? !connection.includes('close') : connection.includes('keep-alive')
    const transferEncoding = String(headers['transfer-encoding'] ?? '').toLowerCase()
    const contentLength = headers['content-length']
    if (status === 204 || status === 304) this.#remaining = 0
    else if (transferEncoding !== '') {
      if (!transferEncoding.endsWith('chunked')) {
        this.#remaining = -2
        this.#keepAlive = false
      } else {
        this.#remaining = -1
        this.#chunked = new ChunkedDecoder()
      }
    } else if (contentLength !== undefined) {
      if (!/^\d{1,15}$/.test(contentLength))
        throw new UpstreamProtocolError('the content-length is not a number')
      this.#remaining = Number(contentLength)
    } else {
      this.#remaining = -2
      this.#keepAlive = false
    }
    this.#phase = Phase.Body
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
    if (this.#remaining === 0) this.#complete()
    else if (rest.length > 0) this.#readBody(rest)
  }

  #readBody(bytes: Buffer): void {
    if (this.#chunked !== undefined) {
      const data = this.#chunked.decode(bytes)
      if (data.length > 0) this.#deliver(data)
      if (this.#chunked.done) this.#complete()
    } else if (this.#remaining === -2) {
      this.#deliver(bytes)
    } else {
      if (bytes.length > this.#remaining)
        throw new UpstreamProtocolError('the body is longer than its content-length')
      this.#remaining -= bytes.length
      this.#deliver(bytes)
      if (this.#remaining === 0) this.#complete()
    }
  }

  #deliver(data: Buffer): void {
    if (this.#reader !== undefined) {
      this.#reader.bytes(data)
      return
    }
    this.#early.push(Buffer.from(data))
    // Nobody reads yet: the upstream waits rather than the gateway's memory filling up.
    if (this.#early.length > EARLY_READS_AT_MOST) this.socket.pause()
  }

  /** The reader has chosen: what came before it, then the rest as it comes. */
  #choose(reader: BodySink): void {
    if (this.#reader !== undefined) throw new Error('the body has already been taken')
    this.#reader = reader
    for (const data of this.#early.splice(0)) reader.bytes(data)
    const end = this.#earlyEnd
    if (end === null) reader.end()
    else if (end !== undefined) reader.error(end)
    else this.socket.resume()
  }

  /** The body as a stream: the bytes it queues are copies (the read buffer is reused). */
  #stream(): Readable {
    const stream = new Readable({
      read: () => {
        if (this.#phase === Phase.Body) this.socket.resume()
      },
      destroy: (error, callback) => {
        // A body dropped before its end takes the connection with it.
        if (this.#phase !== Phase.Done) this.#end(false)
        callback(error)
      },
    })
    this.#choose({
      bytes: (data) => {
        if (!stream.push(Buffer.from(data))) this.socket.pause()
      },
      end: () => stream.push(null),
      error: (error) => stream.destroy(error),
    })
    return stream
  }

  #complete(): void {
    this.#end(this.#keepAlive)
    if (this.#reader === undefined) this.#earlyEnd = null
    else this.#reader.end()
  }

  readonly #onClose = (): void => {
    if (this.#phase === Phase.Body && this.#remaining === -2) this.#complete()
    else
      this.#fail(new UpstreamProtocolError('the upstream closed the connection before the end of its answer'))
  }

  readonly #onError = (error: Error): void => this.#fail(error)

  readonly #onAbort = (): void => {
    this.#fail(this.signal?.reason ?? new Error('aborted'))
  }

  #fail(error: unknown): void {
    if (this.#phase === Phase.Done) return
    const phase = this.#phase
    this.#end(false)
    if (phase === Phase.Head) this.reject(error)
    else if (this.#reader === undefined) this.#earlyEnd = error as Error
    else this.#reader.error(error as Error)
  }

  /** The exchange is over: the connection goes back to the pool, or is closed. */
  #end(reusable: boolean): void {
    this.#phase = Phase.Done
    this.signal?.removeEventListener('abort', this.#onAbort)
    const { socket } = this
    socket.off('data', this.#onData)
    socket.off('close', this.#onClose)
    socket.off('error', this.#onError)
    socket.resume()
    if (reusable) this.release()
    else {
      socket.on('error', noop)
      socket.destroy()
    }
  }
}

function parseHead(text: string): { status: number; version: string; headers: IncomingHttpHeaders } {
  const lines = text.split('\r\n')
  const statusLine = /^HTTP\/1\.([01]) (\d{3})(?: .*)?$/.exec(lines[0] ?? '')
  if (statusLine === null) throw new UpstreamProtocolError('the upstream did not answer in HTTP/1.1')
  const headers: IncomingHttpHeaders = {}
  for (let index = 1; index < lines.length; index++) {
    const line = lines[index] as string
    const colon = line.indexOf(':')
    if (colon <= 0) throw new UpstreamProtocolError('a response header line has no name')
    const name = line.slice(0, colon).toLowerCase()
    const value = line.slice(colon + 1).trim()
    const previous = headers[name]
    if (name === 'set-cookie') headers[name] = [...((previous as string[] | undefined) ?? []), value]
    else headers[name] = previous === undefined ? value : `${previous}, ${value}`
  }
  return { status: Number(statusLine[2]), version: `1.${statusLine[1]}`, headers }
}

/** A request body as its parts, whichever way it was given. */
export function bodyParts(body: Buffer | readonly Buffer[]): readonly Buffer[] {
  return Buffer.isBuffer(body) ? [body] : body
}
