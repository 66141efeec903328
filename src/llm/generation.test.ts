import { describe, expect, it } from 'vitest'
import { testGenerationOptions } from '../../test/helpers/generation-options.js'
import { Generation } from './generation.js'

const chunk = (text: string) =>
  Buffer.from(`data: {"choices":[{"index":0,"delta":{"content":${JSON.stringify(text)}}}]}\n\n`)

function generation(): Generation {
  return new Generation(testGenerationOptions)
}

const tick = () => new Promise((resolve) => process.nextTick(resolve))

describe('Generation', () => {
  it.each([
    ['a token per read', 1],
    ['many tokens per read', 25],
  ])('numbers and keeps every event, %s, before and after it ends', async (_, perRead) => {
    const running = generation()
    // More events than the first room for their offsets (64), which then grows twice.
    const words = Array.from({ length: 150 }, (_, index) => ` w${index}`)
    for (let at = 0; at < words.length; at += perRead) {
      running.relay(words.slice(at, at + perRead).map(chunk))
      await tick()
    }
    const expected = (after: number) =>
      words
        .slice(after)
        .map((word, index) => `id: ${after + index + 1}\n${chunk(word).toString()}`)
        .join('')
    const check = () => {
      expect(running.eventCount).toBe(150)
      expect(running.text()).toBe(words.join(''))
      for (const after of [0, 1, 17, 25, 63, 64, 65, 127, 128, 149])
        expect(running.eventsAfter(after).toString()).toBe(expected(after))
      expect(running.eventsAfter(150).length).toBe(0)
    }
    check()
    running.complete()
    check()
    expect(running.keptBytes).toBe(Buffer.byteLength(expected(0)))
  })
})
