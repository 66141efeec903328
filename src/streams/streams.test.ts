import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { streamStoreContract } from '../../test/helpers/stream-store-contract.js'
import { openSqliteFile } from '../storage/sqlite-file.js'
import { ReadCapabilities } from './capability.js'
import { JsonBodyError, jsonMessages } from './json-messages.js'
import { LiveStreams } from './live.js'
import { MemoryStreamStore } from './memory-store.js'
import { offsetOf, parseOffset } from './offset.js'
import { decideProducer } from './producer.js'
import { SqliteStreamStore } from './sqlite-store.js'
import type { StreamPage } from './stream-store.js'

const bytes = (text: string) => new TextEncoder().encode(text)

describe('offsets', () => {
  it('sort byte-wise as their entry counts do, and read back', () => {
    fc.assert(
      fc.property(fc.nat(), fc.nat(), (a, b) => {
        expect(offsetOf(a) < offsetOf(b)).toBe(a < b)
        expect(parseOffset(offsetOf(a))).toBe(a)
      }),
    )
  })

  it('know the sentinels and refuse what the server never issued', () => {
    expect(parseOffset('-1')).toBe(0)
    expect(parseOffset('now')).toBe('now')
    expect(parseOffset('0000000000000000_0000000000000000')).toBe(0)
    for (const bad of [
      '',
      '1',
      '-2',
      '0000000000000001',
      '000000000000000x_0000000000000000',
      '0000000000000001_0000000000000001',
      '00000000000000001_0000000000000000',
      'NOW',
      ' 0000000000000001_0000000000000000',
    ])
      expect(parseOffset(bad)).toBeUndefined()
    expect(parseOffset('9999999999999999_0000000000000000')).toBeUndefined()
  })
})

describe('idempotent producers (PROTOCOL.md §5.2.1)', () => {
  const producer = (epoch: number, seq: number) => ({ id: 'p', epoch, seq })

  it('starts a new producer at request 0 in any epoch, and refuses a first request past it', () => {
    expect(decideProducer(undefined, producer(0, 0))).toEqual({
      kind: 'accept',
      next: { epoch: 0, lastSeq: 0 },
    })
    expect(decideProducer(undefined, producer(5, 0))).toEqual({
      kind: 'accept',
      next: { epoch: 5, lastSeq: 0 },
    })
    expect(decideProducer(undefined, producer(0, 3))).toEqual({ kind: 'gap', expected: 0, received: 3 })
  })

  it('accepts the next request, answers a seen one as a duplicate and refuses a gap', () => {
    const state = { epoch: 1, lastSeq: 4 }
    expect(decideProducer(state, producer(1, 5))).toEqual({ kind: 'accept', next: { epoch: 1, lastSeq: 5 } })
    expect(decideProducer(state, producer(1, 4))).toEqual({ kind: 'duplicate', state })
    expect(decideProducer(state, producer(1, 0))).toEqual({ kind: 'duplicate', state })
    expect(decideProducer(state, producer(1, 7))).toEqual({ kind: 'gap', expected: 5, received: 7 })
  })

  it('fences an older epoch, and a newer one starts at 0', () => {
    const state = { epoch: 2, lastSeq: 9 }
    expect(decideProducer(state, producer(1, 10))).toEqual({ kind: 'stale-epoch', epoch: 2 })
    expect(decideProducer(state, producer(3, 0))).toEqual({ kind: 'accept', next: { epoch: 3, lastSeq: 0 } })
    expect(decideProducer(state, producer(3, 1))).toEqual({ kind: 'epoch-must-start-at-zero' })
  })
})

