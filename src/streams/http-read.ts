import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import { EncodedEvent } from '../server/encoded-event.js'
import type { EventStream, EventStreamOptions } from '../server/event-stream.js'
import type { NodeResponse } from '../server/json-response.js'
import { createEventStream } from '../server/node.js'
import { laterCursor, nextCursor } from './cursor.js'
import type { LiveStreams } from './live.js'
import { isJson, isText } from './media-type.js'
import { offsetOf, parseOffset } from './offset.js'
import { bad, StreamRequestError } from './request-headers.js'
import type { StreamPage, StreamState, StreamStore } from './stream-store.js'

export interface ReadOptions {
  /** Largest body of one catch-up or long-poll answer, and of one SSE data event (at least one entry). */
  maxReadBytes: number
  /** How long a long-poll waits for data before answering 204. */
  longPollMs: number
  /** How long an SSE response lasts before the server ends it (the client reconnects from its offset). */
  sseMs: number
  /** Headers every answer carries (security, CORS). */
  headers: Record<string, string>
  cacheControl: string
  onStream?: (stream: EventStream, request: Request) => void
  eventStreamOptions: EventStreamOptions
  maxLiveReaders: number
}

type Request = IncomingMessage | Http2ServerRequest

/** GET: a catch-up read, a long-poll or SSE (PROTOCOL.md §5.6–5.8). */
export async function readStream(
  store: StreamStore,
  live: LiveStreams,
  options: ReadOptions,
  request: Request,
  response: NodeResponse,
  path: string,
  url: URL,
): Promise<void> {
  const offsets = url.searchParams.getAll('offset')
  if (offsets.length > 1) throw bad('give one offset')
  const mode = url.searchParams.get('live')
  if (mode !== null && mode !== 'long-poll' && mode !== 'sse')
    throw bad(`live=${mode}: the live modes are long-poll and sse`)
  if (mode !== null && offsets.length === 0) throw bad(`live=${mode} needs an offset`)
  const requested = offsets[0] === undefined ? 0 : parseOffset(offsets[0])
  if (requested === undefined)
    throw bad(`the offset ${JSON.stringify(offsets[0])} is not one this server issued`)
  const state = await store.head(path)
  if (state === undefined) throw notFound(path)
  if (state.softDeleted === true) throw gone(path)
  const after = requested === 'now' ? state.entries : requested
  if (after > state.entries) throw bad('the offset is past the end of the stream')
  if (mode !== null && live.readers(path) >= options.maxLiveReaders)
    throw new StreamRequestError(
      429,
      'SG_ERR_TOO_MANY_READERS',
      `the stream has ${options.maxLiveReaders} live readers already (--stream-readers)`,
      { 'retry-after': '1' },
    )
  const cursor = nextCursor(url.searchParams.get('cursor'))
  if (mode === 'sse') return streamEvents(live, options, request, response, state, after, cursor)
  let page = await store.read(path, after, options.maxReadBytes)
  if (page === undefined) throw notFound(path)
  if (mode === 'long-poll' && page.entries.length === 0 && !page.state.closed) {
    page = await waitForData(live, options, request, path, after)
    if (page === undefined) throw notFound(path)
    if (page.entries.length === 0) {
      response.writeHead(204, {
        ...options.headers,
        'cache-control': 'no-store',
        'stream-next-offset': offsetOf(page.through),
        'stream-up-to-date': 'true',
        ...(page.state.closed ? { 'stream-closed': 'true' } : { 'stream-cursor': cursor }),
      })
      response.end()
      return
    }
  }
  if (mode === 'long-poll' && page.entries.length === 0) {
    // Closed, and the reader is at its end: no waiting for what never comes.
    response.writeHead(204, {
      ...options.headers,
      'cache-control': 'no-store',
      'stream-next-offset': offsetOf(page.through),
      'stream-up-to-date': 'true',
      'stream-closed': 'true',
    })
    response.end()
    return
  }
  const etag = `"${page.state.id}:${offsetOf(after)}:${offsetOf(page.through)}${endsAt(page) ? ':c' : ''}"`
  const headers: Record<string, string> = {
    ...options.headers,
    'content-type': page.state.contentType,
    'stream-next-offset': offsetOf(page.through),
    ...(page.through === page.state.entries ? { 'stream-up-to-date': 'true' } : {}),
    ...(endsAt(page) ? { 'stream-closed': 'true' } : {}),
    ...(mode === 'long-poll' && !endsAt(page) ? { 'stream-cursor': cursor } : {}),
  }
  if (requested === 'now') {
    // The tail is no resource a cache may keep: no ETag, no caching.
    headers['cache-control'] = 'no-store'
  } else {
    headers.etag = etag
    headers['cache-control'] = options.cacheControl
    if (request.headers['if-none-match'] === etag) {
      response.writeHead(304, headers)
      response.end()
      return
    }
  }
  const body = pageBody(page.state, page.entries)
  headers['content-length'] = String(body.length)
  response.writeHead(200, headers)
  response.end(body)
}

/** Whether the page reaches the end of a closed stream: the reader's EOF. */
const endsAt = (page: StreamPage) => page.state.closed && page.through === page.state.entries

function pageBody(state: StreamState, entries: Uint8Array[]): Buffer {
  if (!isJson(state.contentType)) return Buffer.concat(entries)
  const parts: Uint8Array[] = [OPEN]
  for (const [index, entry] of entries.entries()) {
    if (index > 0) parts.push(COMMA)
    parts.push(entry)
  }
  parts.push(CLOSE)
  return Buffer.concat(parts)
}

const OPEN = Buffer.from('[')
const COMMA = Buffer.from(',')
const CLOSE = Buffer.from(']')

