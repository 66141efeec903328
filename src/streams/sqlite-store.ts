import { randomBytes } from 'node:crypto'
import type Database from 'better-sqlite3'
import type { ProducerRequest, ProducerState } from './producer.js'
import {
  type AppendRequest,
  type AppendResult,
  byteLength,
  type CreateRequest,
  type CreateResult,
  configurationConflict,
  decideAppend,
  type ForkPlan,
  isExpired,
  planFork,
  type StreamPage,
  type StreamState,
  type StreamStore,
} from './stream-store.js'

interface StreamRow {
  path: string
  id: string
  content_type: string
  ttl_seconds: number | null
  expires_at: number | null
  entries: number
  bytes: number
  closed: number
  closed_by: string | null
  last_stream_seq: string | null
  touched_at: number
  fork_from: string | null
  fork_offset: number | null
  fork_sub_offset: number | null
  /** The source stream's id, and how many leading entries are read from it. */
  source_id: string | null
  inherited: number
  forks: number
  soft_deleted: number
}

/**
 * Durable streams in the gateway's sqlite file (beside the hub's updates): a row per stream, a row
 * per entry, a row per producer. An append, its producer state and the stream's new tail commit in
 * one transaction before the append is acknowledged. A fork stores only what it adds: its leading
 * entries are read from its source (which a delete then keeps, soft-deleted, while forks exist).
 */
export class SqliteStreamStore implements StreamStore {
  private readonly listeners = new Set<(state: StreamState) => void>()
  private readonly statements
  /** Streams not soft-deleted: counted once at start, then kept as they come and go. */
  private kept: number
  /**
   * Rows of recently used streams, by path, as committed: this process alone writes the file (it
   * holds the lock), so they stay true; a failed transaction empties the cache. Saves the two reads
   * of a stream's row an append made (the route's and the store's), about 16 µs of its 60.
   */
  private readonly rows = new Map<string, StreamRow>()
  /** Appends waiting for the end of the turn. */
  private readonly queued: {
    request: AppendRequest
    resolve: (result: AppendResult) => void
    reject: (error: unknown) => void
  }[] = []

