import { describe, it } from 'vitest'
import { fuzzParser } from './parser-fuzz.js'

// 20,000 cases in `npm test`; `npm run fuzz` runs 1,000,000 (FUZZ_RUNS to change it).
const runs = Number(process.env.FUZZ_RUNS ?? 20_000)

describe('parser against the reference implementation of the spec', () => {
  it(`agrees on ${runs.toLocaleString('en')} random streams in random chunks`, () => {
    fuzzParser(runs)
  }, 600_000)
})