/** Waits for entries after `after` (or the stream's closing), up to the long-poll time. */
function waitForData(
  live: LiveStreams,
  options: ReadOptions,
  request: Request,
  path: string,
  after: number,
): Promise<StreamPage | undefined> {
  return new Promise((resolve, reject) => {
    let done = false
    const finish = () => {
      if (done) return
      done = true
      clearTimeout(timer)
      unwatch()
      request.off('close', finish)
      live.read(path, after, options.maxReadBytes).then(resolve, reject)
    }
    const unwatch = live.watch(path, (state) => {
      if (state.entries > after || state.closed) finish()
    })
    const timer = setTimeout(finish, options.longPollMs)
    request.once('close', finish)
  })
}

/** SSE: pages of data, each followed by a control event, then live appends (PROTOCOL.md §5.8). */
async function streamEvents(
  live: LiveStreams,
  options: ReadOptions,
  request: Request,
  response: NodeResponse,
  state: StreamState,
  after: number,
  firstCursor: string,
): Promise<void> {
  const { path } = state
  const base64 = !isText(state.contentType)
  const stream = createEventStream(request, response, {
    ...options.eventStreamOptions,
    initialComment: '',
    headers: {
      ...options.headers,
      // As PROTOCOL.md §5.8 writes it, without a charset (SSE is UTF-8 by definition).
      'content-type': 'text/event-stream',
      ...(base64 ? { 'stream-sse-data-encoding': 'base64' } : {}),
    },
  })
  options.onStream?.(stream, request)
  let position = after
  let cursor = firstCursor
  let reading = false
  let wanted = true
  /** Sends what is there after `position`; ends the response at the end of a closed stream. */
  const pump = async () => {
    if (reading) {
      wanted = true
      return
    }
    reading = true
    try {
      while (wanted && !stream.isClosed) {
        wanted = false
        for (;;) {
          const page = await live.read(path, position, options.maxReadBytes)
          if (page === undefined) {
            stream.close()
            return
          }
          const first = position === after
          position = page.through
          const upToDate = position === page.state.entries
          const closed = upToDate && page.state.closed
          if (page.entries.length > 0 || first || closed) {
            if (!first) cursor = laterCursor(cursor)
            // A data event and its control event in one write: a reader gets them together.
            if (!(await writePaced(stream, sseEvents(page, base64, cursor)))) return
          }
          if (closed) {
            stream.close()
            return
          }
          if (upToDate) break
        }
      }
    } finally {
      reading = false
    }
  }
  const unwatch = live.watch(path, () => {
    wanted = true
    pump().catch(() => stream.close())
  })
  const lifetime = setTimeout(() => stream.close(), options.sseMs)
  stream.onClose(() => {
    unwatch()
    clearTimeout(lifetime)
  })
  await pump()
}

/** Encoded pages per page read and cursor: readers woken by one append share the page and its bytes. */
const encoded = new WeakMap<StreamPage, Map<string, EncodedEvent>>()

/** A page's data event (when it has entries) and its control event, as bytes. */
function sseEvents(page: StreamPage, base64: boolean, cursor: string): EncodedEvent {
  let byCursor = encoded.get(page)
  if (byCursor === undefined) {
    byCursor = new Map()
    encoded.set(page, byCursor)
  }
  const known = byCursor.get(cursor)
  if (known !== undefined) return known
  let events = ''
  if (page.entries.length > 0) {
    const data = base64
      ? Buffer.concat(page.entries).toString('base64')
      : pageBody(page.state, page.entries).toString('utf8')
    events += sseEvent('data', data)
  }
  const upToDate = page.through === page.state.entries
  const closed = upToDate && page.state.closed
  events += sseEvent(
    'control',
    JSON.stringify({
      streamNextOffset: offsetOf(page.through),
      ...(closed ? { streamClosed: true } : { streamCursor: cursor }),
      ...(upToDate ? { upToDate: true } : {}),
    }),
  )
  // Framed as an HTTP/1.1 chunk once, for every reader (as the hub's updates are).
  const event = new EncodedEvent(Buffer.from(events))
  byCursor.set(cursor, event)
  return event
}

/** Bytes written at once: below the slow-reader bound, so that a reader that keeps up is never cut off. */
const PIECE_BYTES = 64 * 1024

/**
 * Writes an event of any size in pieces, each once the reader took the one before: an event larger
 * than the stream's buffer bound would otherwise close a stream that had anything still buffered.
 */
async function writePaced(stream: EventStream, event: EncodedEvent): Promise<boolean> {
  if (event.length <= PIECE_BYTES) return stream.write(event)
  const { bytes } = event
  for (let start = 0; start < bytes.length; start += PIECE_BYTES)
    if (!(await stream.write(bytes.subarray(start, start + PIECE_BYTES)))) return false
  return true
}

/**
 * One event as Durable Streams servers write it: `data:` with no space before the value (clients
 * and the conformance suite read it so), except where a line starts with a space, which the space
 * after the colon then protects (a parser drops one).
 */
function sseEvent(type: 'data' | 'control', data: string): string {
  let wire = `event: ${type}\n`
  for (const line of data.split(LINE_BREAK))
    wire += line.startsWith(' ') ? `data: ${line}\n` : `data:${line}\n`
  return `${wire}\n`
}

const LINE_BREAK = /\r\n|\r|\n/

export const gone = (path: string) =>
  new StreamRequestError(410, 'SG_ERR_GONE', `the stream at ${path} was deleted (its forks still read it)`)
export const notFound = (path: string) =>
  new StreamRequestError(404, 'SG_ERR_NOT_FOUND', `no stream at ${path}`)
