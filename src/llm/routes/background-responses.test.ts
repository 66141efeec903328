import { describe, expect, it } from 'vitest'
import { testGenerationOptions } from '../../../test/helpers/generation-options.js'
import { DEFAULT_RETENTION, Generations } from '../generation/generations.js'
import { BackgroundResponses } from './background-responses.js'

const event = (type: string, fields: Record<string, unknown>, sequence: number) =>
  Buffer.from(`event: ${type}\ndata: ${JSON.stringify({ type, sequence_number: sequence, ...fields })}\n\n`)
const response = (status: string, extra: Record<string, unknown> = {}) => ({
  id: 'resp_1',
  object: 'response',
  status,
  background: false,
  output: [],
  ...extra,
})
const item = {
  id: 'msg_1',
  type: 'message',
  role: 'assistant',
  content: [{ type: 'output_text', text: 'Hi' }],
}

function started(generations = new Generations(DEFAULT_RETENTION)) {
  const generation = generations.create({ ...testGenerationOptions, background: true })
  const responses = new BackgroundResponses(generations)
  const tracked = responses.start(generation)
  generation.relay([event('response.created', { response: response('in_progress') }, 0)])
  return { generation, responses, tracked }
}

describe('background responses', () => {
  it('are known by the upstream’s id once its first event names it, and described by its events', async () => {
    const { generation, responses, tracked } = started()
    await tracked.known
    expect(tracked.id).toBe('resp_1')
    expect(await responses.get('resp_1')).toBe(tracked)
    expect(tracked.object()).toMatchObject({
      id: 'resp_1',
      status: 'in_progress',
      background: true,
      output: [],
    })
    generation.relay([
      event('response.output_text.delta', { delta: 'Hi' }, 1),
      event('response.output_item.done', { output_index: 0, item }, 2),
    ])
    expect(tracked.object()).toMatchObject({ status: 'in_progress', output: [item] })
    generation.relay([
      event('response.completed', { response: response('completed', { output: [item] }) }, 3),
    ])
    generation.complete()
    expect(tracked.object()).toMatchObject({
      status: 'completed',
      background: true,
      output: [item],
      error: null,
    })
  })

  it('say what became of a response the upstream never finished: cancelled, failed or incomplete', () => {
    const cancelled = started()
    cancelled.generation.cancel('by request')
    expect(cancelled.tracked.object()).toMatchObject({ status: 'cancelled' })
    const failed = started()
    failed.generation.fail('the upstream failed: ECONNRESET')
    expect(failed.tracked.object()).toMatchObject({
      status: 'failed',
      error: { code: 'server_error', message: 'the upstream failed: ECONNRESET' },
    })
    const cut = started()
    cut.generation.complete()
    expect(cut.tracked.object()).toMatchObject({ status: 'incomplete' })
  })

  it('are forgotten with their generation', async () => {
    const { generation, responses, tracked } = started(
      new Generations({ ...DEFAULT_RETENTION, maxFinished: 0 }),
    )
    expect(await responses.get('resp_1')).toBe(tracked)
    generation.complete()
    expect(await responses.get('resp_1')).toBeUndefined()
  })
})
