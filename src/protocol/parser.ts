import { ParseError } from './errors.js'
import { nativeBytes } from './native-bytes.js'
import type { ServerSentEvent } from './types.js'

/** 16 MiB: far above any real event, far below what would exhaust a process. */
export const DEFAULT_MAX_EVENT_SIZE = 16 * 1024 * 1024

export interface ParserOptions {
  onEvent: (event: ServerSentEvent) => void
  /** A valid `retry` field: the new reconnection time in milliseconds. */
  onRetry?: (milliseconds: number) => void
  /** A comment line's text, without the colon and one leading space. */
  onComment?: (comment: string) => void
  /**
   * An event or line larger than `maxEventSize`: it is dropped, parsing resumes after the next blank
   * line. Without this callback, `feed` throws the error (the rest of that chunk is dropped).
   */
  onError?: (error: ParseError) => void
  /** Bound on one line and on one event's data, in bytes (characters for text input). Default 16 MiB. */
  maxEventSize?: number
  /** The last event ID to start from (a client resuming an earlier connection). */
  lastEventId?: string
}

export interface EventStreamParser {
  /** Parses the next chunk: bytes (UTF-8, split anywhere) or already decoded text. */
  feed(chunk: string | Uint8Array): void
  /**
   * Starts a new stream (a reconnection): drops the incomplete line and event, keeps `lastEventId`.
   * As at the spec's end of stream, whatever was not dispatched is discarded.
   */
  reset(): void
  /** The last event ID string: what a reconnecting client sends as `Last-Event-ID`. */
  readonly lastEventId: string
}

const LF = 10
const CR = 13
const SPACE = 32
const COLON = 58
const BYTE_ORDER_MARK = '\uFEFF'
const EMPTY = new Uint8Array(0)
const textEncoder = new TextEncoder()

/**
 * An incremental parser for `text/event-stream`, following the WHATWG "Parsing an event stream" and
 * "Interpreting an event stream" rules exactly.
 * https://html.spec.whatwg.org/multipage/server-sent-events.html#event-stream-interpretation
 *
 * Lines are found with String#indexOf on the chunk's text (V8 scans at ~8.5 GB/s, a JavaScript loop
 * over bytes at ~0.9 GB/s). In Node, a byte chunk becomes that text through latin1Slice, so string
 * index = byte offset: values are slices when the chunk is ASCII, and UTF-8 decoded from the bytes
 * only when it is not (see native-bytes.ts). Elsewhere bytes go through a streaming TextDecoder.
 */
