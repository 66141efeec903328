import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { startGateway } from '../helpers/gateway-process.js'
import { publish, publisherToken, subscribe } from '../helpers/hub.js'

const directory = mkdtempSync(join(tmpdir(), 'streamgate-durability-'))
afterAll(() => rmSync(directory, { recursive: true, force: true }))

describe('the sqlite store through a crash', () => {
  it('resumes from update 500 after kill -9 with exactly 501–1000', async () => {
    const store = ['--store', `sqlite:${join(directory, 'hub.db')}`]
    const topic = 'https://example.com/durable'
    const token = await publisherToken()
    const first = await startGateway(store)
    const hub = `${first.url}/.well-known/mercure`
    const ids: string[] = []
    // Ten publishers at a time: acknowledgements come from group commits.
    for (let batch = 0; batch < 100; batch++) {
      const results = await Promise.all(
        Array.from({ length: 10 }, (_, index) =>
          publish(
            hub,
            [
              ['topic', topic],
              ['data', String(batch * 10 + index + 1)],
            ],
            token,
          ),
        ),
      )
      for (const result of results) {
        expect(result.status).toBe(200)
        ids.push(result.body)
      }
    }
    // No graceful shutdown: whatever was acknowledged must be on disk.
    await first.stop('SIGKILL')

    const second = await startGateway(store)
    try {
      const order = await subscribe(
        `${second.url}/.well-known/mercure?topic=${encodeURIComponent(topic)}&lastEventID=earliest`,
      )
      const all = await order.waitFor(1000, 10_000)
      order.close()
      const idAt500 = all[499]?.id as string
      expect(new Set(ids)).toEqual(new Set(all.map((event) => event.id)))

      const resumed = await subscribe(
        `${second.url}/.well-known/mercure?topic=${encodeURIComponent(topic)}`,
        {
          'last-event-id': idAt500,
        },
      )
      const events = await resumed.waitFor(500, 10_000)
      await new Promise((resolve) => setTimeout(resolve, 300))
      resumed.close()
      expect(resumed.events).toHaveLength(500)
      expect(events.map((event) => event.id)).toEqual(all.slice(500).map((event) => event.id))
      expect(resumed.response.headers.get('mercure-last-event-id')).toBe(idAt500)
    } finally {
      await second.stop()
    }
  })
})
