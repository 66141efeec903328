// SSE from Express 5. Run: npx tsx examples/express.ts, then open http://localhost:3000/events
import { setTimeout as sleep } from 'node:timers/promises'
import express from 'express'
import { createEventStream } from 'streamgate/server'

export const app = express()

app.get('/events', async (request, response) => {
  const interval = Number(request.query.interval ?? 1000)
  const stream = createEventStream(request, response, { retry: 3000 })
  let tick = Number(stream.lastEventId) || 0
  while (await stream.send({ id: String(++tick), event: 'tick', data: JSON.stringify({ tick }) })) {
    await sleep(interval, undefined, { signal: stream.signal }).catch(() => {})
  }
})

if (process.argv[1] === new URL(import.meta.url).pathname) app.listen(3000)