export function createParser(options: ParserOptions): EventStreamParser {
  const { onEvent, onRetry, onComment, onError } = options
  const maxEventSize = options.maxEventSize ?? DEFAULT_MAX_EVENT_SIZE

  let textDecoder: TextDecoder | undefined
  let atStreamStart = true
  let skipLeadingLF = false
  // An unterminated line carried to the next chunk: text for text input, bytes for Node byte input.
  let carriedText = ''
  let carriedBytes = EMPTY
  let carriedByteLength = 0
  let skippingLine = false
  let discardingEvent = false
  // While parsing a non-ASCII byte chunk, values are UTF-8 decoded from these bytes.
  let utf8Source: Uint8Array | undefined

  let data = ''
  let hasData = false
  let eventType = ''
  let blockId: string | undefined
  let lastEventIdBuffer = options.lastEventId ?? ''
  let lastEventId = lastEventIdBuffer

  function feed(chunk: string | Uint8Array): void {
    if (typeof chunk === 'string') {
      const pending = textDecoder === undefined ? '' : textDecoder.decode()
      feedText(pending === '' ? chunk : pending + chunk)
    } else if (nativeBytes !== undefined) {
      feedBytes(chunk)
    } else {
      textDecoder ??= new TextDecoder('utf-8', { ignoreBOM: true })
      feedText(textDecoder.decode(chunk, { stream: true }))
    }
  }

  function feedText(chunk: string): void {
    let text = chunk
    if (carriedByteLength > 0) {
      carriedText = decodeBytes(carriedBytes.subarray(0, carriedByteLength))
      carriedByteLength = 0
    }
    if (atStreamStart) {
      if (text.length === 0) return
      atStreamStart = false
      if (text.startsWith(BYTE_ORDER_MARK)) text = text.slice(1)
    }
    let position = lineStart(text)
    if (carriedText !== '' || skippingLine) {
      const lineEnd = firstLineEnd(text, position)
      if (lineEnd === -1) {
        if (carry(text.length - position)) carriedText += text.slice(position)
        return
      }
      if (!skippingLine) {
        const line = carriedText + text.slice(position, lineEnd)
        carriedText = ''
        processLine(line, 0, line.length)
      }
      skippingLine = false
      position = afterLineEnd(text, lineEnd)
    }
    const rest = parseLines(text, position)
    if (rest < text.length && carry(text.length - rest)) carriedText = text.slice(rest)
  }

  function feedBytes(chunk: Uint8Array): void {
    const native = nativeBytes as NonNullable<typeof nativeBytes>
    let bytes = chunk
    if (carriedText !== '') {
      carryBytes(textEncoder.encode(carriedText), 0)
      carriedText = ''
    }
    if (atStreamStart) {
      if (bytes.length === 0) return
      // The three bytes of a byte order mark may arrive in separate chunks.
      if (carriedByteLength > 0) {
        carryBytes(bytes, 0)
        bytes = carriedBytes.slice(0, carriedByteLength)
        carriedByteLength = 0
      }
      if (bytes.length < 3 && isByteOrderMarkPrefix(bytes)) {
        carryBytes(bytes, 0)
        return
      }
      atStreamStart = false
      if (isByteOrderMarkPrefix(bytes)) bytes = bytes.subarray(3)
    }
    const text = native.latin1Slice.call(bytes, 0, bytes.length)
    let position = lineStart(text)
    if (carriedByteLength > 0 || skippingLine) {
      const lineEnd = firstLineEnd(text, position)
      if (lineEnd === -1) {
        if (carry(bytes.length - position)) carryBytes(bytes, position)
        return
      }
      if (!skippingLine) {
        carryBytes(bytes.subarray(position, lineEnd), 0)
        const line = carriedBytes.subarray(0, carriedByteLength)
        carriedByteLength = 0
        utf8Source = native.isAscii(line) ? undefined : line
        processLine(native.latin1Slice.call(line, 0, line.length), 0, line.length)
      }
      skippingLine = false
      position = afterLineEnd(text, lineEnd)
    }
    utf8Source = native.isAscii(bytes) ? undefined : bytes
    const rest = parseLines(text, position)
    utf8Source = undefined
    if (rest < bytes.length && carry(bytes.length - rest)) carryBytes(bytes, rest)
  }

  /** Where parsing of a new chunk starts: past an LF that completes a CRLF split across chunks. */
  function lineStart(text: string): number {
    if (!skipLeadingLF || text.length === 0) return 0
    skipLeadingLF = false
    return text.charCodeAt(0) === LF ? 1 : 0
  }

  function afterLineEnd(text: string, lineEnd: number): number {
    if (text.charCodeAt(lineEnd) !== CR) return lineEnd + 1
    if (lineEnd + 1 === text.length) {
      skipLeadingLF = true
      return lineEnd + 1
    }
    return text.charCodeAt(lineEnd + 1) === LF ? lineEnd + 2 : lineEnd + 1
  }

  /** Processes every complete line from `position`; returns where the unterminated rest begins. */
  function parseLines(text: string, start: number): number {
    const length = text.length
    let position = start
    // Most streams never send CR: one search per chunk, then -1 short-circuits every line.
    let crIndex = text.indexOf('\r', position)
    let lfIndex = text.indexOf('\n', position)
    while (position < length) {
      let lineEnd = lfIndex
      if (crIndex !== -1 && (lfIndex === -1 || crIndex < lfIndex)) lineEnd = crIndex
      if (lineEnd === -1) break

      if (lineEnd === lfIndex && !hasData && isDataField(text, position, lineEnd)) {
        // The common block of one data line: dispatch at its blank line without another search.
        const valueBegin = valueStart(text, position + 5, lineEnd)
        if (text.charCodeAt(lineEnd + 1) === LF && !discardingEvent && lineEnd - position <= maxEventSize) {
          data = fieldValue(text, valueBegin, lineEnd)
          hasData = true
          dispatchEvent()
          position = lineEnd + 2
        } else {
          processLine(text, position, lineEnd)
          position = lineEnd + 1
        }
      } else {
        processLine(text, position, lineEnd)
        position = afterLineEnd(text, lineEnd)
        if (crIndex !== -1 && crIndex < position) crIndex = text.indexOf('\r', position)
      }
      if (lfIndex !== -1 && lfIndex < position) lfIndex = text.indexOf('\n', position)
    }
    return position
  }

  /** Whether the carried line may grow by `added`; past the bound, the line and its event are dropped. */
  function carry(added: number): boolean {
    if (skippingLine) return false
    if (carriedText.length + carriedByteLength + added <= maxEventSize) return true
    carriedText = ''
    carriedByteLength = 0
    skippingLine = true
    tooLarge('a line')
    return false
  }

  function carryBytes(bytes: Uint8Array, from: number): void {
    const needed = carriedByteLength + bytes.length - from
    if (needed > carriedBytes.length) {
      const grown = new Uint8Array(Math.max(needed, carriedBytes.length * 2, 256))
      grown.set(carriedBytes.subarray(0, carriedByteLength))
      carriedBytes = grown
    }
    carriedBytes.set(bytes.subarray(from), carriedByteLength)
    carriedByteLength = needed
  }

  function fieldValue(text: string, start: number, end: number): string {
    if (utf8Source === undefined) return text.slice(start, end)
    return (nativeBytes as NonNullable<typeof nativeBytes>).utf8Slice.call(utf8Source, start, end)
  }

  function processLine(line: string, start: number, end: number): void {
    if (start === end) {
      dispatchEvent()
      return
    }
    if (discardingEvent) return
    if (end - start > maxEventSize) {
      tooLarge('a line')
      return
    }
    if (isDataField(line, start, end)) {
      appendData(fieldValue(line, valueStart(line, start + 5, end), end))
      return
    }
    if (line.charCodeAt(start) === COLON) {
      if (onComment !== undefined) onComment(fieldValue(line, valueStart(line, start + 1, end), end))
      return
    }
    let colon = start
    while (colon < end && line.charCodeAt(colon) !== COLON) colon++
    const value = colon === end ? '' : fieldValue(line, valueStart(line, colon + 1, end), end)
    processField(line.slice(start, colon), value)
  }

  function processField(field: string, value: string): void {
    switch (field) {
      case 'data':
        appendData(value)
        return
      case 'event':
        eventType = value
        return
      case 'id':
        if (value.indexOf('\0') === -1) {
          lastEventIdBuffer = value
          blockId = value
        }
        return
      case 'retry':
        if (onRetry !== undefined && isAsciiDigits(value)) onRetry(Number.parseInt(value, 10))
        return
      default:
      // Unknown fields are ignored (spec: "Otherwise").
    }
  }

  function appendData(value: string): void {
    if (!hasData) {
      data = value
      hasData = true
    } else if (data.length + 1 + value.length > maxEventSize) {
      tooLarge('an event')
    } else {
      data = `${data}\n${value}`
    }
  }

  function dispatchEvent(): void {
    if (discardingEvent) {
      discardingEvent = false
      lastEventIdBuffer = lastEventId
      clearEvent()
      return
    }
    lastEventId = lastEventIdBuffer
    if (!hasData) {
      clearEvent()
      return
    }
    const event: ServerSentEvent = {
      data,
      event: eventType === '' ? undefined : eventType,
      id: blockId,
      lastEventId,
    }
    clearEvent()
    onEvent(event)
  }

  function clearEvent(): void {
    data = ''
    hasData = false
    eventType = ''
    blockId = undefined
  }

  function tooLarge(what: string): void {
    discardingEvent = true
    clearEvent()
    const error = new ParseError(
      'SG_ERR_EVENT_TOO_LARGE',
      `Dropped ${what} longer than ${maxEventSize} (maxEventSize)`,
    )
    if (onError === undefined) throw error
    onError(error)
  }

  function reset(): void {
    textDecoder = undefined
    atStreamStart = true
    skipLeadingLF = false
    carriedText = ''
    carriedByteLength = 0
    skippingLine = false
    discardingEvent = false
    lastEventIdBuffer = lastEventId
    clearEvent()
  }

  return {
    feed,
    reset,
    get lastEventId() {
      return lastEventId
    },
  }
}

