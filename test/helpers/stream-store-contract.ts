import { expect, it } from 'vitest'
import type { StreamStore } from '../../src/streams/stream-store.js'

const text = (value: string) => new TextEncoder().encode(value)
const texts = (entries: Uint8Array[]) => entries.map((entry) => new TextDecoder().decode(entry))
const stream = (path: string, extra = {}) => ({
  path,
  contentType: 'text/plain',
  entries: [] as Uint8Array[],
  close: false,
  ...extra,
})
const append = (path: string, values: string[], extra = {}) => ({
  path,
  contentType: 'text/plain',
  entries: values.map(text),
  close: false,
  ...extra,
})

/** A clock the tests move. */
export class TestClock {
  time = 1_000_000
  readonly now = () => this.time
}

/** What every durable stream store promises (Durable Streams PROTOCOL.md), memory, sqlite and Redis alike. */
export function streamStoreContract(createStore: (clock: TestClock) => StreamStore): void {
  it('creates a stream once: the same configuration again is idempotent, another one a conflict', async () => {
    const store = createStore(new TestClock())
    expect((await store.create(stream('/a', { entries: [text('x')] }))).kind).toBe('created')
    const again = await store.create(stream('/a'))
    expect(again).toMatchObject({ kind: 'exists', state: { entries: 1 } })
    expect((await store.create(stream('/a', { contentType: 'application/json' }))).kind).toBe('conflict')
    expect((await store.create(stream('/a', { ttlSeconds: 60 }))).kind).toBe('conflict')
    expect((await store.create(stream('/a', { close: true }))).kind).toBe('conflict')
    expect((await store.create(stream('/a', { contentType: 'TEXT/PLAIN' }))).kind).toBe('exists')
    await store.close()
  })

  it('appends entries in order and reads them from any count, in pages bounded by bytes', async () => {
    const store = createStore(new TestClock())
    await store.create(stream('/log'))
    const seen: number[] = []
    store.onAppend((state) => seen.push(state.entries))
    const first = await store.append(append('/log', ['aa', 'bb']))
    expect(first).toMatchObject({ kind: 'appended', state: { entries: 2 } })
    await store.append(append('/log', ['cc']))
    await expect.poll(() => seen).toEqual([2, 3])
    expect(texts((await store.read('/log', 0, 1000))?.entries ?? [])).toEqual(['aa', 'bb', 'cc'])
    const page = await store.read('/log', 1, 3)
    // At least one entry, then as many as fit.
    expect(texts(page?.entries ?? [])).toEqual(['bb'])
    expect(page?.through).toBe(2)
    expect(await store.read('/log', 3, 1000)).toMatchObject({ entries: [], through: 3 })
    expect(await store.read('/missing', 0, 1000)).toBeUndefined()
    expect((await store.append(append('/missing', ['x']))).kind).toBe('not-found')
    await store.close()
  })

  it('keeps idempotent producers exactly once: duplicates append nothing, gaps and old epochs are refused', async () => {
    const store = createStore(new TestClock())
    await store.create(stream('/p'))
    const send = (epoch: number, seq: number, value: string) =>
      store.append(append('/p', [value], { producer: { id: 'writer', epoch, seq } }))
    expect(await send(0, 0, 'a')).toMatchObject({ kind: 'appended', producer: { epoch: 0, lastSeq: 0 } })
    expect(await send(0, 1, 'b')).toMatchObject({ kind: 'appended', producer: { epoch: 0, lastSeq: 1 } })
    expect(await send(0, 1, 'b')).toMatchObject({ kind: 'duplicate', producer: { epoch: 0, lastSeq: 1 } })
    expect(await send(0, 3, 'd')).toMatchObject({
      kind: 'producer-refused',
      decision: { kind: 'gap', expected: 2 },
    })
    expect(await send(1, 0, 'e')).toMatchObject({ kind: 'appended', producer: { epoch: 1, lastSeq: 0 } })
    expect(await send(0, 2, 'zombie')).toMatchObject({
      kind: 'producer-refused',
      decision: { kind: 'stale-epoch', epoch: 1 },
    })
    expect(texts((await store.read('/p', 0, 1000))?.entries ?? [])).toEqual(['a', 'b', 'e'])
    await store.close()
  })

  it('refuses a Stream-Seq that does not increase, and a content type other than the stream’s', async () => {
    const store = createStore(new TestClock())
    await store.create(stream('/s'))
    expect((await store.append(append('/s', ['1'], { streamSeq: '0001' }))).kind).toBe('appended')
    expect((await store.append(append('/s', ['2'], { streamSeq: '0001' }))).kind).toBe(
      'stream-seq-regression',
    )
    expect((await store.append(append('/s', ['2'], { streamSeq: '0002' }))).kind).toBe('appended')
    expect((await store.append(append('/s', ['3'], { contentType: 'application/json' }))).kind).toBe(
      'content-type-mismatch',
    )
    expect((await store.head('/s'))?.entries).toBe(2)
    await store.close()
  })

  it('closes for good: with a last append or alone; a later append is refused, closing again is idempotent', async () => {
    const store = createStore(new TestClock())
    await store.create(stream('/c'))
    const closing = append('/c', ['last'], { close: true, producer: { id: 'w', epoch: 0, seq: 0 } })
    expect(await store.append(closing)).toMatchObject({
      kind: 'appended',
      state: { closed: true, entries: 1 },
    })
    // The retry of the request that closed it is a duplicate; anything else is refused, closed first.
    expect((await store.append(closing)).kind).toBe('duplicate')
    expect((await store.append(append('/c', ['more'], { contentType: 'application/json' }))).kind).toBe(
      'closed',
    )
    expect((await store.append(append('/c', [], { close: true }))).kind).toBe('already-closed')
    expect(await store.read('/c', 0, 1000)).toMatchObject({ state: { closed: true }, through: 1 })
    expect((await store.create(stream('/c', { close: true }))).kind).toBe('exists')
    await store.close()
  })

  it('lets a stream expire: a TTL slides with reads and writes (not with HEAD), an expiry time does not', async () => {
    const clock = new TestClock()
    const store = createStore(clock)
    await store.create(stream('/ttl', { ttlSeconds: 10 }))
    await store.create(stream('/until', { expiresAt: clock.time + 15_000 }))
    clock.time += 8_000
    await store.read('/ttl', 0, 1000)
    await store.read('/until', 0, 1000)
    clock.time += 8_000
    expect(await store.head('/ttl')).toBeDefined()
    expect(await store.head('/until')).toBeUndefined()
    clock.time += 3_000
    expect(await store.head('/ttl')).toBeUndefined()
    expect((await store.append(append('/ttl', ['x']))).kind).toBe('not-found')
    // The path is free again.
    expect((await store.create(stream('/ttl'))).kind).toBe('created')
    await store.close()
  })

  it('counts the bytes a stream stores, and refuses an append past its bound without appending anything', async () => {
    const store = createStore(new TestClock())
    await store.create(stream('/b', { entries: [text('abc')] }))
    const producer = (seq: number) => ({ producer: { id: 'w', epoch: 0, seq }, maxBytes: 6 })
    expect(await store.append(append('/b', ['de', 'f'], producer(0)))).toMatchObject({
      kind: 'appended',
      state: { entries: 3, bytes: 6 },
    })
    // The bound is checked after the producer's: a retry is still a duplicate.
    expect((await store.append(append('/b', ['de', 'f'], producer(0)))).kind).toBe('duplicate')
    expect(await store.append(append('/b', ['g'], producer(1)))).toMatchObject({
      kind: 'stream-full',
      state: { entries: 3, bytes: 6 },
    })
    // Nothing of the refused append was kept, the producer's seq included.
    expect((await store.append(append('/b', ['g'], { ...producer(1), maxBytes: 7 }))).kind).toBe('appended')
    expect(texts((await store.read('/b', 0, 1000))?.entries ?? [])).toEqual(['abc', 'de', 'f', 'g'])
    // A fork stores only what it adds: its inherited entries count in its source.
    await store.create(
      stream('/b-fork', { contentType: undefined, fork: { from: '/b', offset: 4, subOffset: 0 } }),
    )
    expect(await store.append(append('/b-fork', ['hij'], { maxBytes: 3 }))).toMatchObject({
      kind: 'appended',
      state: { entries: 5, bytes: 3 },
    })
    expect((await store.head('/b'))?.bytes).toBe(7)
    await store.close()
  })

  it('deletes a stream and its entries', async () => {
    const store = createStore(new TestClock())
    await store.create(stream('/d', { entries: [text('x')] }))
    await store.create(stream('/e'))
    expect(store.count()).toBe(2)
    expect(await store.delete('/d')).toBe('deleted')
    expect(store.count()).toBe(1)
    expect(await store.delete('/d')).toBe('not-found')
    expect(await store.read('/d', 0, 1000)).toBeUndefined()
    expect(await store.create(stream('/d'))).toMatchObject({ kind: 'created', state: { entries: 0 } })
    await store.close()
  })
}
