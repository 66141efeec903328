// SSE from plain node:http. Run: npx tsx examples/node-http.ts, then open http://localhost:3000/events
import { createServer } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { createEventStream } from 'streamgate/server'

export const server = createServer(async (request, response) => {
  const url = new URL(request.url ?? '/', 'http://localhost')
  if (url.pathname !== '/events') {
    response.writeHead(404).end()
    return
  }
  const interval = Number(url.searchParams.get('interval') ?? 1000)
  const stream = createEventStream(request, response, { retry: 3000 })
  // A reconnecting client sends the last id it saw: carry on from there.
  let tick = Number(stream.lastEventId) || 0
  while (await stream.send({ id: String(++tick), event: 'tick', data: JSON.stringify({ tick }) })) {
    await sleep(interval, undefined, { signal: stream.signal }).catch(() => {})
  }
})

if (process.argv[1] === new URL(import.meta.url).pathname) server.listen(3000)
