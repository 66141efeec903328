import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'
import { setTimeout as sleep } from 'node:timers/promises'
import { createEventStream, type EventStream, type EventStreamOptions } from '../server/index.js'
import { type NodeResponse, sendError } from '../server/json-response.js'

const DEFAULT_INTERVAL_MS = 1000
const DEFAULT_COUNT = 10

/**
 * The classic demo (DESIGN §2.2): `start`, then `count` messages "SSE data" every `interval` ms, then
 * `end`. Ids count up from 0 (start) to count + 1 (end); a `Last-Event-ID` continues after it, and
 * one at or past the end gets 204 so that a reconnecting EventSource stops instead of replaying.
 * Any method works, so POST clients (fetch) see the same stream.
 */
export async function serveDemoStream(
  request: IncomingMessage | Http2ServerRequest,
  response: NodeResponse,
  url: URL,
  streamOptions: EventStreamOptions,
  onOpen: (stream: EventStream) => void,
): Promise<void> {
  const interval = readInteger(url, 'interval', DEFAULT_INTERVAL_MS, 0, 600_000)
  const count = readInteger(url, 'count', DEFAULT_COUNT, 0, 1_000_000)
  if (typeof interval === 'string' || typeof count === 'string') {
    sendError(
      response,
      400,
      'SG_ERR_BAD_QUERY',
      [interval, count].filter((x) => typeof x === 'string').join('; '),
    )
    return
  }
  const endId = count + 1
  const resumeAfter = parseEventId(request.headers['last-event-id'])
  if (resumeAfter !== undefined && resumeAfter >= endId) {
    response.writeHead(204)
    response.end()
    return
  }
  const stream = createEventStream(request, response, streamOptions)
  onOpen(stream)
  let id = resumeAfter === undefined ? 0 : resumeAfter + 1
  try {
    if (id === 0) {
      if (!(await stream.send({ id: '0', event: 'start', data: 'start...' }))) return
      id = 1
    }
    for (; id <= count; id++) {
      await sleep(interval, undefined, { signal: stream.signal })
      if (!(await stream.send({ id: String(id), data: 'SSE data' }))) return
    }
    await stream.send({ id: String(endId), event: 'end', data: 'end...' })
    stream.close()
  } catch (error) {
    if (!stream.signal.aborted) throw error
  }
}

/** Our ids are decimal integers; anything else (another server's id, garbage) starts from the top. */
function parseEventId(header: string | string[] | undefined): number | undefined {
  const value = Array.isArray(header) ? header[0] : header
  if (value === undefined || !/^\d{1,15}$/.test(value)) return undefined
  return Number(value)
}

function readInteger(url: URL, name: string, fallback: number, min: number, max: number): number | string {
  const raw = url.searchParams.get(name)
  if (raw === null || raw === '') return fallback
  if (!/^\d+$/.test(raw) || Number(raw) < min || Number(raw) > max) {
    return `${name} must be an integer from ${min} to ${max}, got "${raw}"`
  }
  return Number(raw)
}