describe('JSON mode messages (PROTOCOL.md §7.1)', () => {
  it('flattens one level of an array, keeping each element as written', () => {
    expect(jsonMessages(bytes('{"event": "created"}'), 'refuse')).toEqual(['{"event": "created"}'])
    expect(jsonMessages(bytes('[{"event":"a"}, {"event":"b"}]'), 'refuse')).toEqual([
      '{"event":"a"}',
      '{"event":"b"}',
    ])
    expect(jsonMessages(bytes('[[1,2], [3,4]]'), 'refuse')).toEqual(['[1,2]', '[3,4]'])
    expect(jsonMessages(bytes('[[[1,2,3]]]'), 'refuse')).toEqual(['[[1,2,3]]'])
    expect(jsonMessages(bytes(' [ 12345678901234567890 , "a,]\\"[" ] '), 'refuse')).toEqual([
      '12345678901234567890',
      '"a,]\\"["',
    ])
  })

  it('takes an empty array as no message on create, and refuses it on append; refuses what is not JSON', () => {
    expect(jsonMessages(bytes('[]'), 'none')).toEqual([])
    expect(() => jsonMessages(bytes(' [ ] '), 'refuse')).toThrow(/empty JSON array/)
    for (const bad of ['', '{', '[1,]', 'nul', '{"a":1}{"b":2}'])
      expect(() => jsonMessages(bytes(bad), 'refuse')).toThrow(JsonBodyError)
    expect(() => jsonMessages(new Uint8Array([0x5b, 0x22, 0xff, 0x22, 0x5d]), 'refuse')).toThrow(/UTF-8/)
  })

  it('for any JSON array: the messages parse to its elements, in order', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { minLength: 1, maxLength: 8 }),
        fc.constantFrom(0, 2),
        (values, indent) => {
          const messages = jsonMessages(bytes(JSON.stringify(values, null, indent)), 'refuse')
          expect(messages.map((message) => JSON.parse(message))).toEqual(JSON.parse(JSON.stringify(values)))
        },
      ),
      { numRuns: 2000 },
    )
  })
})

describe('memory stream store', () => {
  streamStoreContract((clock) => new MemoryStreamStore(clock.now))
})

