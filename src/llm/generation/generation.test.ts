import { describe, expect, it } from 'vitest'
import { testGenerationOptions } from '../../../test/helpers/generation-options.js'
import { EncodedEvent } from '../../server/encoded-event.js'
import type { CloseReason, EventStream } from '../../server/event-stream.js'
import { Generation } from './generation.js'
import { SlabPool } from './slab-pool.js'

const chunk = (text: string) =>
  Buffer.from(`data: {"choices":[{"index":0,"delta":{"content":${JSON.stringify(text)}}}]}\n\n`)

function generation(): Generation {
  return new Generation(testGenerationOptions)
}

const tick = () => new Promise((resolve) => process.nextTick(resolve))
const settle = () => new Promise((resolve) => setImmediate(resolve))

/**
 * A viewer's stream whose connection takes what it is given until `slow` is set: then every
 * write waits in its buffer until `drain()`.
 */
class TestStream implements EventStream {
  readonly writes: Buffer[] = []
  readonly lastEventId = ''
  readonly closed = new Promise<CloseReason>(() => {})
  readonly signal = new AbortController().signal
  isClosed = false
  slow = false
  bufferedBytes = 0
  private drained: ((open: boolean) => void)[] = []
  private closeListeners: ((reason: CloseReason) => void)[] = []

  get text(): string {
    return Buffer.concat(this.writes).toString()
  }

  onClose(listener: (reason: CloseReason) => void): void {
    this.closeListeners.push(listener)
  }

  async send(): Promise<boolean> {
    throw new Error('not used')
  }

  async comment(): Promise<boolean> {
    throw new Error('not used')
  }

  offer(): boolean {
    throw new Error('not used')
  }

  write(chunk: Uint8Array | string | EncodedEvent): Promise<boolean> {
    if (this.isClosed) return Promise.resolve(false)
    const bytes = chunk instanceof EncodedEvent ? chunk.bytes : chunk
    // A copy: what the socket would have sent by now.
    this.writes.push(Buffer.from(typeof bytes === 'string' ? Buffer.from(bytes) : bytes))
    if (!this.slow) return Promise.resolve(true)
    this.bufferedBytes += bytes.length
    return new Promise((resolve) => this.drained.push(resolve))
  }

  drain(): void {
    this.slow = false
    this.bufferedBytes = 0
    for (const resolve of this.drained.splice(0)) resolve(!this.isClosed)
  }

  close(): void {
    if (this.isClosed) return
    this.isClosed = true
    for (const resolve of this.drained.splice(0)) resolve(false)
    for (const listener of this.closeListeners) listener('server')
  }
}

/** The events of these words as a viewer gets them, numbered from `after + 1`. */
const framed = (words: string[], after = 0) =>
  words.map((word, index) => `id: ${after + index + 1}\n${chunk(word).toString()}`).join('')

/** A generation of these words that has ended, keeping its events in `pool`. */
function finished(words: string[], pool: SlabPool): Generation {
  const done = new Generation(testGenerationOptions, undefined, pool)
  done.relay(words.map(chunk))
  done.complete()
  return done
}

/** A viewer whose connection takes nothing until `drainUntilClosed`. */
function slowViewer(generation: Generation, afterId: number): TestStream {
  const viewer = new TestStream()
  viewer.slow = true
  generation.attach(viewer, afterId)
  return viewer
}

/** The viewer's connection takes what it was given, round after round, until the stream ends. */
async function drainUntilClosed(viewer: TestStream, eachRound: () => void = () => {}): Promise<void> {
  for (let round = 0; round < 1000 && !viewer.isClosed; round++) {
    eachRound()
    viewer.slow = true
    viewer.drain()
    await settle()
  }
}

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

  it('sends a viewer that joins a long answer copies made a piece at a time, each ending with an event', async () => {
    const words = Array.from({ length: 2000 }, (_, index) => ` ${'w'.repeat(40)}${index}`)
    const viewer = slowViewer(finished(words, new SlabPool()), 10)
    await settle()
    // One piece, then a wait: the connection has not taken it.
    expect(viewer.writes.length).toBe(1)
    await drainUntilClosed(viewer)
    expect(viewer.isClosed).toBe(true)
    expect(viewer.text).toBe(framed(words.slice(10), 10))
    expect(viewer.writes.length).toBeGreaterThan(2)
    for (const write of viewer.writes) {
      expect(write.length).toBeLessThanOrEqual(64 * 1024)
      expect(write.subarray(-2).toString()).toBe('\n\n')
    }
  })

  it('lets a live viewer that falls behind follow from the kept events: all of them, once, in order', async () => {
    const running = generation()
    const viewer = new TestStream()
    running.attach(viewer, 0)
    const words = Array.from({ length: 6000 }, (_, index) => ` word${index}`)
    viewer.slow = true
    for (let at = 0; at < 5000; at += 50) {
      running.relay(words.slice(at, at + 50).map(chunk))
      await tick()
    }
    // Past 256 KiB waiting it was sent nothing more: the rest is kept, not queued.
    const queued = viewer.bufferedBytes
    expect(queued).toBeGreaterThan(256 * 1024)
    expect(queued).toBeLessThan(270 * 1024)
    viewer.drain()
    await settle()
    for (let at = 5000; at < words.length; at += 50) {
      running.relay(words.slice(at, at + 50).map(chunk))
      await tick()
    }
    running.complete()
    await settle()
    expect(viewer.isClosed).toBe(true)
    expect(viewer.text).toBe(framed(words))
  })

  it('gives its memory back when forgotten, only once no viewer is still being sent its events', async () => {
    const pool = new SlabPool(1024)
    const words = Array.from({ length: 1000 }, (_, index) => ` w${index}`)
    const done = finished(words, pool)
    const viewer = slowViewer(done, 0)
    await settle()
    done.forget()
    expect(pool.spareSlabs).toBe(0)
    // Another answer may now take any slab given back: what the viewer is sent must not change.
    const other = new Generation(testGenerationOptions, undefined, pool)
    await drainUntilClosed(viewer, () => other.relay([chunk('X'.repeat(500))]))
    expect(viewer.isClosed).toBe(true)
    expect(viewer.text).toBe(framed(words))
    expect(pool.spareSlabs).toBeGreaterThan(50)
    expect(done.text()).toBe('')
  })
})

describe('Generation text', () => {
  it('parses each kept event once however often the text or usage is asked for', async () => {
    const parsed = { count: 0 }
    const provider = {
      ...testGenerationOptions.provider,
      textOf(data: unknown) {
        parsed.count++
        return testGenerationOptions.provider.textOf(data)
      },
    }
    const running = new Generation({ ...testGenerationOptions, provider })
    running.relay(['one', ' two'].map(chunk))
    await tick()
    expect(running.text()).toBe('one two')
    expect(running.text()).toBe('one two')
    expect(parsed.count).toBe(2)
    running.relay([' three'].map(chunk))
    await tick()
    running.usage()
    expect(running.text()).toBe('one two three')
    expect(parsed.count).toBe(3)
  })
})