  constructor(
    private readonly database: Database.Database,
    private readonly now: () => number = Date.now,
  ) {
    database.exec(`
      CREATE TABLE IF NOT EXISTS streams (
        path TEXT PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        content_type TEXT NOT NULL,
        ttl_seconds INTEGER,
        expires_at INTEGER,
        entries INTEGER NOT NULL,
        bytes INTEGER NOT NULL,
        closed INTEGER NOT NULL,
        closed_by TEXT,
        last_stream_seq TEXT,
        touched_at INTEGER NOT NULL,
        fork_from TEXT,
        fork_offset INTEGER,
        fork_sub_offset INTEGER,
        source_id TEXT,
        inherited INTEGER NOT NULL,
        forks INTEGER NOT NULL,
        soft_deleted INTEGER NOT NULL
      );
      -- A rowid table: entries are appended at its end. WITHOUT ROWID, with 1 KiB entries three to
      -- a page, took twice as long per insert (65 vs 31 µs) for its page splits and rewrites.
      CREATE TABLE IF NOT EXISTS stream_entries (
        stream_id TEXT NOT NULL,
        seq INTEGER NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (stream_id, seq)
      );
      CREATE TABLE IF NOT EXISTS stream_producers (
        stream_id TEXT NOT NULL,
        producer TEXT NOT NULL,
        epoch INTEGER NOT NULL,
        last_seq INTEGER NOT NULL,
        PRIMARY KEY (stream_id, producer)
      ) WITHOUT ROWID;`)
    this.statements = {
      byPath: database.prepare<[string], StreamRow>('SELECT * FROM streams WHERE path = ?'),
      byId: database.prepare<[string], StreamRow>('SELECT * FROM streams WHERE id = ?'),
      insert: database.prepare(
        `INSERT INTO streams (path, id, content_type, ttl_seconds, expires_at, entries, bytes, closed, closed_by,
          last_stream_seq, touched_at, fork_from, fork_offset, fork_sub_offset, source_id, inherited, forks, soft_deleted)
         VALUES (@path, @id, @content_type, @ttl_seconds, @expires_at, @entries, @bytes, @closed, @closed_by,
          @last_stream_seq, @touched_at, @fork_from, @fork_offset, @fork_sub_offset, @source_id, @inherited, @forks, @soft_deleted)`,
      ),
      afterAppend: database.prepare<[number, number, number, string | null, string | null, number, string]>(
        'UPDATE streams SET entries = ?, bytes = ?, closed = ?, closed_by = ?, last_stream_seq = ?, touched_at = ? WHERE id = ?',
      ),
      touch: database.prepare<[number, string]>('UPDATE streams SET touched_at = ? WHERE id = ?'),
      forks: database.prepare<[number, string]>('UPDATE streams SET forks = forks + ? WHERE id = ?'),
      softDelete: database.prepare<[string]>('UPDATE streams SET soft_deleted = 1 WHERE id = ?'),
      remove: database.prepare<[string]>('DELETE FROM streams WHERE id = ?'),
      removeEntries: database.prepare<[string]>('DELETE FROM stream_entries WHERE stream_id = ?'),
      removeProducers: database.prepare<[string]>('DELETE FROM stream_producers WHERE stream_id = ?'),
      entry: database.prepare('INSERT INTO stream_entries (stream_id, seq, data) VALUES (?, ?, ?)'),
      entries: database.prepare<[string, number, number, number], { seq: number; data: Buffer }>(
        'SELECT seq, data FROM stream_entries WHERE stream_id = ? AND seq > ? AND seq <= ? ORDER BY seq LIMIT ?',
      ),
      oneEntry: database.prepare<[string, number], { data: Buffer }>(
        'SELECT data FROM stream_entries WHERE stream_id = ? AND seq = ?',
      ),
      producer: database.prepare<[string, string], { epoch: number; last_seq: number }>(
        'SELECT epoch, last_seq FROM stream_producers WHERE stream_id = ? AND producer = ?',
      ),
      count: database.prepare<[], { count: number }>(
        'SELECT COUNT(*) AS count FROM streams WHERE soft_deleted = 0',
      ),
      saveProducer: database.prepare(
        `INSERT INTO stream_producers (stream_id, producer, epoch, last_seq) VALUES (?, ?, ?, ?)
         ON CONFLICT (stream_id, producer) DO UPDATE SET epoch = excluded.epoch, last_seq = excluded.last_seq`,
      ),
    }
    this.kept = this.statements.count.get()?.count ?? 0
  }

  async create(request: CreateRequest): Promise<CreateResult> {
    return this.transaction(() => this.createNow(request))
  }

  /**
   * The appends of one turn of the event loop commit together, in the order they came, in one
   * transaction (as the hub's updates do), and each is answered once that has committed: one WAL
   * write for all of them instead of one each, and the pages they share (the stream's row, the
   * producers') written once.
   */
  append(request: AppendRequest): Promise<AppendResult> {
    return new Promise((resolve, reject) => {
      this.queued.push({ request, resolve, reject })
      if (this.queued.length === 1) setImmediate(this.commitQueued)
    })
  }

  private readonly commitQueued = (): void => {
    const batch = this.queued.splice(0)
    let results: AppendResult[] | undefined
    try {
      results = this.transaction(() => batch.map(({ request }) => this.appendNow(request)))
    } catch {
      results = undefined
    }
    for (const [index, { request, resolve, reject }] of batch.entries()) {
      try {
        // After a batch the database refused, each append alone: one it refuses fails alone.
        const result = results?.[index] ?? this.transaction(() => this.appendNow(request))
        this.announce(result)
        resolve(result)
      } catch (error) {
        reject(error)
      }
    }
  }

  private announce(result: AppendResult): void {
    if (result.kind === 'appended') for (const listener of this.listeners) listener(result.state)
  }

