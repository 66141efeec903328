/**
 * The finished generations this process stored, oldest first: each is deleted `retainFor` after it
 * ended, or sooner while their bytes pass `maxBytes`. (Their streams' sliding TTL is the bound
 * that survives a restart: generations stored before it leave when nobody has used them for
 * `retainFor`.)
 */
export class StoreRetention {
  private readonly queue: { id: string; bytes: number; at: number }[] = []
  private bytes = 0
  private timer: ReturnType<typeof setTimeout> | undefined

  constructor(
    private readonly bounds: { retainFor: number; maxBytes: number },
    private readonly remove: (id: string) => Promise<void>,
    private readonly now: () => number = Date.now,
  ) {}

  finished(id: string, bytes: number): void {
    this.queue.push({ id, bytes, at: this.now() })
    this.bytes += bytes
    this.evict()
  }

  /** Bytes of the finished generations kept. */
  get keptBytes(): number {
    return this.bytes
  }

  close(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  private evict(): void {
    const now = this.now()
    for (let oldest = this.queue[0]; oldest !== undefined; oldest = this.queue[0]) {
      if (this.bytes <= this.bounds.maxBytes && now - oldest.at < this.bounds.retainFor) break
      this.queue.shift()
      this.bytes -= oldest.bytes
      this.remove(oldest.id).catch(() => {})
    }
    const oldest = this.queue[0]
    if (oldest === undefined || this.timer !== undefined) return
    this.timer = setTimeout(
      () => {
        this.timer = undefined
        this.evict()
      },
      oldest.at + this.bounds.retainFor - now,
    )
    this.timer.unref()
  }
}
