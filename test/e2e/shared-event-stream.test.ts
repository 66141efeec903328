import { afterEach, describe, expect, it } from 'vitest'
import { type LockManagerLike, sharedEventStream } from '../../src/client/shared-event-stream.js'
import type { ServerSentEvent } from '../../src/protocol/types.js'
import { startServer } from '../helpers/servers.js'

/** navigator.locks' exclusive mode: requests are granted one at a time, in order. */
class FakeLockManager implements LockManagerLike {
  private tail = Promise.resolve()

  request(_name: string, callback: () => Promise<unknown>): Promise<unknown> {
    const granted = this.tail.then(() => callback())
    this.tail = granted.then(
      () => {},
      () => {},
    )
    return granted
  }
}

let close: (() => Promise<void>) | undefined
afterEach(async () => {
  await close?.()
})

/** A server publishing numbered updates every 30 ms; it resumes after Last-Event-ID. */
async function updateServer() {
  let open = 0
  let maxOpen = 0
  const lastEventIds: (string | undefined)[] = []
  const server = await startServer((request, response) => {
    open++
    maxOpen = Math.max(maxOpen, open)
    lastEventIds.push(request.headers['last-event-id'] as string | undefined)
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    let id = Number(request.headers['last-event-id'] ?? 0)
    const timer = setInterval(() => {
      id++
      response.write(`id: ${id}\ndata: update ${id}\n\n`)
    }, 30)
    request.on('close', () => {
      open--
      clearInterval(timer)
    })
  })
  close = server.close
  return { url: server.url, lastEventIds, openConnections: () => open, maxOpen: () => maxOpen }
}

function tab(url: string, locks: LockManagerLike, roles: string[]) {
  const abort = new AbortController()
  const received: ServerSentEvent[] = []
  const done = (async () => {
    for await (const event of sharedEventStream(url, {
      name: 'updates',
      locks,
      signal: abort.signal,
      onRoleChange: (role) => roles.push(role),
    })) {
      received.push(event)
    }
  })()
  return { abort, received, done }
}

describe('sharedEventStream', () => {
  it('gives three tabs the same updates over one connection, and hands over without a gap', async () => {
    const server = await updateServer()
    const locks = new FakeLockManager()
    const roles: string[][] = [[], [], []]
    const tabs = roles.map((tabRoles) => tab(server.url, locks, tabRoles))

    await expect.poll(() => tabs.every((each) => each.received.length >= 5)).toBe(true)
    expect(server.maxOpen()).toBe(1)
    expect(roles[0]).toEqual(['follower', 'leader'])

    // The leader tab closes: another takes over, resuming after the last id it saw.
    tabs[0]?.abort.abort()
    await tabs[0]?.done
    const handedOverAt = tabs[1]?.received.length ?? 0
    await expect.poll(() => (tabs[1]?.received.length ?? 0) >= handedOverAt + 5).toBe(true)
    expect(server.maxOpen()).toBe(1)
    expect(server.lastEventIds[1]).toMatch(/^\d+$/)

    for (const each of tabs.slice(1)) each.abort.abort()
    await Promise.all(tabs.map((each) => each.done))
    for (const each of tabs.slice(1)) {
      const ids = each.received.map((event) => Number(event.id))
      // Complete and in order: every id from the first seen to the last, once.
      expect(ids).toEqual(Array.from({ length: ids.length }, (_, index) => (ids[0] ?? 0) + index))
    }
    expect(roles[1]).toContain('leader')
  })
})
