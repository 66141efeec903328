import type Database from 'better-sqlite3'
import { openSqliteFile } from '../../storage/sqlite-file.js'
import { type NewUpdate, type StoredUpdate, storedUpdate } from '../update.js'
import {
  DEFAULT_PRESENCE_HISTORY,
  DuplicateIdError,
  type HistoryBounds,
  type HistoryPage,
  newUpdateId,
  type ResumePoint,
  resolveResumePoint,
  type UpdateStore,
} from './store.js'

interface Row {
  sequence: number
  id: string
  topics: string
  data: string
  type: string | null
  retry: number | null
  private: number
  published_at: number
}

interface Pending {
  update: StoredUpdate
  presence: boolean
  resolve: (update: StoredUpdate) => void
  reject: (error: Error) => void
}

/**
 * The default store: an embedded SQLite file (better-sqlite3) in WAL mode, so history and resume
 * survive a restart (the file is shared with the durable streams: storage/sqlite-file.ts). Group commit: the appends of one event-loop turn are written in a single
 * transaction, and each publish is acknowledged after its batch commits. synchronous=NORMAL in WAL
 * mode keeps every committed update through a crash of the process (not through a power cut).
 */
export class SqliteStore implements UpdateStore {
  private readonly database: Database.Database
  private readonly listeners = new Set<(update: StoredUpdate) => void>()
  private readonly statements
  private pending: Pending[] = []
  private flushScheduled = false
  private sequence: number

  /** Whether this store opened the file (and closes it), or was given it. */
  private readonly ownsDatabase: boolean

  constructor(
    file: string | Database.Database,
    private readonly maxPresence = DEFAULT_PRESENCE_HISTORY,
  ) {
    this.ownsDatabase = typeof file === 'string'
    this.database = typeof file === 'string' ? openSqliteFile(file) : file
    this.database.exec(`
      CREATE TABLE IF NOT EXISTS updates (
        sequence INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        topics TEXT NOT NULL,
        data TEXT NOT NULL,
        type TEXT,
        retry INTEGER,
        private INTEGER NOT NULL,
        published_at INTEGER NOT NULL
      )`)
    // Files written before presence was kept apart gain the column (their updates: not presence).
    const columns = this.database.pragma('table_info(updates)') as { name: string }[]
    if (!columns.some((column) => column.name === 'presence'))
      this.database.exec('ALTER TABLE updates ADD COLUMN presence INTEGER NOT NULL DEFAULT 0')
    this.database.exec('CREATE INDEX IF NOT EXISTS presence_updates ON updates (sequence) WHERE presence = 1')
    this.statements = {
      insert: this.database.prepare(
        'INSERT INTO updates (sequence, id, topics, data, type, retry, private, published_at, presence) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)',
      ),
      sequenceOf: this.database.prepare<[string], { sequence: number }>(
        'SELECT sequence FROM updates WHERE id = ?',
      ),
      page: this.database.prepare<[number, number], Row>(
        'SELECT * FROM updates WHERE sequence > ? ORDER BY sequence LIMIT ?',
      ),
      newestId: this.database.prepare<[], { id: string }>(
        'SELECT id FROM updates ORDER BY sequence DESC LIMIT 1',
      ),
      newest: this.database.prepare<[], { sequence: number | null }>(
        'SELECT MAX(sequence) AS sequence FROM updates',
      ),
      // The count bound counts publishers' updates; presence has its own, applied at each commit.
      trimCount: this.database.prepare<[number], unknown>(
        'DELETE FROM updates WHERE sequence <= (SELECT sequence FROM updates WHERE presence = 0 ORDER BY sequence DESC LIMIT 1 OFFSET ?)',
      ),
      trimPresence: this.database.prepare<[number], unknown>(
        'DELETE FROM updates WHERE presence = 1 AND sequence <= (SELECT sequence FROM updates WHERE presence = 1 ORDER BY sequence DESC LIMIT 1 OFFSET ?)',
      ),
      trimAge: this.database.prepare<[number], unknown>('DELETE FROM updates WHERE published_at < ?'),
    }
    this.sequence = this.statements.newest.get()?.sequence ?? 0
  }

  append(update: NewUpdate): Promise<StoredUpdate> {
    const stored = storedUpdate(update, update.id ?? newUpdateId(), 0, Date.now())
    return new Promise((resolve, reject) => {
      this.pending.push({ update: stored, presence: update.presence === true, resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(() => this.flush())
      }
    })
  }

  private flush(): void {
    this.flushScheduled = false
    const batch = this.pending
    this.pending = []
    const committed: Pending[] = []
    const failed: [Pending, Error][] = []
    try {
      this.database.transaction(() => {
        for (const entry of batch) {
          const { update } = entry
          try {
            this.statements.insert.run(
              this.sequence + 1,
              update.id,
              JSON.stringify(update.topics),
              update.data,
              update.type ?? null,
              update.retry ?? null,
              update.private ? 1 : 0,
              update.publishedAt,
              entry.presence ? 1 : 0,
            )
            update.sequence = ++this.sequence
            committed.push(entry)
          } catch (error) {
            const unique = (error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE'
            failed.push([entry, unique ? new DuplicateIdError(update.id) : (error as Error)])
          }
        }
        if (batch.some((entry) => entry.presence)) this.statements.trimPresence.run(this.maxPresence)
      })()
    } catch (error) {
      // The transaction itself failed: nothing of the batch was stored, nothing is acknowledged.
      this.sequence = this.statements.newest.get()?.sequence ?? 0
      for (const entry of batch) entry.reject(error as Error)
      return
    }
    for (const [entry, error] of failed) entry.reject(error)
    for (const { update, resolve } of committed) {
      for (const listener of this.listeners) listener(update)
      resolve(update)
    }
  }

  async readAfter(
    from: ResumePoint,
    matches: (update: StoredUpdate) => boolean,
    limit: number,
    afterSequence?: number,
  ): Promise<HistoryPage> {
    const { known, after } = resolveResumePoint(
      from,
      afterSequence,
      (id) => this.statements.sequenceOf.get(id)?.sequence,
    )
    const updates: StoredUpdate[] = []
    let through = after
    // One row more than the page, to know whether it is the last.
    const rows = this.statements.page.all(through, limit + 1)
    for (const row of rows.slice(0, limit)) {
      through = row.sequence
      const update = toUpdate(row)
      if (matches(update)) updates.push(update)
    }
    return { known, updates, through, done: rows.length <= limit }
  }

  async newestSequence(): Promise<number> {
    return this.sequence
  }

  async newestId(): Promise<string | undefined> {
    return this.statements.newestId.get()?.id
  }

  async trim({ maxCount, maxAge }: HistoryBounds): Promise<number> {
    const byCount = this.statements.trimCount.run(maxCount) as { changes: number }
    const byAge = this.statements.trimAge.run(Date.now() - maxAge) as { changes: number }
    return byCount.changes + byAge.changes
  }

  onAppend(listener: (update: StoredUpdate) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    if (this.pending.length > 0) this.flush()
    this.listeners.clear()
    if (this.ownsDatabase) this.database.close()
  }
}

function toUpdate(row: Row): StoredUpdate {
  return storedUpdate(
    {
      topics: JSON.parse(row.topics) as string[],
      data: row.data,
      type: row.type ?? undefined,
      retry: row.retry ?? undefined,
      private: row.private === 1,
    },
    row.id,
    row.sequence,
    row.published_at,
  )
}
