/** A stream the shared heartbeat timer looks after. */
export interface HeartbeatTarget {
  /** The scheduler tick of the stream's last write. */
  lastWriteTick: number
  heartbeat(): void
}

const TICKS_PER_INTERVAL = 4

/**
 * One timer for every stream with the same heartbeat interval (DESIGN §4: no per-connection timers).
 * It ticks four times per interval; a stream silent for three ticks or more gets a heartbeat, so no
 * stream is silent for a whole interval, with one tick (25%) of margin for a late timer. Writes
 * stamp the current tick instead of reading the clock.
 */
export class HeartbeatScheduler {
  private readonly targets = new Set<HeartbeatTarget>()
  private timer: ReturnType<typeof setInterval> | undefined
  private tick = 0

  constructor(readonly intervalMs: number) {}

  get currentTick(): number {
    return this.tick
  }

  add(target: HeartbeatTarget): void {
    this.targets.add(target)
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.onTick(), this.intervalMs / TICKS_PER_INTERVAL)
      this.timer.unref()
    }
  }

  delete(target: HeartbeatTarget): void {
    this.targets.delete(target)
    if (this.targets.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer)
      this.timer = undefined
    }
  }

  get size(): number {
    return this.targets.size
  }

  private onTick(): void {
    this.tick++
    const due = this.tick - (TICKS_PER_INTERVAL - 1)
    for (const target of this.targets) {
      if (target.lastWriteTick <= due) target.heartbeat()
    }
  }
}

const schedulers = new Map<number, HeartbeatScheduler>()

/** The process-wide scheduler for one interval. */
export function sharedHeartbeat(intervalMs: number): HeartbeatScheduler {
  let scheduler = schedulers.get(intervalMs)
  if (scheduler === undefined) {
    scheduler = new HeartbeatScheduler(intervalMs)
    schedulers.set(intervalMs, scheduler)
  }
  return scheduler
}
