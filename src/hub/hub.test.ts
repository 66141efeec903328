import { setImmediate as nextTurn } from 'node:timers/promises'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { EncodedEvent } from '../server/encoded-event.js'
import type { CloseReason, EventStream } from '../server/event-stream.js'
import { Hub } from './hub.js'
import { MemoryStore } from './store/memory.js'
import { Subscriber } from './subscriber.js'
import { exactSelector } from './topic-selector.js'

/** An EventStream that records each write as text. */
function recordingStream(): EventStream & { writes: string[] } {
  const writes: string[] = []
  const decoder = new TextDecoder()
  const record = (chunk: Uint8Array | string | EncodedEvent) => {
    const bytes = chunk instanceof EncodedEvent ? chunk.bytes : chunk
    writes.push(typeof bytes === 'string' ? bytes : decoder.decode(bytes))
    return true
  }
  return {
    writes,
    lastEventId: '',
    closed: new Promise<CloseReason>(() => {}),
    onClose: () => {},
    signal: new AbortController().signal,
    isClosed: false,
    bufferedBytes: 0,
    send: async () => true,
    comment: async () => true,
    write: async (chunk) => record(chunk),
    offer: (chunk) => record(chunk),
    close: () => {},
  }
}

async function subscribed(hub: Hub, ...topics: string[]) {
  const subscriber = new Subscriber(topics.map(exactSelector), [])
  const { history } = await hub.subscribe(subscriber, undefined)
  const stream = recordingStream()
  subscriber.stream = stream
  hub.attach(subscriber, history)
  return stream
}

describe('Hub history', () => {
  it('stops a replay once it holds maxBytes of data (at least one update), and leaves the cut subscriber out', async () => {
    const hub = new Hub(new MemoryStore())
    for (let index = 1; index <= 50; index++)
      await hub.publish({ id: String(index), topics: ['a'], data: 'x'.repeat(100), private: false })
    const cut = new Subscriber([exactSelector('a')], [])
    const partial = await hub.subscribe(cut, 'earliest', 1000)
    expect(partial.cut).toBe(true)
    expect(partial.history.map((update) => update.id)).toEqual([
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
      '10',
    ])
    expect(hub.subscribers.has(cut)).toBe(false)
    const one = await hub.subscribe(new Subscriber([exactSelector('a')], []), { after: '45' }, 1)
    expect(one.history.map((update) => update.id)).toEqual(['46'])
    const whole = await hub.subscribe(new Subscriber([exactSelector('a')], []), 'earliest')
    expect(whole.cut).toBe(false)
    expect(whole.history).toHaveLength(50)
    await hub.close()
  })
})

describe('Hub fan-out', () => {
  it('writes the updates committed in one turn of the event loop as one write, in order', async () => {
    const hub = new Hub(new MemoryStore(), undefined, { quietMs: Number.POSITIVE_INFINITY })
    const both = await subscribed(hub, 'a', 'b')
    const onlyB = await subscribed(hub, 'b')
    await Promise.all([
      hub.publish({ id: '1', topics: ['a'], data: 'one', private: false }),
      hub.publish({ id: '2', topics: ['b'], data: 'two', private: false }),
      hub.publish({ id: '3', topics: ['a'], data: 'three', private: false }),
    ])
    await nextTurn()
    expect(both.writes).toEqual(['id: 1\ndata: one\n\nid: 2\ndata: two\n\nid: 3\ndata: three\n\n'])
    expect(onlyB.writes).toEqual(['id: 2\ndata: two\n\n'])
    expect(hub.stats.deliveries).toBe(4)
    await hub.publish({ id: '4', topics: ['b'], data: 'four', private: false })
    await nextTurn()
    expect(onlyB.writes).toEqual(['id: 2\ndata: two\n\n', 'id: 4\ndata: four\n\n'])
    await hub.close()
  })

  it('splits a burst larger than one batch without losing or reordering updates', async () => {
    const hub = new Hub(new MemoryStore(), undefined, { quietMs: Number.POSITIVE_INFINITY })
    const stream = await subscribed(hub, 't')
    await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        hub.publish({ id: String(index), topics: ['t'], data: String(index), private: false }),
      ),
    )
    await nextTurn()
    const ids = [...stream.writes.join('').matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]))
    expect(ids).toEqual(Array.from({ length: 100 }, (_, index) => index))
    expect(stream.writes.length).toBe(Math.ceil(100 / 31))
    await hub.close()
  })

  it('when quiet, writes a lone update before its publish resolves; what comes right after waits for the turn', async () => {
    const hub = new Hub(new MemoryStore(), undefined, { quietMs: 500 })
    const stream = await subscribed(hub, 't')
    const first = hub.publish({ id: '1', topics: ['t'], data: 'one', private: false })
    expect(stream.writes).toEqual(['id: 1\ndata: one\n\n'])
    await first
    // Busy now (a fan-out just ran): these two share a write at the end of the turn.
    await Promise.all([
      hub.publish({ id: '2', topics: ['t'], data: 'two', private: false }),
      hub.publish({ id: '3', topics: ['t'], data: 'three', private: false }),
    ])
    expect(stream.writes).toHaveLength(1)
    await nextTurn()
    expect(stream.writes).toEqual(['id: 1\ndata: one\n\n', 'id: 2\ndata: two\n\nid: 3\ndata: three\n\n'])
    await new Promise((resolve) => setTimeout(resolve, 550))
    const published = hub.publish({ id: '4', topics: ['t'], data: 'four', private: false })
    expect(stream.writes).toHaveLength(3)
    await published
    await hub.close()
  })

  it('in slices of a few subscribers, with updates arriving mid-pass: each gets what it wants once, in order', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({ topics: fc.subarray(['a', 'b', 'c'], { minLength: 1 }), turnsAfter: fc.nat(2) }),
          {
            minLength: 1,
            maxLength: 80,
          },
        ),
        fc.integer({ min: 1, max: 7 }),
        async (updates, sliceSize) => {
          const hub = new Hub(new MemoryStore(), undefined, { sliceSize })
          const selections = [['a'], ['b'], ['c'], ['a', 'b'], ['a', 'b', 'c']]
          const streams = await Promise.all(
            Array.from({ length: 20 }, (_, index) => subscribed(hub, ...(selections[index % 5] as string[]))),
          )
          for (const [index, update] of updates.entries()) {
            await hub.publish({ id: String(index), topics: update.topics, data: 'x', private: false })
            for (let turn = 0; turn < update.turnsAfter; turn++) await nextTurn()
          }
          for (let turn = 0; turn < 400; turn++) await nextTurn()
          for (const [index, stream] of streams.entries()) {
            const wants = selections[index % 5] as string[]
            const expected = updates.flatMap((update, id) =>
              update.topics.some((topic) => wants.includes(topic)) ? [id] : [],
            )
            const got = [...stream.writes.join('').matchAll(/^id: (\d+)$/gm)].map((match) => Number(match[1]))
            expect(got).toEqual(expected)
          }
          await hub.close()
        },
      ),
      { numRuns: 60 },
    )
  })
})
