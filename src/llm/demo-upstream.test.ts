import { describe, expect, it } from 'vitest'
import { demoUpstream } from './demo-upstream.js'
import { openai } from './provider.js'

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
})
