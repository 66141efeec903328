import { expect, it } from 'vitest'
import { DuplicateIdError, type UpdateStore } from '../../src/hub/store/store.js'
import type { StoredUpdate } from '../../src/hub/update.js'

const update = (topic: string, data: string, extra = {}) => ({
  topics: [topic],
  data,
  private: false,
  ...extra,
})
const all = () => true

/** What every store promises (DESIGN §3), run against memory, sqlite and redis. */
export function storeContract(createStore: (options?: { maxPresence?: number }) => UpdateStore): void {
  it('assigns ids and one increasing sequence, and tells listeners in order after commit', async () => {
    const store = createStore()
    const seen: string[] = []
    store.onAppend((stored) => seen.push(stored.data))
    const appended = await Promise.all(
      Array.from({ length: 50 }, (_, index) => store.append(update('t', `u${index}`))),
    )
    expect(appended.map((stored) => stored.sequence)).toEqual(
      Array.from({ length: 50 }, (_, index) => index + 1),
    )
    expect(appended[0]?.id).toMatch(/^urn:uuid:[0-9a-f-]{36}$/)
    // After commit, not necessarily before append resolves (Redis: through the node's reader).
    await expect.poll(() => seen).toEqual(appended.map((stored) => stored.data))
    expect(await store.newestSequence()).toBe(50)
    await store.close()
  })

  it('keeps a publisher’s id and refuses it a second time, without failing the others', async () => {
    const store = createStore()
    const results = await Promise.allSettled([
      store.append(update('t', 'a', { id: 'same' })),
      store.append(update('t', 'b', { id: 'same' })),
      store.append(update('t', 'c')),
    ])
    expect(results.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled'])
    expect((results[1] as PromiseRejectedResult).reason).toBeInstanceOf(DuplicateIdError)
    const page = await store.readAfter('earliest', all, 10)
    expect(page.updates.map((stored) => stored.data)).toEqual(['a', 'c'])
    await store.close()
  })

  it('reads after a known id, says when an id is unknown, and filters and pages', async () => {
    const store = createStore()
    for (let index = 1; index <= 30; index++) {
      await store.append(
        update(index % 2 === 0 ? 'even' : 'odd', String(index), { id: `id-${index}`, type: 'x', retry: 5 }),
      )
    }
    const after = await store.readAfter({ after: 'id-10' }, all, 100)
    expect(after.known).toBe(true)
    expect(after.updates.map((stored) => stored.data)).toEqual(
      Array.from({ length: 20 }, (_, index) => String(index + 11)),
    )
    expect(after.updates[0]).toMatchObject({
      id: 'id-11',
      topics: ['odd'],
      type: 'x',
      retry: 5,
      private: false,
    })

    const unknown = await store.readAfter({ after: 'nope' }, all, 3)
    expect(unknown.known).toBe(false)
    expect(unknown.done).toBe(false)
    expect((await store.readAfter('earliest', all, 30)).done).toBe(true)
    expect(unknown.updates.map((stored) => stored.data)).toEqual(['1', '2', '3'])

    const evens: StoredUpdate[] = []
    let page = await store.readAfter('earliest', (stored) => stored.topics.includes('even'), 4)
    evens.push(...page.updates)
    // A page examines four updates, of which two are even: the reader goes on until it is done.
    expect(page.updates.length).toBe(2)
    while (!page.done) {
      page = await store.readAfter('earliest', (stored) => stored.topics.includes('even'), 4, page.through)
      evens.push(...page.updates)
    }
    expect(evens.map((stored) => Number(stored.data))).toEqual(
      Array.from({ length: 15 }, (_, index) => 2 * (index + 1)),
    )
    await store.close()
  })

  it('trims by count and by age; a trimmed id becomes unknown', async () => {
    const store = createStore()
    for (let index = 1; index <= 10; index++)
      await store.append(update('t', String(index), { id: `id-${index}` }))
    expect(await store.trim({ maxCount: 4, maxAge: 60_000 })).toBe(6)
    const page = await store.readAfter('earliest', all, 100)
    expect(page.updates.map((stored) => stored.data)).toEqual(['7', '8', '9', '10'])
    expect((await store.readAfter({ after: 'id-3' }, all, 1)).known).toBe(false)
    expect(await store.trim({ maxCount: 100, maxAge: -1 })).toBe(4)
    expect(await store.newestSequence()).toBe(10)
    await store.close()
  })

  it('keeps presence updates under their own bound, out of the count bound of the publishers’ history', async () => {
    const store = createStore({ maxPresence: 3 })
    const presence = (index: number) =>
      update(`/.well-known/mercure/subscriptions/t/${index}`, `p${index}`, {
        id: `p${index}`,
        presence: true,
      })
    await store.append(update('t', 'r1', { id: 'r1' }))
    for (let index = 1; index <= 2; index++) await store.append(presence(index))
    await store.append(update('t', 'r2', { id: 'r2' }))
    for (let index = 3; index <= 10; index++) await store.append(presence(index))
    await store.append(update('t', 'r3', { id: 'r3' }))
    const data = async () =>
      (await store.readAfter('earliest', all, 100)).updates.map((stored) => stored.data)
    // The newest three presence updates stay, in their places in the one order; no publisher's went.
    expect(await data()).toEqual(['r1', 'r2', 'p8', 'p9', 'p10', 'r3'])
    expect((await store.readAfter({ after: 'p1' }, all, 100)).known).toBe(false)
    const afterP8 = await store.readAfter({ after: 'p8' }, all, 100)
    expect(afterP8.known).toBe(true)
    expect(afterP8.updates.map((stored) => stored.data)).toEqual(['p9', 'p10', 'r3'])
    // Two publishers' updates are kept, whatever the presence updates between them.
    expect(await store.trim({ maxCount: 2, maxAge: 60_000 })).toBe(1)
    expect(await data()).toEqual(['r2', 'p8', 'p9', 'p10', 'r3'])
    expect(await store.newestSequence()).toBe(13)
    await store.close()
  })
}
