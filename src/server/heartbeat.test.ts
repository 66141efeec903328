import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { HeartbeatScheduler, type HeartbeatTarget } from './heartbeat.js'

function target(scheduler: HeartbeatScheduler) {
  const beats: number[] = []
  const stream: HeartbeatTarget & { beats: number[]; write(): void } = {
    lastWriteTick: scheduler.currentTick,
    beats,
    heartbeat() {
      beats.push(Date.now())
      this.lastWriteTick = scheduler.currentTick
    },
    write() {
      this.lastWriteTick = scheduler.currentTick
    },
  }
  return stream
}

describe('HeartbeatScheduler', () => {
  beforeEach(() => {
    vi.useFakeTimers()
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it('never leaves a silent stream without a heartbeat for a whole interval', () => {
    const scheduler = new HeartbeatScheduler(1000)
    const silent = target(scheduler)
    const started = Date.now()
    scheduler.add(silent)
    vi.advanceTimersByTime(10_000)
    const gaps = [started, ...silent.beats]
      .map((time, index, all) => (all[index + 1] ?? time) - time)
      .slice(0, -1)
    expect(silent.beats.length).toBeGreaterThanOrEqual(10)
    expect(Math.max(...gaps)).toBeLessThan(1000)
  })

  it('leaves streams that write on their own alone', () => {
    const scheduler = new HeartbeatScheduler(1000)
    const busy = target(scheduler)
    scheduler.add(busy)
    for (let step = 0; step < 40; step++) {
      vi.advanceTimersByTime(250)
      busy.write()
    }
    expect(busy.beats).toEqual([])
  })

  it('runs one timer for all streams, and none once the last is gone', () => {
    const scheduler = new HeartbeatScheduler(1000)
    const streams = Array.from({ length: 100 }, () => target(scheduler))
    for (const stream of streams) scheduler.add(stream)
    expect(vi.getTimerCount()).toBe(1)
    vi.advanceTimersByTime(1000)
    expect(streams.every((stream) => stream.beats.length === 1)).toBe(true)
    for (const stream of streams) scheduler.delete(stream)
    expect(vi.getTimerCount()).toBe(0)
  })
})
