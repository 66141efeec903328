import { describe, expect, it } from 'vitest'
import { StoreRetention } from './store-retention.js'

describe('StoreRetention', () => {
  it('deletes the oldest finished generations past the byte budget, and each after retainFor', async () => {
    let now = 0
    const deleted: string[] = []
    const retention = new StoreRetention(
      { retainFor: 60_000, maxBytes: 1000 },
      async (id) => {
        deleted.push(id)
      },
      () => now,
    )
    retention.finished('a', 400)
    retention.finished('b', 400)
    expect(deleted).toEqual([])
    retention.finished('c', 400)
    expect(deleted).toEqual(['a'])
    expect(retention.keptBytes).toBe(800)
    now = 60_000
    retention.finished('d', 10)
    expect(deleted).toEqual(['a', 'b', 'c'])
    expect(retention.keptBytes).toBe(10)
    retention.close()
  })

  it('a failed delete is not retried and does not stop the others', async () => {
    const deleted: string[] = []
    const retention = new StoreRetention({ retainFor: 60_000, maxBytes: 0 }, async (id) => {
      deleted.push(id)
      if (id === 'a') throw new Error('store down')
    })
    retention.finished('a', 1)
    retention.finished('b', 1)
    await Promise.resolve()
    expect(deleted).toEqual(['a', 'b'])
    retention.close()
  })
})