  async read(path: string, after: number, maxBytes: number): Promise<StreamPage | undefined> {
    const row = this.find(path)
    if (row === undefined || row.soft_deleted === 1) return undefined
    const touchedAt = this.now()
    this.statements.touch.run(touchedAt, row.id)
    row.touched_at = touchedAt
    const entries: Uint8Array[] = []
    let bytes = 0
    let through = Math.min(after, row.entries)
    // Entry by entry range: a fork's leading entries are its source's (and so on up the chain).
    while (through < row.entries) {
      let holder = row
      let limit = row.entries
      while (through + 1 <= holder.inherited) {
        limit = holder.inherited
        holder = this.statements.byId.get(holder.source_id as string) as StreamRow
      }
      const rows = this.statements.entries.all(holder.id, through, limit, 256)
      for (const entry of rows) {
        if (entries.length > 0 && bytes + entry.data.length > maxBytes)
          return { state: toState(row), entries, through }
        entries.push(entry.data)
        bytes += entry.data.length
        through = entry.seq
      }
      if (rows.length === 0) break
    }
    return { state: toState(row), entries, through }
  }

  async head(path: string): Promise<StreamState | undefined> {
    const row = this.find(path)
    return row === undefined ? undefined : toState(row)
  }

  async delete(path: string): Promise<'deleted' | 'not-found' | 'gone'> {
    return this.transaction(() => {
      const row = this.find(path)
      if (row === undefined) return 'not-found' as const
      if (row.soft_deleted === 1) return 'gone' as const
      this.drop(row)
      return 'deleted' as const
    })
  }

  count(): number {
    return this.kept
  }

