// SSE from Hono with a Web Response (the same code runs on Bun, Deno and Workers).
// Run: npx tsx examples/hono.ts, then open http://localhost:3000/events
import { setTimeout as sleep } from 'node:timers/promises'
import { serve } from '@hono/node-server'
import { Hono } from 'hono'
import { eventStreamResponse, type WebEventStream } from 'streamgate/server'

export const app = new Hono()

app.get('/events', (context) => {
  const stream = eventStreamResponse({ request: context.req.raw, retry: 3000 })
  produceTicks(stream, Number(context.req.query('interval') ?? 1000)).catch(() => stream.close())
  return stream.response
})

async function produceTicks(stream: WebEventStream, interval: number): Promise<void> {
  let tick = Number(stream.lastEventId) || 0
  while (await stream.send({ id: String(++tick), event: 'tick', data: JSON.stringify({ tick }) })) {
    await sleep(interval, undefined, { signal: stream.signal }).catch(() => {})
  }
}

if (process.argv[1] === new URL(import.meta.url).pathname) serve({ fetch: app.fetch, port: 3000 })