/** "data:" is nearly every line on the wire: recognised without slicing out the field name. */
function isDataField(line: string, start: number, end: number): boolean {
  return (
    end - start >= 5 &&
    line.charCodeAt(start + 4) === COLON &&
    line.charCodeAt(start) === 100 &&
    line.charCodeAt(start + 1) === 97 &&
    line.charCodeAt(start + 2) === 116 &&
    line.charCodeAt(start + 3) === 97
  )
}

/** One leading U+0020 SPACE is not part of a value. */
function valueStart(line: string, start: number, end: number): number {
  return start < end && line.charCodeAt(start) === SPACE ? start + 1 : start
}

function firstLineEnd(text: string, from: number): number {
  const lf = text.indexOf('\n', from)
  const cr = text.indexOf('\r', from)
  return cr === -1 || (lf !== -1 && lf < cr) ? lf : cr
}

function isByteOrderMarkPrefix(bytes: Uint8Array): boolean {
  return (
    bytes[0] === 0xef && (bytes.length < 2 || bytes[1] === 0xbb) && (bytes.length < 3 || bytes[2] === 0xbf)
  )
}

function decodeBytes(bytes: Uint8Array): string {
  return new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes)
}

/** The spec's "consists of only ASCII digits"; an empty value is ignored, as browsers do. */
function isAsciiDigits(value: string): boolean {
  if (value.length === 0) return false
  for (let index = 0; index < value.length; index++) {
    const code = value.charCodeAt(index)
    if (code < 48 || code > 57) return false
  }
  return true
}
