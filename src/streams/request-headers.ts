import type { IncomingHttpHeaders } from 'node:http'
import { parseOffset } from './offset.js'
import type { ProducerRequest } from './producer.js'
import type { StreamLifetime } from './stream-store.js'

/** A request the protocol refuses, with its status and a one-line reason. */
export class StreamRequestError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message)
    this.name = 'StreamRequestError'
  }
}

/** A `400` with its reason. */
export const bad = (message: string) => new StreamRequestError(400, 'SG_ERR_BAD_REQUEST', message)

/** A non-negative integer in decimal without sign, leading zeros, point or exponent (PROTOCOL.md §5.1). */
const DECIMAL = /^(0|[1-9]\d*)$/
/** RFC 3339 date-time: date, `T`, time with optional fraction, then `Z` or an offset. */
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/

export function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  return Array.isArray(value) ? value.join(', ') : value
}

/** `Stream-Closed` counts only when it says `true` (any case); other values are as if absent. */
export function closesStream(headers: IncomingHttpHeaders): boolean {
  return header(headers, 'stream-closed')?.trim().toLowerCase() === 'true'
}

export function lifetime(headers: IncomingHttpHeaders): StreamLifetime {
  const ttl = header(headers, 'stream-ttl')
  const expires = header(headers, 'stream-expires-at')
  if (ttl !== undefined && expires !== undefined) throw bad('give Stream-TTL or Stream-Expires-At, not both')
  if (ttl !== undefined) {
    if (!DECIMAL.test(ttl) || !Number.isSafeInteger(Number(ttl)))
      throw bad(`Stream-TTL ${JSON.stringify(ttl)} is not a number of seconds in plain decimal`)
    return { ttlSeconds: Number(ttl) }
  }
  if (expires !== undefined) {
    const time = Date.parse(expires)
    if (!RFC3339.test(expires) || Number.isNaN(time))
      throw bad(`Stream-Expires-At ${JSON.stringify(expires)} is not an RFC 3339 date-time`)
    return { expiresAt: time }
  }
  return {}
}

/**
 * A fork's origin (PROTOCOL.md §4.2): `Stream-Forked-From` (a path on this server, under `basePath`),
 * `Stream-Fork-Offset` (absent: the source's tail) and `Stream-Fork-Sub-Offset`.
 */
export function forkOf(
  headers: IncomingHttpHeaders,
  basePath: string,
): { from: string; offset: number | undefined; subOffset: number } | undefined {
  const from = header(headers, 'stream-forked-from')
  if (from === undefined) {
    if (
      header(headers, 'stream-fork-offset') !== undefined ||
      header(headers, 'stream-fork-sub-offset') !== undefined
    )
      throw bad('Stream-Fork-Offset and Stream-Fork-Sub-Offset need Stream-Forked-From')
    return undefined
  }
  const path = from.startsWith(`${basePath}/`) ? from.slice(basePath.length) : from
  if (!path.startsWith('/')) throw bad(`Stream-Forked-From ${JSON.stringify(from)} is not a stream path here`)
  const offsetHeader = header(headers, 'stream-fork-offset')
  const offset = offsetHeader === undefined ? undefined : parseOffset(offsetHeader)
  if (offset === undefined && offsetHeader !== undefined)
    throw bad(`Stream-Fork-Offset ${JSON.stringify(offsetHeader)} is not an offset of this server`)
  const sub = header(headers, 'stream-fork-sub-offset') ?? '0'
  if (!DECIMAL.test(sub) || !Number.isSafeInteger(Number(sub)))
    throw bad(`Stream-Fork-Sub-Offset ${JSON.stringify(sub)} is not a non-negative integer`)
  return { from: path, offset: offset === 'now' ? undefined : offset, subOffset: Number(sub) }
}

/** Producer-Id, -Epoch and -Seq: all three or none (PROTOCOL.md §5.2.1). */
export function producerOf(headers: IncomingHttpHeaders): ProducerRequest | undefined {
  const id = header(headers, 'producer-id')
  const epoch = header(headers, 'producer-epoch')
  const seq = header(headers, 'producer-seq')
  if (id === undefined && epoch === undefined && seq === undefined) return undefined
  if (id === undefined || epoch === undefined || seq === undefined)
    throw bad('Producer-Id, Producer-Epoch and Producer-Seq go together')
  if (id === '') throw bad('Producer-Id is empty')
  const integer = (name: string, value: string) => {
    if (!DECIMAL.test(value) || !Number.isSafeInteger(Number(value)))
      throw bad(`${name} ${JSON.stringify(value)} is not an integer from 0 to 2^53-1`)
    return Number(value)
  }
  return { id, epoch: integer('Producer-Epoch', epoch), seq: integer('Producer-Seq', seq) }
}
