import { needle, number, object, type Provider, startsWith } from './provider.js'

const ANTHROPIC_ERROR_EVENT = needle('event: error')
const ANTHROPIC_DELTA = needle('content_block_delta')
const ANTHROPIC_MESSAGE_START = needle('message_start')
const ANTHROPIC_MESSAGE_DELTA = needle('message_delta')
const ANTHROPIC_MESSAGE_START_EVENT = needle('event: message_start')
const ANTHROPIC_MESSAGE_DELTA_EVENT = needle('event: message_delta')
const ANTHROPIC_EVENT_LINE = needle('event:')

/** Anthropic's Messages API wire format. */
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
