import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { describe, expect, it } from 'vitest'
import { app as expressApp } from '../../examples/express.js'
import { fastify } from '../../examples/fastify.js'
import { app as honoApp } from '../../examples/hono.js'
import { server as nodeServer } from '../../examples/node-http.js'
import type { ServerSentEvent } from '../../src/protocol/types.js'
import { readEvents } from '../helpers/read-events.js'

type Started = { url: string; close(): Promise<void> }

const urlOf = (server: Server) => `http://127.0.0.1:${(server.address() as AddressInfo).port}`
const closeServer = (server: Server) =>
  new Promise<void>((resolve) => {
    server.closeAllConnections()
    server.close(() => resolve())
  })

const examples: [string, () => Promise<Started>][] = [
  [
    'node:http',
    async () => {
      await new Promise<void>((resolve) => nodeServer.listen(0, '127.0.0.1', resolve))
      return { url: urlOf(nodeServer), close: () => closeServer(nodeServer) }
    },
  ],
  [
    'Express 5',
    async () => {
      const server = await new Promise<Server>((resolve) => {
        const listening = expressApp.listen(0, '127.0.0.1', () => resolve(listening))
      })
      return { url: urlOf(server), close: () => closeServer(server) }
    },
  ],
  [
    'Fastify 5',
    async () => {
      const url = await fastify.listen({ port: 0, host: '127.0.0.1' })
      return { url, close: () => fastify.close() }
    },
  ],
  [
    'Hono (Web Response)',
    async () => {
      const server = await new Promise<Server>((resolve) => {
        const listening = serve({ fetch: honoApp.fetch, port: 0, hostname: '127.0.0.1' }, () =>
          resolve(listening as Server),
        )
      })
      return { url: urlOf(server), close: () => closeServer(server) }
    },
  ],
]

async function firstEvents(
  url: string,
  count: number,
  headers: Record<string, string> = {},
): Promise<ServerSentEvent[]> {
  const response = await fetch(url, { headers })
  expect(response.headers.get('content-type')).toBe('text/event-stream; charset=utf-8')
  return readEvents(response, count)
}

describe.each(examples)('the %s example', (_name, start) => {
  it('streams tick events and resumes after Last-Event-ID', async () => {
    const server = await start()
    try {
      const events = await firstEvents(`${server.url}/events?interval=10`, 3)
      expect(events.map(({ event, id, data }) => ({ event, id, data }))).toEqual([
        { event: 'tick', id: '1', data: '{"tick":1}' },
        { event: 'tick', id: '2', data: '{"tick":2}' },
        { event: 'tick', id: '3', data: '{"tick":3}' },
      ])
      const resumed = await firstEvents(`${server.url}/events?interval=10`, 1, { 'last-event-id': '41' })
      expect(resumed[0]?.id).toBe('42')
    } finally {
      await server.close()
    }
  })
})
