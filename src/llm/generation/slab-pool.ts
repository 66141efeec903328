/**
 * Memory for the events that generations keep, in slabs of one size, reused once the generation
 * that held them is forgotten. V8 starts a major collection for every few tens of MB of
 * array-buffer memory that survives its young generation; a proxy that keeps every answer for
 * resumption allocated that much every second or so under load, and the marking cost ~13% of its
 * CPU (`npm run bench -- llm`, docs/BENCHMARKS.md). Reused memory is not allocated again.
 *
 * A slab holds bytes of earlier generations past what its new owner has written: only
 * `KeptBytes` reads it, and never past its own length.
 */
export class SlabPool {
  private readonly spare: Buffer[] = []

  constructor(
    readonly slabSize = 16 * 1024,
    /** Slabs kept for reuse at most; the rest of a large release goes to the garbage collector. */
    private readonly maxSpare = 4096,
  ) {}

  take(): Buffer {
    return this.spare.pop() ?? Buffer.allocUnsafeSlow(this.slabSize)
  }

  give(slabs: readonly Buffer[]): void {
    for (const slab of slabs) {
      if (this.spare.length >= this.maxSpare) return
      this.spare.push(slab)
    }
  }

  get spareSlabs(): number {
    return this.spare.length
  }
}

/** The pool of the process: every gateway and proxy in it shares the reusable memory. */
export const sharedSlabPool = new SlabPool()
