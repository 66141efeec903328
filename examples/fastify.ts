// SSE from Fastify 5. Run: npx tsx examples/fastify.ts, then open http://localhost:3000/events
import { setTimeout as sleep } from 'node:timers/promises'
import Fastify from 'fastify'
import { createEventStream } from 'streamgate/server'

// Streams never go idle: on close(), end their connections instead of waiting for them.
export const fastify = Fastify({ forceCloseConnections: true })

fastify.get<{ Querystring: { interval?: string } }>('/events', async (request, reply) => {
  // The stream writes to the raw response: tell Fastify not to send a reply of its own.
  reply.hijack()
  const interval = Number(request.query.interval ?? 1000)
  const stream = createEventStream(request.raw, reply.raw, { retry: 3000 })
  let tick = Number(stream.lastEventId) || 0
  while (await stream.send({ id: String(++tick), event: 'tick', data: JSON.stringify({ tick }) })) {
    await sleep(interval, undefined, { signal: stream.signal }).catch(() => {})
  }
})

if (process.argv[1] === new URL(import.meta.url).pathname) await fastify.listen({ port: 3000 })
