import { describe, expect, it } from 'vitest'
import { startGateway } from '../helpers/gateway-process.js'

/** Reads a stream to its end; resolves with everything received and whether it ended cleanly. */
async function readToEnd(response: Response): Promise<{ text: string; cleanEnd: boolean }> {
  const reader = (response.body as ReadableStream<Uint8Array>).getReader()
  const decoder = new TextDecoder()
  let text = ''
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return { text, cleanEnd: true }
      text += decoder.decode(value, { stream: true })
    }
  } catch {
    return { text, cleanEnd: false }
  }
}

describe('graceful shutdown', () => {
  it('ends 100 open streams with a retry hint and exits 0 within 5 s of SIGTERM', async () => {
    const gateway = await startGateway()
    const responses = await Promise.all(
      Array.from({ length: 100 }, () => fetch(`${gateway.url}/stream?interval=60000`)),
    )
    expect(responses.every((response) => response.status === 200)).toBe(true)
    const endings = responses.map(readToEnd)
    await expect
      .poll(async () => (await (await fetch(`${gateway.url}/healthz`)).json()).openStreams)
      .toBe(100)

    const { code, milliseconds } = await gateway.stop('SIGTERM')
    const results = await Promise.all(endings)

    expect(code).toBe(0)
    expect(milliseconds).toBeLessThan(5000)
    expect(results.filter((result) => result.cleanEnd)).toHaveLength(100)
    expect(results.every((result) => result.text.includes('retry: 1000\n'))).toBe(true)
    expect(gateway.logs.some((entry) => entry.msg === 'shutting down' && entry.openStreams === 100)).toBe(
      true,
    )
  })
})
