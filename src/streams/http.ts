import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import type { EventStream, EventStreamOptions } from '../server/event-stream.js'
import { type NodeResponse, sendError, sendJson } from '../server/json-response.js'
import { BodyTooLargeError, readRequestBody } from '../server/request-body.js'
import { requestOrigin } from '../server/request-origin.js'
import { ReadCapabilities } from './capability.js'
import { gone, notFound, readStream } from './http-read.js'
import { JsonBodyError, jsonMessages } from './json-messages.js'
import { LiveStreams } from './live.js'
import { isJson } from './media-type.js'
import { offsetOf } from './offset.js'
import { StreamStoreUnavailableError } from './redis-store.js'
import {
  bad,
  closesStream,
  forkOf,
  header,
  lifetime,
  producerOf,
  StreamRequestError,
} from './request-headers.js'
import { type AppendResult, byteLength, type StreamState, type StreamStore } from './stream-store.js'

type Request = IncomingMessage | Http2ServerRequest

/** Request headers of the protocol (CORS preflights allow them). */
export const STREAM_REQUEST_HEADERS = [
  'Stream-TTL',
  'Stream-Expires-At',
  'Stream-Seq',
  'Stream-Closed',
  'Stream-Forked-From',
  'Stream-Fork-Offset',
  'Stream-Fork-Sub-Offset',
  'Producer-Id',
  'Producer-Epoch',
  'Producer-Seq',
]

/** Response headers of the protocol (CORS exposes them to scripts). */
export const STREAM_RESPONSE_HEADERS = [
  'Stream-Next-Offset',
  'Stream-Cursor',
  'Stream-Up-To-Date',
  'Stream-Closed',
  'Stream-TTL',
  'Stream-Expires-At',
  'Stream-SSE-Data-Encoding',
  'Producer-Epoch',
  'Producer-Seq',
  'Producer-Expected-Seq',
  'Producer-Received-Seq',
  'ETag',
  'Location',
]

export interface StreamsHttpOptions {
  /** Where streams live: `/v1/stream` (the path the official client and conformance suite use). */
  basePath?: string
  /** Largest body of one create or append, in bytes. */
  maxAppendBytes?: number
  maxReadBytes?: number
  longPollMs?: number
  sseMs?: number
  /**
   * Whether the request holds a gateway key. Absent: every request does (open routes, the
   * gateway's choice without keys, on loopback). Without one, only a `GET` or `HEAD` with a valid
   * read capability for its path gets through.
   */
  holdsKey?: (request: Request) => boolean
  /** The signer of read capability URLs (`POST /v1/stream-capabilities`). */
  capabilities?: ReadCapabilities
  /** Live readers (long-polls and SSE) one stream may have at once; past it, `429`. */
  maxLiveReaders?: number
  /** Bytes one stream may store (its own entries); past it, an append is `413`. Absent: no bound. */
  maxStreamBytes?: number
  /** Streams kept at once; past it, a create is `507`. Absent: no bound. */
  maxStreams?: number
  /** Heartbeats, the slow-reader bound and CORS of SSE responses. */
  eventStreamOptions?: EventStreamOptions
  /** Called with each SSE response opened (the gateway tracks them for shutdown and logs). */
  onStream?: (stream: EventStream, request: Request) => void
  /**
   * Path prefixes (as `/generations/`) of streams the gateway writes itself: readable here, never
   * created, appended to or deleted through HTTP (403).
   */
  readOnlyPrefixes?: string[]
}

/** Headers on every answer (PROTOCOL.md §10.7): no sniffing, readable cross-origin by fetch. */
const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'cross-origin',
}

/**
 * The Durable Streams HTTP protocol (PROTOCOL.md §5) over a stream store: `PUT` creates, `POST`
 * appends (and closes), `HEAD` describes, `GET` reads (catch-up, long-poll, SSE), `DELETE` deletes.
 * Returns the handler and a `close` that lets go of the store's listener.
 */
