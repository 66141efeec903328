import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Database from 'better-sqlite3'
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
  ['memory', (options) => new MemoryStore(10_000, options?.maxPresence)],
  ['sqlite', (options) => new SqliteStore(databasePath(), options?.maxPresence)],
] as [string, (options?: { maxPresence?: number }) => UpdateStore][])('%s store', (_name, createStore) => {
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

  it('opens a file written before presence was kept apart: its updates stay, as publishers’ updates', async () => {
    const path = databasePath()
    const old = new Database(path)
    old.exec(`CREATE TABLE updates (sequence INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, topics TEXT NOT NULL,
      data TEXT NOT NULL, type TEXT, retry INTEGER, private INTEGER NOT NULL, published_at INTEGER NOT NULL)`)
    old
      .prepare('INSERT INTO updates VALUES (1, ?, ?, ?, NULL, NULL, 0, ?)')
      .run('old-1', '["t"]', 'kept', Date.now())
    old.close()
    const store = new SqliteStore(path, 1)
    await store.append(update('p', 'presence', { presence: true }))
    await store.append(update('t', 'new'))
    expect(await store.trim({ maxCount: 2, maxAge: 60_000 })).toBe(0)
    const page = await store.readAfter('earliest', all, 10)
    expect(page.updates.map((stored) => stored.data)).toEqual(['kept', 'presence', 'new'])
    await store.close()
  })
})
