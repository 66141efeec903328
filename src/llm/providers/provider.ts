import { createParser } from '../../protocol/parser.js'

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

/** Needles as bytes: a string needle is encoded again on every search. */
export const needle = (text: string) => Buffer.from(text)

/** Error events say so on their first line: no need to search the whole event. */
export function startsWith(event: Buffer, prefix: Buffer): boolean {
  if (event.length < prefix.length) return false
  for (let index = 0; index < prefix.length; index++) if (event[index] !== prefix[index]) return false
  return true
}

type Json = Record<string, unknown>
export const object = (value: unknown): Json =>
  typeof value === 'object' && value !== null ? (value as Json) : {}
export const number = (value: unknown): number | undefined => (typeof value === 'number' ? value : undefined)

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
