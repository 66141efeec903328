import { describe, expect, it } from 'vitest'
import { runSoak } from './soak.js'

// `npm test` runs the short version; `npm run soak` (SOAK_FULL=1) the full one, bounded to 5 minutes.
const full = process.env.SOAK_FULL === '1'
const options = full
  ? { subscribers: 500, updates: 20_000, restarts: 2, timeoutMs: 300_000 }
  : { subscribers: 100, updates: 2000, restarts: 2, timeoutMs: 45_000 }

describe(`chaos soak (${full ? 'full' : 'short'})`, () => {
  it(
    'subscribers that drop and resume at random across two gateway restarts lose nothing and see nothing twice',
    async () => {
      const report = await runSoak(options)
      console.log(`soak: ${JSON.stringify({ subscribers: options.subscribers, ...report })}`)
      expect(report.updates).toBe(options.updates)
      expect(report.restarts).toBe(2)
      expect(report.disconnects).toBeGreaterThan(100)
      expect(report).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 })
    },
    options.timeoutMs + 60_000,
  )
})

describe(`chaos soak on Redis (${full ? 'full' : 'short'})`, () => {
  it(
    'across two nodes, one killed and Redis restarted: nothing lost, duplicated or reordered',
    async () => {
      const report = await runSoak({ ...options, cluster: true })
      console.log(`soak (redis): ${JSON.stringify({ subscribers: options.subscribers, ...report })}`)
      expect(report.updates).toBe(options.updates)
      expect(report.restarts).toBe(2)
      expect(report).toMatchObject({ lost: 0, duplicated: 0, outOfOrder: 0 })
    },
    options.timeoutMs + 60_000,
  )
})