export function createStreamsHandler(store: StreamStore, options: StreamsHttpOptions = {}) {
  const basePath = options.basePath ?? '/v1/stream'
  const maxAppendBytes = options.maxAppendBytes ?? 1024 * 1024
  const { maxStreamBytes: maxBytes, maxStreams } = options
  const live = new LiveStreams(store)
  const readOptions = {
    maxReadBytes: options.maxReadBytes ?? 1024 * 1024,
    longPollMs: options.longPollMs ?? 20_000,
    sseMs: options.sseMs ?? 60_000,
    headers: SECURITY_HEADERS,
    cacheControl: 'public, max-age=60, stale-while-revalidate=300',
    onStream: options.onStream,
    eventStreamOptions: options.eventStreamOptions ?? {},
    maxLiveReaders: options.maxLiveReaders ?? 1000,
  }
  const capabilities = options.capabilities ?? new ReadCapabilities([])

  async function handle(request: Request, response: NodeResponse, url: URL): Promise<void> {
    const path = url.pathname.slice(basePath.length)
    try {
      authorize(request, url)
      if (!/^\/[^/]/.test(path)) throw new StreamRequestError(404, 'SG_ERR_NOT_FOUND', 'no stream path')
      // The reserved control namespace (PROTOCOL.md §6) is never an application stream.
      if (path === '/__ds' || path.startsWith('/__ds/'))
        throw new StreamRequestError(
          404,
          'SG_ERR_NOT_FOUND',
          `${path} is reserved for Durable Streams control APIs`,
        )
      const writes = request.method !== 'GET' && request.method !== 'HEAD'
      if (writes && options.readOnlyPrefixes?.some((prefix) => path.startsWith(prefix)))
        throw new StreamRequestError(
          403,
          'SG_ERR_READ_ONLY_STREAM',
          `${path} is written by the gateway itself: read it, do not write it`,
        )
      switch (request.method) {
        case 'PUT':
          return await create(request, response, path)
        case 'POST':
          return await append(request, response, path)
        case 'GET':
          return await readStream(store, live, readOptions, request, response, path, url)
        case 'HEAD':
          return await describe(response, path)
        case 'DELETE': {
          const deleted = await store.delete(path)
          if (deleted === 'not-found') throw notFound(path)
          if (deleted === 'gone') throw gone(path)
          response.writeHead(204, SECURITY_HEADERS)
          response.end()
          return
        }
        default:
          throw new StreamRequestError(
            405,
            'SG_ERR_METHOD_NOT_ALLOWED',
            `${request.method} is not a stream method`,
          )
      }
    } catch (error) {
      if (error instanceof StreamRequestError) {
        if (request.method === 'HEAD') {
          response.writeHead(error.status, { ...SECURITY_HEADERS, ...error.headers })
          response.end()
        } else
          sendError(response, error.status, error.code, error.message, {
            ...SECURITY_HEADERS,
            ...error.headers,
          })
        return
      }
      if (error instanceof StreamStoreUnavailableError) {
        sendError(response, 503, error.code, error.message, { ...SECURITY_HEADERS, 'retry-after': '1' })
        return
      }
      if (error instanceof BodyTooLargeError || error instanceof JsonBodyError) {
        const status = error instanceof BodyTooLargeError ? 413 : 400
        sendError(response, status, error.code, error.message, SECURITY_HEADERS)
        return
      }
      throw error
    }
  }

  /** A key, or for a read a capability for this very path; a 401 that says which is missing. */
  function authorize(request: Request, url: URL): void {
    if (options.holdsKey?.(request) ?? true) return
    const reads = request.method === 'GET' || request.method === 'HEAD'
    const capability = reads ? capabilities.check(url.pathname, url.searchParams) : 'absent'
    if (capability === 'valid') return
    throw new StreamRequestError(
      401,
      'SG_ERR_UNAUTHORIZED',
      capability === 'expired'
        ? 'the read capability URL has expired'
        : capability === 'invalid'
          ? 'the read capability URL is not valid for this stream'
          : `a valid gateway key is required (Authorization: Bearer <key> or x-api-key)${reads ? ', or a read capability URL' : ''}`,
      { 'www-authenticate': 'Bearer' },
    )
  }

  /**
   * `POST /v1/stream-capabilities` with a key and `{"path": "/v1/stream/…", "expiresIn": seconds}`
   * (default one hour, at most seven days): `201 {"url", "expiresAt"}`, the stream's URL that reads
   * it without a key until then.
   */
  async function mintCapability(request: Request, response: NodeResponse): Promise<void> {
    try {
      if (request.method !== 'POST')
        throw new StreamRequestError(405, 'SG_ERR_METHOD_NOT_ALLOWED', 'mint a read capability with POST')
      if (!(options.holdsKey?.(request) ?? true))
        throw new StreamRequestError(
          401,
          'SG_ERR_UNAUTHORIZED',
          'minting a read capability needs a gateway key',
          {
            'www-authenticate': 'Bearer',
          },
        )
      const body = await readRequestBody(request, 4096)
      let asked: { path?: unknown; expiresIn?: unknown }
      try {
        asked = JSON.parse(body.toString('utf8')) as typeof asked
      } catch {
        throw bad('the body is JSON: {"path": "/v1/stream/…", "expiresIn": seconds}')
      }
      const { path, expiresIn = 3600 } = asked ?? {}
      if (typeof path !== 'string' || !path.startsWith(`${basePath}/`))
        throw bad(`"path" is a stream path under ${basePath}/`)
      if (
        typeof expiresIn !== 'number' ||
        !Number.isInteger(expiresIn) ||
        expiresIn < 1 ||
        expiresIn > MAX_CAPABILITY_SECONDS
      )
        throw bad(`"expiresIn" is a whole number of seconds from 1 to ${MAX_CAPABILITY_SECONDS}`)
      // Rounded up: a capability lasts at least what was asked.
      const expiresAt = Math.ceil(Date.now() / 1000 + expiresIn)
      const url = new URL(path, absoluteUrl(request))
      url.search = capabilities.sign(url.pathname, expiresAt).toString()
      sendJson(
        response,
        201,
        { url: url.href, expiresAt: new Date(expiresAt * 1000).toISOString() },
        SECURITY_HEADERS,
      )
    } catch (error) {
      if (!(error instanceof StreamRequestError) && !(error instanceof BodyTooLargeError)) throw error
      const status = error instanceof StreamRequestError ? error.status : 413
      sendError(response, status, error.code, error.message, {
        ...SECURITY_HEADERS,
        ...(error instanceof StreamRequestError ? error.headers : {}),
      })
    }
  }

  async function create(request: Request, response: NodeResponse, path: string): Promise<void> {
    const fork = forkOf(request.headers, basePath)
    const given = header(request.headers, 'content-type')
    const streamLifetime = lifetime(request.headers)
    const body = await readRequestBody(request, maxAppendBytes)
    // A fork's initial body is in its source's type.
    const source = fork === undefined ? undefined : await store.head(fork.from)
    const contentType = given ?? source?.contentType ?? 'application/octet-stream'
    const entries = isJson(contentType)
      ? body.length === 0
        ? []
        : jsonMessages(body, 'none').map((message) => Buffer.from(message))
      : body.length === 0
        ? []
        : [body]
    const firstBytes = byteLength(entries)
    if (maxBytes !== undefined && firstBytes > maxBytes)
      throw new StreamRequestError(
        413,
        'SG_ERR_STREAM_FULL',
        `the first content (${firstBytes} bytes) is more than a stream may hold: ${maxBytes} (--stream-max-bytes)`,
      )
    // Counted before the create (on Redis, as last refreshed): a bound, not an exact quota.
    if (maxStreams !== undefined && store.count() >= maxStreams && (await store.head(path)) === undefined)
      throw new StreamRequestError(
        507,
        'SG_ERR_TOO_MANY_STREAMS',
        `the gateway keeps ${maxStreams} streams already (--max-streams): delete some, or let them expire`,
      )
    const result = await store.create({
      path,
      contentType: fork === undefined ? contentType : given,
      ...streamLifetime,
      entries,
      close: closesStream(request.headers),
      fork,
    })
    if (result.kind === 'conflict')
      throw new StreamRequestError(409, 'SG_ERR_CONFLICT', `${path}: ${result.reason}`)
    if (result.kind === 'source-not-found') throw notFound(fork?.from ?? path)
    if (result.kind === 'bad-fork-point') throw bad(result.reason)
    response.writeHead(result.kind === 'created' ? 201 : 200, {
      ...SECURITY_HEADERS,
      ...describeHeaders(result.state),
      ...(result.kind === 'created' ? { location: absoluteUrl(request) } : {}),
    })
    response.end()
  }

  async function append(request: Request, response: NodeResponse, path: string): Promise<void> {
    const close = closesStream(request.headers)
    const producer = producerOf(request.headers)
    const contentType = header(request.headers, 'content-type')
    const streamSeq = header(request.headers, 'stream-seq')
    const body = await readRequestBody(request, maxAppendBytes)
    if (body.length === 0 && !close) throw bad('an append needs a body (or Stream-Closed: true to close)')
    if (body.length > 0 && contentType === undefined) throw bad('an append needs a Content-Type')
    const state = await store.head(path)
    if (state === undefined) throw notFound(path)
    if (state.softDeleted === true) throw gone(path)
    // JSON is checked only where it would be appended (the store says first if the stream is closed).
    const entries =
      body.length === 0
        ? []
        : isJson(state.contentType) && !state.closed && contentType !== undefined && isJson(contentType)
          ? jsonMessages(body, 'refuse').map((message) => Buffer.from(message))
          : [body]
    const result = await store.append({ path, contentType, entries, close, producer, streamSeq, maxBytes })
    answerAppend(response, path, result, entries.length > 0, maxBytes)
  }

  async function describe(response: NodeResponse, path: string): Promise<void> {
    const state = await store.head(path)
    if (state === undefined) throw notFound(path)
    if (state.softDeleted === true) throw gone(path)
    response.writeHead(200, { ...SECURITY_HEADERS, ...describeHeaders(state), 'cache-control': 'no-store' })
    response.end()
  }

  return { handle, mintCapability, close: () => live.close(), live }
}

