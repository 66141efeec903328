import { describe, expect, it, vi } from 'vitest'
import { loadAsset } from './web-assets.js'

const reads = vi.hoisted(() => ({ count: 0 }))
vi.mock('node:fs/promises', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:fs/promises')>()
  return {
    ...actual,
    readFile: (...args: Parameters<typeof actual.readFile>) => {
      reads.count++
      return actual.readFile(...args)
    },
  }
})

describe('loadAsset', () => {
  it('reads a page once and keeps it', async () => {
    const before = reads.count
    const first = await loadAsset('/')
    const second = await loadAsset('/')
    expect(first?.contentType).toBe('text/html; charset=utf-8')
    expect(first?.body.toString()).toContain('<html')
    expect(second).toBe(first)
    expect(reads.count - before).toBe(1)
  })

  it('keeps no miss: a client asking for endless missing names grows nothing', async () => {
    const before = reads.count
    expect(await loadAsset('/web/no-such-file.js')).toBeUndefined()
    expect(await loadAsset('/web/no-such-file.js')).toBeUndefined()
    // Read twice: the first miss was not kept.
    expect(reads.count - before).toBe(2)
  })

  it('never reads a path outside the served names', async () => {
    const before = reads.count
    expect(await loadAsset('/web/../package.json')).toBeUndefined()
    expect(await loadAsset('/etc/passwd')).toBeUndefined()
    expect(reads.count - before).toBe(0)
  })
})
