import { describe, expect, it } from 'vitest'
import { openai } from '../providers/openai.js'
import { demoUpstream } from './demo-upstream.js'

async function text(body: AsyncIterable<Buffer>): Promise<string> {
  let all = ''
  for await (const chunk of body) all += chunk.toString()
  return all
}

describe('demoUpstream', () => {
  it('streams its labelled answer for a body sent whole or in parts (as the proxy sends it with usage asked)', async () => {
    const upstream = demoUpstream(openai, 0)
    const request = {
      path: '/chat/completions',
      method: 'POST' as const,
      headers: {},
      signal: new AbortController().signal,
    }
    for (const body of [
      Buffer.from('{"model":"m","stream":true}'),
      [
        Buffer.from('{'),
        Buffer.from('"stream_options":{"include_usage":true},'),
        Buffer.from('"model":"m","stream":true}'),
      ],
    ]) {
      const response = await upstream.request({ ...request, body })
      expect(response.status).toBe(200)
      const answer = await text(response.body)
      expect(answer).toContain('"content":"demo "')
      expect(answer).toContain('data: [DONE]')
    }
    const usage = await text(
      (
        await upstream.request({
          ...request,
          body: [Buffer.from('{"stream":true,"stream_options":{"include_usage":true}}')],
        })
      ).body,
    )
    expect(usage).toContain('"usage":{')
  })

  it('hands its answer to a taker (the proxy reads it so), and a failure when aborted', async () => {
    const upstream = demoUpstream(openai, 5)
    const controller = new AbortController()
    const request = {
      path: '/chat/completions',
      method: 'POST' as const,
      headers: {},
      body: Buffer.from('{"stream":true}'),
    }
    const taken = (signal: AbortSignal, abortAfter = Number.POSITIVE_INFINITY) =>
      upstream.request({ ...request, signal }).then(
        (response) =>
          new Promise<{ text: string; error?: Error }>((resolve) => {
            let text = ''
            response.take({
              bytes: (data) => {
                text += data.toString()
                if (text.length > abortAfter) controller.abort()
              },
              end: () => resolve({ text }),
              error: (error) => resolve({ text, error }),
            })
          }),
      )
    const whole = await taken(new AbortController().signal)
    expect(whole.error).toBeUndefined()
    expect(whole.text).toContain('"content":"demo "')
    expect(whole.text.endsWith('data: [DONE]\n\n')).toBe(true)
    const cut = await taken(controller.signal, 1)
    expect(cut.error).toBeDefined()
    expect(cut.text).not.toContain('[DONE]')
  })
})
