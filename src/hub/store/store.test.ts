import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { storeContract } from '../../../test/helpers/store-contract.js'
import { MemoryStore } from './memory.js'
import { SqliteStore } from './sqlite.js'
import type { UpdateStore } from './store.js'

const directories: string[] = []
afterEach(() => {
  for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true })
})

function databasePath(): string {
  const directory = mkdtempSync(join(tmpdir(), 'streamgate-store-'))
  directories.push(directory)
  return join(directory, 'hub.db')
}

const update = (topic: string, data: string, extra = {}) => ({
  topics: [topic],
  data,
  private: false,
  ...extra,
})
const all = () => true

describe.each([
  ['memory', () => new MemoryStore()],
  ['sqlite', () => new SqliteStore(databasePath())],
] as [string, () => UpdateStore][])('%s store', (_name, createStore) => {
  storeContract(createStore)
})

describe('sqlite store', () => {
  it('keeps history and the sequence across a restart', async () => {
    const path = databasePath()
    const first = new SqliteStore(path)
    for (let index = 1; index <= 5; index++)
      await first.append(update('t', String(index), { id: `id-${index}` }))
    await first.close()
    const second = new SqliteStore(path)
    expect(await second.newestSequence()).toBe(5)
    const next = await second.append(update('t', '6'))
    expect(next.sequence).toBe(6)
    const page = await second.readAfter({ after: 'id-3' }, all, 10)
    expect(page.updates.map((stored) => stored.data)).toEqual(['4', '5', '6'])
    await second.close()
  })
})
