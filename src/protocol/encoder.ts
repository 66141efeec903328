import type { OutgoingEvent } from './types.js'

const LINE_BREAK = /\r\n|\r|\n/
const ID_FORBIDDEN = /[\r\n\0]/
const EVENT_FORBIDDEN = /[\r\n]/

/**
 * Encodes one event in the `text/event-stream` format. Data and comments that contain line breaks
 * (CR, LF or CRLF) become one line each. A CR, LF (or NUL, for `id`) in `id` or `event` would let the
 * value inject fields of its own, so it is refused with a TypeError that names the field.
 *
 * Fields are written comment, retry, id, event, data; a block with id, event or data ends with the
 * blank line that dispatches it, one with only a comment or retry does not need one.
 */
export function encodeEvent(event: OutgoingEvent): string {
  const { id, event: type, data, retry, comment } = event
  let wire = ''
  if (comment !== undefined) {
    for (const line of checkString(comment, 'comment').split(LINE_BREAK)) wire += `: ${line}\n`
  }
  if (retry !== undefined) {
    if (!Number.isSafeInteger(retry) || retry < 0) {
      throw new TypeError(`retry must be a non-negative integer of milliseconds, got ${String(retry)}`)
    }
    wire += `retry: ${retry}\n`
  }
  if (id === undefined && type === undefined && data === undefined) return wire
  if (id !== undefined) {
    if (ID_FORBIDDEN.test(checkString(id, 'id'))) {
      throw new TypeError('id must not contain CR, LF or NUL')
    }
    wire += `id: ${id}\n`
  }
  if (type !== undefined) {
    if (EVENT_FORBIDDEN.test(checkString(type, 'event'))) {
      throw new TypeError('event must not contain CR or LF')
    }
    wire += `event: ${type}\n`
  }
  if (data !== undefined) wire += encodeData(checkString(data, 'data'))
  return `${wire}\n`
}

const textEncoder = new TextEncoder()

/** The same bytes as `encodeEvent`, for servers that write one encoded event to many sockets. */
export function encodeEventBytes(event: OutgoingEvent): Uint8Array {
  return textEncoder.encode(encodeEvent(event))
}

function encodeData(data: string): string {
  // Most payloads are one line (JSON): skip the split.
  if (data.indexOf('\n') === -1 && data.indexOf('\r') === -1) return `data: ${data}\n`
  let lines = ''
  for (const line of data.split(LINE_BREAK)) lines += `data: ${line}\n`
  return lines
}

function checkString(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new TypeError(`${field} must be a string, got ${typeof value}`)
  return value
}
