import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { KeptBytes } from './kept-bytes.js'
import { SlabPool } from './slab-pool.js'

describe('KeptBytes', () => {
  it('gives back any range of what was appended, however the appends cross slabs', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 30 }),
        fc.nat(),
        fc.nat(),
        (appends, a, b) => {
          const kept = new KeptBytes(new SlabPool(16))
          for (const bytes of appends) kept.append(Buffer.from(bytes))
          const all = Buffer.concat(appends)
          expect(kept.length).toBe(all.length)
          const [start, end] = [a % (all.length + 1), b % (all.length + 1)].sort((x, y) => x - y) as [
            number,
            number,
          ]
          expect(kept.copy(start, end)).toEqual(all.subarray(start, end))
          expect(kept.text(start, end)).toBe(all.subarray(start, end).toString('utf8'))
        },
      ),
    )
  })

  it('never hands out the bytes a reused slab holds past its own length', () => {
    const pool = new SlabPool(16)
    const earlier = new KeptBytes(pool)
    earlier.append(Buffer.from('secret of another answer'))
    earlier.release()
    expect(pool.spareSlabs).toBe(2)
    const kept = new KeptBytes(pool)
    kept.append(Buffer.from('mine'))
    expect(pool.spareSlabs).toBe(1)
    expect(kept.copy(0, 100).toString()).toBe('mine')
    expect(kept.text(2, 100)).toBe('ne')
    kept.release()
    expect(kept.length).toBe(0)
    expect(kept.copy(0, 4).length).toBe(0)
  })

  it('keeps at most maxSpare slabs for reuse', () => {
    const pool = new SlabPool(4, 2)
    const kept = new KeptBytes(pool)
    kept.append(Buffer.alloc(20))
    kept.release()
    expect(pool.spareSlabs).toBe(2)
  })
})
