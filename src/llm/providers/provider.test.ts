import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { anthropic } from './anthropic.js'
import { openai } from './openai.js'
import { eventJson } from './provider.js'

// The proxy reads events by searching their bytes (isOutput, mayCarryUsage, isErrorEvent): these
// properties hold the searches to what parsing the event's JSON says, for any text the model writes.
const text = fc.string({ unit: 'grapheme', maxLength: 20 })
const event = (data: unknown, eventLine = '') => Buffer.from(`${eventLine}data: ${JSON.stringify(data)}\n\n`)

const openaiChunk = fc.record({
  content: fc.option(text, { nil: undefined }),
  toolCall: fc.boolean(),
  usage: fc.constantFrom('absent', 'null', 'object'),
})

describe('openai events read by their bytes', () => {
  it('agree with their parsed JSON on output, usage and errors', () => {
    fc.assert(
      fc.property(openaiChunk, ({ content, toolCall, usage }) => {
        const delta: Record<string, unknown> = {}
        if (content !== undefined) delta.content = content
        if (toolCall) delta.tool_calls = [{ index: 0, function: { arguments: content ?? '' } }]
        const chunk: Record<string, unknown> = {
          id: 'chatcmpl-1',
          object: 'chat.completion.chunk',
          choices: [{ index: 0, delta, finish_reason: null }],
        }
        if (usage !== 'absent')
          chunk.usage = usage === 'null' ? null : { prompt_tokens: 3, completion_tokens: 5, total_tokens: 8 }
        const raw = event(chunk)
        expect(openai.isOutput(raw)).toBe((content !== undefined && content !== '') || toolCall)
        expect(openai.mayCarryUsage(raw)).toBe(usage === 'object')
        expect(openai.isErrorEvent(raw)).toBe(false)
        const data = eventJson(raw.toString('utf8'))
        expect(data).toEqual(chunk)
        expect(openai.textOf(data)).toBe(content ?? '')
        expect(openai.usageOf(data)).toEqual(
          usage === 'object' ? { inputTokens: 3, outputTokens: 5 } : undefined,
        )
      }),
      { numRuns: 500 },
    )
  })

  it('know an error event, spaced or not', () => {
    const error = { error: { message: 'overloaded', type: 'server_error' } }
    expect(openai.isErrorEvent(event(error))).toBe(true)
    expect(openai.isErrorEvent(Buffer.from(`data:${JSON.stringify(error)}\n\n`))).toBe(true)
    expect(openai.isErrorEvent(event({ choices: [{ delta: { content: '{"error"' } }] }))).toBe(false)
  })
})

describe('anthropic events read by their bytes', () => {
  const anthropicEvent = fc.oneof(
    fc.record({ type: fc.constant('content_block_delta'), text }),
    fc.record({ type: fc.constant('message_start'), text }),
    fc.record({ type: fc.constant('message_delta'), text }),
    fc.record({ type: fc.constant('ping'), text }),
    fc.record({ type: fc.constant('error'), text }),
  )

  it('agree with their parsed JSON on output, usage and errors', () => {
    fc.assert(
      fc.property(anthropicEvent, fc.boolean(), ({ type, text }, named) => {
        const data =
          type === 'content_block_delta'
            ? { type, index: 0, delta: { type: 'text_delta', text } }
            : type === 'message_start'
              ? { type, message: { id: 'msg_1', content: [], usage: { input_tokens: 7, output_tokens: 1 } } }
              : type === 'message_delta'
                ? { type, delta: { stop_reason: 'end_turn' }, usage: { output_tokens: 9 } }
                : type === 'error'
                  ? { type, error: { type: 'overloaded_error', message: text } }
                  : { type }
        // Anthropic names its events; an event without the name is read by its data alone.
        const raw = event(data, named || type === 'error' ? `event: ${type}\n` : '')
        expect(anthropic.isOutput(raw)).toBe(type === 'content_block_delta')
        expect(anthropic.mayCarryUsage(raw)).toBe(type === 'message_start' || type === 'message_delta')
        expect(anthropic.isErrorEvent(raw)).toBe(type === 'error')
        const parsed = eventJson(raw.toString('utf8'))
        expect(parsed).toEqual(data)
        expect(anthropic.textOf(parsed)).toBe(type === 'content_block_delta' ? text : '')
      }),
      { numRuns: 500 },
    )
  })
})

describe('eventJson', () => {
  it('reads the data as the protocol does: lines joined, one space dropped, any line ending', () => {
    expect(eventJson('data: {"a":\ndata:1}\n\n')).toEqual({ a: 1 })
    expect(eventJson('event: x\r\n: a comment\r\ndata:  [1]\r\n\r\n')).toEqual([1])
    expect(eventJson('data: {"cut":true}')).toEqual({ cut: true })
    expect(eventJson('data: [DONE]\n\n')).toBeUndefined()
    expect(eventJson('data: not json\n\n')).toBeUndefined()
    expect(eventJson(': only a comment\n\n')).toBeUndefined()
    // One event's leftovers never reach the next.
    expect(eventJson('data: {"b"')).toBeUndefined()
    expect(eventJson('data: 2\n\n')).toBe(2)
  })
})
