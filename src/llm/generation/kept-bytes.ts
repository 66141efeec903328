import type { SlabPool } from './slab-pool.js'

/**
 * A growing run of bytes kept in slabs of a pool, read back by offset. What it hands out are
 * copies and text, never views of the slabs: they go back to the pool on `release` and then hold
 * someone else's bytes — a view still queued on a socket would send those.
 */
export class KeptBytes {
  #slabs: Buffer[] = []
  #length = 0

  constructor(private readonly pool: SlabPool) {}

  get length(): number {
    return this.#length
  }

  append(bytes: Buffer): void {
    const { slabSize } = this.pool
    for (let from = 0; from < bytes.length; ) {
      const at = this.#length % slabSize
      if (at === 0) this.#slabs.push(this.pool.take())
      const count = Math.min(bytes.length - from, slabSize - at)
      bytes.copy(this.#slabs[this.#slabs.length - 1] as Buffer, at, from, from + count)
      from += count
      this.#length += count
    }
  }

  /** The bytes from `start` to `end` (at most to the length), in a new buffer. */
  copy(start: number, end: number): Buffer {
    // Never past the length: a slab's bytes after it are another generation's, or garbage.
    const stop = Math.min(end, this.#length)
    const copy = Buffer.allocUnsafe(Math.max(0, stop - start))
    const { slabSize } = this.pool
    for (let at = start; at < stop; ) {
      const offset = at % slabSize
      const to = Math.min(slabSize, offset + stop - at)
      ;(this.#slabs[Math.floor(at / slabSize)] as Buffer).copy(copy, at - start, offset, to)
      at += to - offset
    }
    return copy
  }

  /** The bytes from `start` to `end` (at most to the length), decoded as UTF-8. */
  text(start: number, end: number): string {
    const { slabSize } = this.pool
    const slab = Math.floor(start / slabSize)
    // Nearly every event lies in one slab: decoded where it is.
    if (start < end && end <= this.#length && Math.floor((end - 1) / slabSize) === slab)
      return (this.#slabs[slab] as Buffer).toString(
        'utf8',
        start % slabSize,
        (start % slabSize) + end - start,
      )
    return this.copy(start, end).toString('utf8')
  }

  /** Gives the slabs back to the pool; nothing is kept afterwards. */
  release(): void {
    this.pool.give(this.#slabs)
    this.#slabs = []
    this.#length = 0
  }
}
