import { afterEach, describe, expect, it, vi } from 'vitest'
import { testGenerationOptions } from '../../../test/helpers/generation-options.js'
import { Generations } from './generations.js'
import { sharedSlabPool } from './slab-pool.js'

/** A finished generation that kept `events` events of about 100 bytes. */
function finishOne(generations: Generations, events: number): string {
  const generation = generations.create(testGenerationOptions)
  generation.relay(Array.from({ length: events }, () => Buffer.from(`data: ${'x'.repeat(92)}\n\n`)))
  generation.complete()
  return generation.id
}

afterEach(() => {
  vi.useRealTimers()
})

describe('Generations', () => {
  it('keeps finished generations up to a count and up to a number of bytes, forgetting the oldest', () => {
    const byCount = new Generations({ retainFor: 60_000, maxFinished: 2, maxFinishedBytes: 1 << 30 })
    const [a, b, c] = [finishOne(byCount, 1), finishOne(byCount, 1), finishOne(byCount, 1)]
    expect([a, b, c].map((id) => byCount.get(id) !== undefined)).toEqual([false, true, true])

    const byBytes = new Generations({ retainFor: 60_000, maxFinished: 100, maxFinishedBytes: 2500 })
    const ids = [finishOne(byBytes, 10), finishOne(byBytes, 10), finishOne(byBytes, 10)]
    expect(byBytes.get(ids[2] as string)?.keptBytes).toBeGreaterThan(1000)
    expect(ids.map((id) => byBytes.get(id) !== undefined)).toEqual([false, true, true])
    // One generation larger than the whole bound is still kept, alone: its reader may be reloading.
    const large = finishOne(byBytes, 40)
    expect(ids.concat(large).map((id) => byBytes.get(id) !== undefined)).toEqual([false, false, false, true])
  })

  it('forgets each finished generation after retainFor, with one timer for all of them', () => {
    vi.useFakeTimers()
    const generations = new Generations({ retainFor: 10_000, maxFinished: 100, maxFinishedBytes: 1 << 30 })
    const first = finishOne(generations, 1)
    vi.advanceTimersByTime(4000)
    const second = finishOne(generations, 1)
    const rest = Array.from({ length: 50 }, () => finishOne(generations, 1))
    // A timer per generation kept every evicted one (and its bytes) alive until it fired.
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(6000)
    expect([first, second].map((id) => generations.get(id) !== undefined)).toEqual([false, true])
    vi.advanceTimersByTime(4000)
    expect([second, ...rest].some((id) => generations.get(id) !== undefined)).toBe(false)
    expect(vi.getTimerCount()).toBe(0)
  })

  it('gives the memory of a generation it forgets back for reuse', () => {
    const generations = new Generations({ retainFor: 60_000, maxFinished: 1, maxFinishedBytes: 1 << 30 })
    const first = finishOne(generations, 1000)
    const slabs = Math.ceil((generations.get(first)?.keptBytes ?? 0) / sharedSlabPool.slabSize)
    expect(slabs).toBeGreaterThan(5)
    const spare = sharedSlabPool.spareSlabs
    finishOne(generations, 0)
    expect(generations.get(first)).toBeUndefined()
    expect(sharedSlabPool.spareSlabs - spare).toBe(slabs)
  })

  it('counts only running generations as running', () => {
    const generations = new Generations({ retainFor: 60_000, maxFinished: 10, maxFinishedBytes: 1 << 20 })
    generations.create(testGenerationOptions)
    finishOne(generations, 1)
    expect(generations.running).toBe(1)
  })
})