describe('sqlite stream store', () => {
  streamStoreContract((clock) => new SqliteStreamStore(openSqliteFile(':memory:'), clock.now))

  it('keeps streams, entries, producers, closure and forks across a restart of the file', async () => {
    const directory = mkdtempSync(join(tmpdir(), 'streamgate-streams-'))
    try {
      const path = join(directory, 'gateway.db')
      let database = openSqliteFile(path)
      let store = new SqliteStreamStore(database)
      await store.create({ path: '/s', contentType: 'text/plain', entries: [bytes('a')], close: false })
      const producer = { id: 'w', epoch: 0, seq: 0 }
      await store.append({
        path: '/s',
        contentType: 'text/plain',
        entries: [bytes('b')],
        close: false,
        producer,
      })
      await store.create({
        path: '/f',
        contentType: undefined,
        entries: [],
        close: false,
        fork: { from: '/s', offset: 1, subOffset: 0 },
      })
      await store.append({ path: '/f', contentType: 'text/plain', entries: [bytes('c')], close: true })
      database.close()
      database = openSqliteFile(path)
      store = new SqliteStreamStore(database)
      const text = (entries: Uint8Array[] | undefined) =>
        (entries ?? []).map((entry) => new TextDecoder().decode(entry))
      expect(text((await store.read('/s', 0, 1000))?.entries)).toEqual(['a', 'b'])
      expect(text((await store.read('/f', 0, 1000))?.entries)).toEqual(['a', 'c'])
      expect(await store.head('/f')).toMatchObject({ closed: true, entries: 2 })
      // The producer's retry is still known as one.
      expect(
        (
          await store.append({
            path: '/s',
            contentType: 'text/plain',
            entries: [bytes('b')],
            close: false,
            producer,
          })
        ).kind,
      ).toBe('duplicate')
      // The source goes soft while its fork lives, and entirely with it.
      expect(await store.delete('/s')).toBe('deleted')
      expect(await store.head('/s')).toMatchObject({ softDeleted: true })
      expect(text((await store.read('/f', 0, 1000))?.entries)).toEqual(['a', 'c'])
      expect(await store.delete('/f')).toBe('deleted')
      expect(await store.head('/s')).toBeUndefined()
      database.close()
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })
})

describe('sqlite appends of one turn', () => {
  it('commit together in the order they came, and one the database refuses fails alone', async () => {
    const database = openSqliteFile(':memory:')
    const store = new SqliteStreamStore(database)
    await store.create({ path: '/t', contentType: 'text/plain', entries: [], close: false })
    const commits: number[] = []
    const commit = database.transaction
    // Counts the transactions the batch runs in.
    database.transaction = ((run: (...args: unknown[]) => unknown) =>
      commit.call(database, (...args: unknown[]) => {
        commits.push(1)
        return run(...args)
      })) as typeof database.transaction
    const append = (text: string) =>
      store.append({ path: '/t', contentType: 'text/plain', entries: [bytes(text)], close: false })
    const results = await Promise.all(['a', 'b', 'c'].map(append))
    expect(results.map((result) => result.kind)).toEqual(['appended', 'appended', 'appended'])
    expect(commits).toHaveLength(1)
    // Not bytes: the database refuses to bind it, and the batch is committed again one by one.
    const refused = store.append({
      path: '/t',
      contentType: 'text/plain',
      entries: [{} as Uint8Array],
      close: false,
    })
    const after = await Promise.allSettled([append('d'), refused, append('e')])
    expect(after.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    const page = await store.read('/t', 0, 1000)
    expect(page?.entries.map((entry) => new TextDecoder().decode(entry))).toEqual(['a', 'b', 'c', 'd', 'e'])
    expect(page?.state.bytes).toBe(5)
    database.close()
  })
})

describe('live readers', () => {
  it('share one read among the readers woken by an append, and never one started before it', async () => {
    const memory = new MemoryStreamStore()
    let reads = 0
    // A store whose reads take a while, with what was there when they started (as Redis reads do).
    const store = Object.assign(Object.create(memory) as MemoryStreamStore, {
      read: async (path: string, after: number, maxBytes: number) => {
        reads++
        const page = await memory.read(path, after, maxBytes)
        await new Promise((resolve) => setTimeout(resolve, 10))
        return page
      },
    })
    const live = new LiveStreams(store)
    await memory.create({ path: '/s', contentType: 'text/plain', entries: [], close: false })
    const woken: Promise<StreamPage | undefined>[] = []
    live.watch('/s', () => {
      woken.push(live.read('/s', 0, 1000), live.read('/s', 0, 1000))
    })
    const early = live.read('/s', 0, 1000)
    await memory.append({ path: '/s', contentType: 'text/plain', entries: [bytes('a')], close: false })
    expect((await early)?.entries).toEqual([])
    const pages = await Promise.all(woken)
    expect(pages.map((page) => page?.entries.length)).toEqual([1, 1])
    expect(pages[0]).toBe(pages[1])
    expect(reads).toBe(2)
    live.close()
  })
})

describe('read capabilities', () => {
  it('hold for their path until they expire, and only with the keys that signed them', () => {
    const capabilities = new ReadCapabilities(['k1', 'k2'])
    const query = capabilities.sign('/v1/stream/a', 2000)
    expect(capabilities.check('/v1/stream/a', query, 1999)).toBe('valid')
    expect(capabilities.check('/v1/stream/a', query, 2000)).toBe('expired')
    expect(capabilities.check('/v1/stream/b', query, 1999)).toBe('invalid')
    // The same keys in another order sign the same; other keys do not.
    expect(new ReadCapabilities(['k2', 'k1']).check('/v1/stream/a', query, 1999)).toBe('valid')
    expect(new ReadCapabilities(['k1']).check('/v1/stream/a', query, 1999)).toBe('invalid')
    expect(capabilities.check('/v1/stream/a', new URLSearchParams({ offset: '-1' }))).toBe('absent')
    expect(capabilities.check('/v1/stream/a', new URLSearchParams({ sg_expires: '2000' }), 1999)).toBe(
      'invalid',
    )
    const moved = new URLSearchParams(query)
    moved.set('sg_expires', '3000')
    expect(capabilities.check('/v1/stream/a', moved, 1999)).toBe('invalid')
  })
})
