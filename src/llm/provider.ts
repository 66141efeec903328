import { createParser } from '../protocol/parser.js'

/** Token counts of one generation; `estimated` when the upstream never reported them. */
export interface Usage {
  inputTokens: number
  outputTokens: number
  estimated: boolean
}

/**
 * What the proxy must know of a provider's wire format: how its errors look (as an HTTP body and as
 * an event in the stream), and how to read text and usage out of its events. Reading happens off
 * the hot path (usage events are recognised by a byte search; text only when someone asks).
 */
export interface Provider {
  readonly name: 'openai' | 'anthropic'
  /** The error body of an HTTP answer, in the provider's own shape. */
  errorBody(type: string, message: string, code?: string): unknown
  /** A mid-stream error, as the provider itself sends it. */
  errorEvent(type: string, message: string): string
  /** Whether a raw event is an error event of the provider. */
  isErrorEvent(event: Buffer): boolean
  /** Whether a raw event carries output (text or a tool call): the first one is the first token. */
  isOutput(event: Buffer): boolean
  /** The text an event adds to the answer, if any. */
  textOf(data: unknown): string
  /** Usage reported by an event; the caller merges partial reports. */
  usageOf(data: unknown): Partial<Omit<Usage, 'estimated'>> | undefined
  /** Cheap test on the raw event: may it carry usage (worth parsing)? */
  mayCarryUsage(event: Buffer): boolean
}

// Needles as bytes: a string needle is encoded again on every search.
const needle = (text: string) => Buffer.from(text)
const OPENAI_ERROR = needle('data: {"error"')
const OPENAI_ERROR_UNSPACED = needle('data:{"error"')
const OPENAI_CONTENT = needle('"delta":{"content":"')
const OPENAI_EMPTY_CONTENT = needle('"delta":{"content":""')
const OPENAI_TOOL_CALLS = needle('"tool_calls":[')
const OPENAI_TEXT = needle('"text":"')
const OPENAI_RESPONSES_DELTA = needle('response.output_text.delta')
const USAGE = needle('"usage":')
const SPACE = 0x20
const OPEN_BRACE = 0x7b
const ANTHROPIC_ERROR_EVENT = needle('event: error')
const ANTHROPIC_DELTA = needle('content_block_delta')
const ANTHROPIC_MESSAGE_START = needle('message_start')
const ANTHROPIC_MESSAGE_DELTA = needle('message_delta')
const ANTHROPIC_MESSAGE_START_EVENT = needle('event: message_start')
const ANTHROPIC_MESSAGE_DELTA_EVENT = needle('event: message_delta')
const ANTHROPIC_EVENT_LINE = needle('event:')

/** Error events say so on their first line: no need to search the whole event. */
function startsWith(event: Buffer, prefix: Buffer): boolean {
  if (event.length < prefix.length) return false
  for (let index = 0; index < prefix.length; index++) if (event[index] !== prefix[index]) return false
  return true
}

type Json = Record<string, unknown>
const object = (value: unknown): Json => (typeof value === 'object' && value !== null ? (value as Json) : {})
const number = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined)

export const openai: Provider = {
  name: 'openai',
  errorBody: (type, message, code) => ({ error: { message, type, param: null, code: code ?? null } }),
  errorEvent: (type, message) =>
    `data: ${JSON.stringify({ error: { message, type, param: null, code: null } })}\n\n`,
  isErrorEvent: (event) => startsWith(event, OPENAI_ERROR) || startsWith(event, OPENAI_ERROR_UNSPACED),
  isOutput: (event) =>
    (event.includes(OPENAI_CONTENT) && !event.includes(OPENAI_EMPTY_CONTENT)) ||
    event.includes(OPENAI_TOOL_CALLS) ||
    event.includes(OPENAI_TEXT) ||
    event.includes(OPENAI_RESPONSES_DELTA),
  textOf(data) {
    const choice = object((object(data).choices as unknown[] | undefined)?.[0])
    // chat.completion.chunk: delta.content; text completion: text; Responses API: a delta event.
    const delta = object(choice.delta)
    if (typeof delta.content === 'string') return delta.content
    if (typeof choice.text === 'string') return choice.text
    const event = object(data)
    return event.type === 'response.output_text.delta' && typeof event.delta === 'string' ? event.delta : ''
  },
  usageOf(data) {
    const usage = object(object(data).usage ?? object(object(data).response).usage)
    const inputTokens = number(usage.prompt_tokens) ?? number(usage.input_tokens)
    const outputTokens = number(usage.completion_tokens) ?? number(usage.output_tokens)
    return inputTokens === undefined && outputTokens === undefined ? undefined : { inputTokens, outputTokens }
  },
  mayCarryUsage(event) {
    // `"usage":null` ends every chunk once usage is asked for: only an object is worth parsing.
    // Searched from the end, where the usage field is: 70 ns a chunk instead of 210 from the start.
    const at = event.lastIndexOf(USAGE)
    if (at === -1) return false
    let next = at + USAGE.length
    while (event[next] === SPACE) next++
    return event[next] === OPEN_BRACE
  },
}

export const anthropic: Provider = {
  name: 'anthropic',
  errorBody: (type, message) => ({ type: 'error', error: { type, message } }),
  errorEvent: (type, message) =>
    `event: error\ndata: ${JSON.stringify({ type: 'error', error: { type, message } })}\n\n`,
  isErrorEvent: (event) => startsWith(event, ANTHROPIC_ERROR_EVENT),
  isOutput: (event) => event.includes(ANTHROPIC_DELTA),
  textOf(data) {
    const event = object(data)
    const delta = object(event.delta)
    return event.type === 'content_block_delta' &&
      delta.type === 'text_delta' &&
      typeof delta.text === 'string'
      ? delta.text
      : ''
  },
  usageOf(data) {
    const event = object(data)
    const usage = object(event.type === 'message_start' ? object(event.message).usage : event.usage)
    const inputTokens = number(usage.input_tokens)
    const outputTokens = number(usage.output_tokens)
    return inputTokens === undefined && outputTokens === undefined ? undefined : { inputTokens, outputTokens }
  },
  // Anthropic names every event on its first line; an event without that line is searched.
  mayCarryUsage: (event) =>
    startsWith(event, ANTHROPIC_EVENT_LINE)
      ? startsWith(event, ANTHROPIC_MESSAGE_START_EVENT) || startsWith(event, ANTHROPIC_MESSAGE_DELTA_EVENT)
      : event.includes(ANTHROPIC_MESSAGE_START) || event.includes(ANTHROPIC_MESSAGE_DELTA),
}

/** Reads one kept event at a time: what it dispatched, or nothing. */
let dispatched: string | undefined
const reader = createParser({
  onEvent: (event) => {
    dispatched = event.data
  },
  onError: () => {
    dispatched = undefined
  },
})

/**
 * The data of one raw event, parsed as JSON by the protocol's parser (the WHATWG rules: `data`
 * lines joined, one leading space dropped); undefined when there is none, `[DONE]` or not JSON.
 */
export function eventJson(event: string): unknown {
  dispatched = undefined
  reader.reset()
  // The blank line dispatches an event whose own blank line was cut off; after one, it does nothing.
  reader.feed(event)
  reader.feed('\n\n')
  const data = dispatched
  if (data === undefined || data === '' || data === '[DONE]') return undefined
  try {
    return JSON.parse(data)
  } catch {
    return undefined
  }
}

/** A rough token count where the upstream gave none: about four characters per token. */
export const estimateTokens = (text: string): number => Math.ceil(text.length / 4)