  onAppend(listener: (state: StreamState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.listeners.clear()
  }

  /** A transaction; when it fails, the cached rows may hold what it did not commit: they go. */
  private transaction<T>(run: () => T): T {
    try {
      return this.database.transaction(run)()
    } catch (error) {
      this.rows.clear()
      throw error
    }
  }

  private createNow(request: CreateRequest): CreateResult {
    const existing = this.find(request.path)
    if (existing !== undefined) {
      const conflict = configurationConflict(toState(existing), request)
      return conflict === undefined
        ? { kind: 'exists', state: toState(existing) }
        : { kind: 'conflict', reason: conflict }
    }
    let source: StreamRow | undefined
    let plan: ForkPlan | undefined
    if (request.fork !== undefined) {
      source = this.find(request.fork.from)
      if (source === undefined) return { kind: 'source-not-found' }
      const from = source
      const planned = planFork(toState(from), { ...request, fork: request.fork }, (seq) =>
        this.entryOf(from, seq),
      )
      if ('kind' in planned) return planned
      plan = planned
    }
    const inherited = plan?.inherited ?? 0
    // A fork stores only what it adds: the part of an append it cut, then its own entries.
    const own = [...(plan?.partial === undefined ? [] : [plan.partial]), ...request.entries]
    const row: StreamRow = {
      path: request.path,
      id: randomBytes(9).toString('base64url'),
      content_type: plan?.contentType ?? request.contentType ?? 'application/octet-stream',
      ttl_seconds: (plan === undefined ? request.ttlSeconds : plan.ttlSeconds) ?? null,
      expires_at: (plan === undefined ? request.expiresAt : plan.expiresAt) ?? null,
      entries: inherited + own.length,
      bytes: byteLength(own),
      closed: request.close ? 1 : 0,
      closed_by: null,
      last_stream_seq: null,
      touched_at: this.now(),
      fork_from: plan?.point.from ?? null,
      fork_offset: plan?.point.offset ?? null,
      fork_sub_offset: plan?.point.subOffset ?? null,
      source_id: source?.id ?? null,
      inherited,
      forks: 0,
      soft_deleted: 0,
    }
    this.statements.insert.run(row)
    this.cache(row)
    this.kept++
    for (const [index, entry] of own.entries())
      this.statements.entry.run(row.id, inherited + index + 1, entry)
    if (source !== undefined) {
      this.statements.forks.run(1, source.id)
      source.forks++
    }
    return { kind: 'created', state: toState(row) }
  }

  private appendNow(request: AppendRequest): AppendResult {
    const row = this.find(request.path)
    if (row === undefined) return { kind: 'not-found' }
    if (row.soft_deleted === 1) return { kind: 'gone' }
    const state = toState(row)
    const saved =
      request.producer === undefined ? undefined : this.statements.producer.get(row.id, request.producer.id)
    const producer: ProducerState | undefined =
      saved === undefined ? undefined : { epoch: saved.epoch, lastSeq: saved.last_seq }
    const decision = decideAppend(state, producer, request)
    if (decision.kind !== 'accept') return decision
    for (const [index, entry] of request.entries.entries())
      this.statements.entry.run(row.id, row.entries + index + 1, entry)
    state.entries = row.entries + request.entries.length
    state.bytes = row.bytes + byteLength(request.entries)
    state.touchedAt = this.now()
    if (request.streamSeq !== undefined) state.lastStreamSeq = request.streamSeq
    if (request.close) {
      state.closed = true
      state.closedBy = request.producer
    }
    this.statements.afterAppend.run(
      state.entries,
      state.bytes,
      state.closed ? 1 : 0,
      state.closedBy === undefined ? null : JSON.stringify(state.closedBy),
      state.lastStreamSeq ?? null,
      state.touchedAt,
      row.id,
    )
    row.entries = state.entries
    row.bytes = state.bytes
    row.closed = state.closed ? 1 : 0
    row.closed_by = state.closedBy === undefined ? null : JSON.stringify(state.closedBy)
    row.last_stream_seq = state.lastStreamSeq ?? null
    row.touched_at = state.touchedAt
    if (request.producer !== undefined && decision.producer !== undefined)
      this.statements.saveProducer.run(
        row.id,
        request.producer.id,
        decision.producer.epoch,
        decision.producer.lastSeq,
      )
    return { kind: 'appended', state, producer: decision.producer }
  }

  /** The entry `seq` of a stream, following its fork chain. */
  private entryOf(row: StreamRow, seq: number): Buffer | undefined {
    let holder = row
    while (seq <= holder.inherited) holder = this.statements.byId.get(holder.source_id as string) as StreamRow
    return this.statements.oneEntry.get(holder.id, seq)?.data
  }

  /** The stream at `path` (soft-deleted ones included), unless absent or expired. */
  private find(path: string): StreamRow | undefined {
    const row = this.row(path)
    if (row === undefined || row.soft_deleted === 1 || !isExpired(toState(row), this.now())) return row
    this.drop(row)
    return this.row(path)
  }

  private row(path: string): StreamRow | undefined {
    const cached = this.rows.get(path)
    if (cached !== undefined) return cached
    const row = this.statements.byPath.get(path)
    if (row !== undefined) this.cache(row)
    return row
  }

  private cache(row: StreamRow): void {
    this.rows.set(row.path, row)
    // The oldest cached goes first (a Map iterates in insertion order).
    if (this.rows.size > CACHED_ROWS) this.rows.delete(this.rows.keys().next().value as string)
  }

  /** Deletes a stream, or soft-deletes it while forks exist; a source left without forks goes too. */
  private drop(row: StreamRow): void {
    this.rows.delete(row.path)
    if (row.soft_deleted === 0) this.kept--
    if (row.forks > 0) {
      this.statements.softDelete.run(row.id)
      return
    }
    this.statements.remove.run(row.id)
    this.statements.removeEntries.run(row.id)
    this.statements.removeProducers.run(row.id)
    if (row.source_id === null) return
    this.statements.forks.run(-1, row.source_id)
    const source = this.statements.byId.get(row.source_id)
    if (source !== undefined) this.rows.delete(source.path)
    if (source !== undefined && source.forks === 0 && source.soft_deleted === 1) this.drop(source)
  }
}

/** Stream rows kept in memory: about 300 bytes each. */
const CACHED_ROWS = 10_000

function toState(row: StreamRow): StreamState {
  return {
    path: row.path,
    id: row.id,
    contentType: row.content_type,
    ttlSeconds: row.ttl_seconds ?? undefined,
    expiresAt: row.expires_at ?? undefined,
    entries: row.entries,
    bytes: row.bytes,
    closed: row.closed === 1,
    closedBy: row.closed_by === null ? undefined : (JSON.parse(row.closed_by) as ProducerRequest),
    lastStreamSeq: row.last_stream_seq ?? undefined,
    touchedAt: row.touched_at,
    fork:
      row.fork_from === null
        ? undefined
        : { from: row.fork_from, offset: row.fork_offset ?? 0, subOffset: row.fork_sub_offset ?? 0 },
    softDeleted: row.soft_deleted === 1 ? true : undefined,
  }
}