/** The request's own URL, absolute (a `Location` is one). */
function absoluteUrl(request: Request): string {
  return `${requestOrigin(request)}${(request.url ?? '/').split('?')[0]}`
}

function describeHeaders(state: StreamState): Record<string, string> {
  return {
    'content-type': state.contentType,
    'stream-next-offset': offsetOf(state.entries),
    ...(state.ttlSeconds !== undefined ? { 'stream-ttl': String(state.ttlSeconds) } : {}),
    ...(state.expiresAt !== undefined
      ? { 'stream-expires-at': new Date(state.expiresAt).toISOString() }
      : {}),
    ...(state.closed ? { 'stream-closed': 'true' } : {}),
  }
}

function answerAppend(
  response: NodeResponse,
  path: string,
  result: AppendResult,
  withData: boolean,
  maxBytes: number | undefined,
): void {
  if (result.kind === 'not-found') throw notFound(path)
  if (result.kind === 'gone') throw gone(path)
  const tail = { 'stream-next-offset': offsetOf(result.state.entries) }
  const closed = result.state.closed ? { 'stream-closed': 'true' } : {}
  switch (result.kind) {
    case 'appended':
    case 'duplicate':
    case 'already-closed': {
      const producer =
        'producer' in result && result.producer !== undefined
          ? {
              'producer-epoch': String(result.producer.epoch),
              'producer-seq': String(result.producer.lastSeq),
            }
          : {}
      // New data from a producer is a 200 with its state; anything else a 204.
      const status = result.kind === 'appended' && withData && 'producer-epoch' in producer ? 200 : 204
      response.writeHead(status, { ...SECURITY_HEADERS, ...tail, ...closed, ...producer })
      response.end()
      return
    }
    case 'closed':
      throw new StreamRequestError(409, 'SG_ERR_STREAM_CLOSED', `the stream at ${path} is closed`, {
        ...tail,
        'stream-closed': 'true',
      })
    case 'content-type-mismatch':
      throw new StreamRequestError(
        409,
        'SG_ERR_CONFLICT',
        `the stream at ${path} holds ${result.state.contentType}`,
      )
    case 'stream-full':
      throw new StreamRequestError(
        413,
        'SG_ERR_STREAM_FULL',
        `the stream at ${path} holds ${result.state.bytes} bytes: this append would take it past ${maxBytes} (--stream-max-bytes)`,
      )
    case 'stream-seq-regression':
      throw new StreamRequestError(409, 'SG_ERR_CONFLICT', 'Stream-Seq must increase (compared byte by byte)')
    case 'producer-refused': {
      const { decision } = result
      if (decision.kind === 'stale-epoch')
        throw new StreamRequestError(
          403,
          'SG_ERR_STALE_EPOCH',
          `producer epoch ${decision.epoch} is current`,
          {
            'producer-epoch': String(decision.epoch),
          },
        )
      if (decision.kind === 'epoch-must-start-at-zero')
        throw bad('a new producer epoch starts at Producer-Seq 0')
      throw new StreamRequestError(409, 'SG_ERR_SEQUENCE_GAP', `expected Producer-Seq ${decision.expected}`, {
        'producer-expected-seq': String(decision.expected),
        'producer-received-seq': String(decision.received),
      })
    }
  }
}

/** The longest a read capability may last: seven days. */
const MAX_CAPABILITY_SECONDS = 7 * 24 * 3600
