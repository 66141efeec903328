import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import {
  connectRedis,
  failureReason,
  neverSent,
  type RedisConnection,
  type RedisConnectionOptions,
} from '../storage/redis-connection.js'
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

/*
 * Durable streams on Redis, for several gateway nodes. Keys share the hash tag `{ds}` (one slot:
 * the scripts also run on Redis Cluster, as the hub's `{sg}` keys do): a hash per stream
 * (`{ds}:meta:<path>`), a list of its own entries (`{ds}:entries:<id>`), a hash of its producers
 * (`{ds}:producers:<id>`), and a count. What an append may do is decided here, by `decideAppend`
 * on the state read; a script then applies it only if that state is still the one read (the tail,
 * the closure, the producer's state), else the append is decided again on the new state: the
 * decision has one place, and every change is atomic. The script also publishes the stream's new
 * state on `ds:appends`, which each node reads on one connection and hands to its live readers.
 */
const meta = (path: string) => `{ds}:meta:${path}`
const entriesKey = (id: string) => `{ds}:entries:${id}`
const producersKey = (id: string) => `{ds}:producers:${id}`
const COUNT = '{ds}:count'
const CHANNEL = 'ds:appends'
/** Attempts of one operation against concurrent changes before it is refused as busy. */
const ATTEMPTS = 100

const CREATE = `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if KEYS[3] ~= KEYS[1] and redis.call('HGET', KEYS[3], 'soft_deleted') ~= '0' then return -1 end
local n = tonumber(ARGV[1])
local fields = {}
for i = 1, n * 2 do fields[i] = ARGV[1 + i] end
redis.call('HSET', KEYS[1], unpack(fields))
for i = 2 + n * 2, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
if KEYS[3] ~= KEYS[1] then redis.call('HINCRBY', KEYS[3], 'forks', 1) end
redis.call('INCR', KEYS[4])
return 1
`

const APPEND = `
if redis.call('HGET', KEYS[1], 'entries') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'closed') ~= ARGV[2]
  or redis.call('HGET', KEYS[1], 'soft_deleted') ~= '0' then return 0 end
if ARGV[3] ~= '' then
  if (redis.call('HGET', KEYS[3], ARGV[3]) or '') ~= ARGV[4] then return 0 end
  redis.call('HSET', KEYS[3], ARGV[3], ARGV[5])
end
local m = tonumber(ARGV[6])
for i = 0, m - 1 do redis.call('HSET', KEYS[1], ARGV[8 + i * 2], ARGV[9 + i * 2]) end
for i = 8 + m * 2, #ARGV do redis.call('RPUSH', KEYS[2], ARGV[i]) end
redis.call('PUBLISH', '${CHANNEL}', ARGV[7])
return 1
`

const DELETE = `
if redis.call('HGET', KEYS[1], 'forks') ~= ARGV[1] or redis.call('HGET', KEYS[1], 'soft_deleted') ~= ARGV[2] then return 0 end
if ARGV[1] ~= '0' then
  redis.call('HSET', KEYS[1], 'soft_deleted', '1')
  redis.call('DECR', KEYS[4])
  return 1
end
redis.call('DEL', KEYS[1], KEYS[2], KEYS[3])
if ARGV[2] == '0' then redis.call('DECR', KEYS[4]) end
if KEYS[5] ~= KEYS[1] then redis.call('HINCRBY', KEYS[5], 'forks', -1) end
return 1
`

/** Redis cannot be reached: a `503`; `stored: 'unknown'` when the answer of a write was lost. */
export class StreamStoreUnavailableError extends Error {
  readonly code = 'SG_ERR_STORE_UNAVAILABLE'
  readonly status = 503

  constructor(reason: string, unknown: boolean) {
    super(
      unknown
        ? `the stream store did not answer (${reason}); the request may have been applied: send it again (with producer headers, a duplicate is recognised)`
        : `the stream store is unavailable (${reason}); nothing was changed, try again shortly`,
    )
    this.name = 'StreamStoreUnavailableError'
  }
}

type Meta = Record<string, string>

interface Scripted {
  createStream(...args: (string | Buffer | number)[]): Promise<number>
  appendStream(...args: (string | Buffer | number)[]): Promise<number>
  deleteStream(...args: (string | number)[]): Promise<number>
}

export class RedisStreamStore implements StreamStore {
  private readonly commands: RedisConnection
  private readonly subscriber: RedisConnection
  private readonly listeners = new Set<(state: StreamState) => void>()
  private readonly timer: ReturnType<typeof setInterval>
  private kept = 0
  /** Per stream, the end of the last append this node sent: the next one waits for it. */
  private readonly appending = new Map<string, Promise<void>>()
  /** Settles once the command connection is first ready: without an offline queue, commands sent before fail. */
  private readonly ready: Promise<void>

  constructor(
    url: string,
    options: RedisConnectionOptions = {},
    private readonly now: () => number = Date.now,
  ) {
    this.commands = connectRedis(url, 'commands', options)
    this.subscriber = connectRedis(url, 'reader', options)
    this.ready =
      this.commands.status === 'ready'
        ? Promise.resolve()
        : new Promise((resolve) => this.commands.once('ready', () => resolve()))
    this.commands.defineCommand('createStream', { numberOfKeys: 4, lua: CREATE })
    this.commands.defineCommand('appendStream', { numberOfKeys: 3, lua: APPEND })
    this.commands.defineCommand('deleteStream', { numberOfKeys: 5, lua: DELETE })
    this.subscriber.on('message', (_channel: string, message: string) => {
      const state = JSON.parse(message) as StreamState
      for (const listener of this.listeners) listener(state)
    })
    this.subscriber.subscribe(CHANNEL).catch(() => {})
    const refresh = () => {
      this.commands.get(COUNT).then(
        (count) => {
          this.kept = Number(count ?? 0)
        },
        () => {},
      )
    }
    this.timer = setInterval(refresh, 1000)
    this.timer.unref()
    refresh()
  }

  async create(request: CreateRequest): Promise<CreateResult> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const existing = await this.find(request.path)
      if (existing !== undefined) {
        const state = toState(existing)
        const conflict = configurationConflict(state, request)
        return conflict === undefined ? { kind: 'exists', state } : { kind: 'conflict', reason: conflict }
      }
      let source: Meta | undefined
      let plan: ForkPlan | undefined
      if (request.fork !== undefined) {
        source = await this.find(request.fork.from)
        if (source === undefined) return { kind: 'source-not-found' }
        const state = toState(source)
        // Fetched before planning (which is synchronous): the entry a byte sub-offset would cut.
        const offset = request.fork.offset ?? state.entries
        const next =
          request.fork.subOffset > 0 && offset < state.entries
            ? await this.entryOf(source, offset + 1)
            : undefined
        const planned = planFork(state, { ...request, fork: request.fork }, () => next)
        if ('kind' in planned) return planned
        plan = planned
      }
      const inherited = plan?.inherited ?? 0
      const own = [...(plan?.partial === undefined ? [] : [plan.partial]), ...request.entries].map((entry) =>
        Buffer.from(entry),
      )
      const ttlSeconds = plan === undefined ? request.ttlSeconds : plan.ttlSeconds
      const expiresAt = plan === undefined ? request.expiresAt : plan.expiresAt
      const row: Meta = {
        path: request.path,
        id: randomBytes(9).toString('base64url'),
        content_type: plan?.contentType ?? request.contentType ?? 'application/octet-stream',
        ttl_seconds: ttlSeconds === undefined ? '' : String(ttlSeconds),
        expires_at: expiresAt === undefined ? '' : String(expiresAt),
        entries: String(inherited + own.length),
        bytes: String(byteLength(own)),
        closed: request.close ? '1' : '0',
        closed_by: '',
        last_stream_seq: '',
        touched_at: String(this.now()),
        fork_from: plan?.point.from ?? '',
        fork_offset: plan === undefined ? '' : String(plan.point.offset),
        fork_sub_offset: plan === undefined ? '' : String(plan.point.subOffset),
        source_path: source?.path ?? '',
        inherited: String(inherited),
        forks: '0',
        soft_deleted: '0',
      }
      const fields = Object.entries(row).flat()
      const done = await this.write(() =>
        (this.commands as unknown as Scripted).createStream(
          meta(request.path),
          entriesKey(row.id as string),
          source === undefined ? meta(request.path) : meta(source.path as string),
          COUNT,
          fields.length / 2,
          ...fields,
          ...own,
        ),
      )
      if (done === 1) {
        this.kept++
        return { kind: 'created', state: toState(row) }
      }
      // 0: created meanwhile; -1: the source went meanwhile. Decide again.
    }
    throw new StreamStoreUnavailableError('too many concurrent changes', false)
  }

  /**
   * Appends to one stream go to Redis one at a time from this node (the others wait their turn
   * here): concurrent compare-and-set attempts from one node only defeat each other. Fifty
   * producers on one stream had exhausted their attempts (503) in `npm run bench -- streams`.
   */
  async append(request: AppendRequest): Promise<AppendResult> {
    const { path } = request
    const result = (this.appending.get(path) ?? Promise.resolve()).then(() => this.appendNow(request))
    const turn = result.then(
      () => {},
      () => {},
    )
    this.appending.set(path, turn)
    try {
      return await result
    } finally {
      if (this.appending.get(path) === turn) this.appending.delete(path)
    }
  }

  private async appendNow(request: AppendRequest): Promise<AppendResult> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      // Another node changed the stream meanwhile: a random pause, so that the nodes stop colliding.
      if (attempt > 0) await sleep(Math.random() * 2 ** Math.min(attempt, 5))
      const row = await this.find(request.path)
      if (row === undefined) return { kind: 'not-found' }
      if (row.soft_deleted === '1') return { kind: 'gone' }
      const state = toState(row)
      const savedText =
        request.producer === undefined
          ? ''
          : ((await this.read1(() =>
              this.commands.hget(producersKey(state.id), request.producer?.id as string),
            )) ?? '')
      const saved = parseProducer(savedText)
      const decision = decideAppend(state, saved, request)
      if (decision.kind !== 'accept') return decision
      const next: StreamState = {
        ...state,
        entries: state.entries + request.entries.length,
        bytes: state.bytes + byteLength(request.entries),
        touchedAt: this.now(),
      }
      if (request.streamSeq !== undefined) next.lastStreamSeq = request.streamSeq
      if (request.close) {
        next.closed = true
        next.closedBy = request.producer
      }
      const updates: Meta = {
        entries: String(next.entries),
        bytes: String(next.bytes),
        closed: next.closed ? '1' : '0',
        closed_by: next.closedBy === undefined ? '' : JSON.stringify(next.closedBy),
        last_stream_seq: next.lastStreamSeq ?? '',
        touched_at: String(next.touchedAt),
      }
      const pairs = Object.entries(updates).flat()
      const producerFields =
        request.producer === undefined || decision.producer === undefined
          ? ['', '', '']
          : [request.producer.id, savedText, `${decision.producer.epoch}:${decision.producer.lastSeq}`]
      const done = await this.write(() =>
        (this.commands as unknown as Scripted).appendStream(
          meta(request.path),
          entriesKey(state.id),
          producersKey(state.id),
          String(state.entries),
          state.closed ? '1' : '0',
          ...producerFields,
          pairs.length / 2,
          JSON.stringify(next),
          ...pairs,
          ...request.entries.map((entry) => Buffer.from(entry)),
        ),
      )
      if (done === 1) return { kind: 'appended', state: next, producer: decision.producer }
    }
    throw new StreamStoreUnavailableError('too many concurrent appends to one stream', false)
  }

  async read(path: string, after: number, maxBytes: number): Promise<StreamPage | undefined> {
    const row = await this.find(path)
    if (row === undefined || row.soft_deleted === '1') return undefined
    if (row.ttl_seconds !== '') {
      row.touched_at = String(this.now())
      await this.write(() => this.commands.hset(meta(path), 'touched_at', row.touched_at as string))
    }
    const state = toState(row)
    const entries: Uint8Array[] = []
    let bytes = 0
    let through = Math.min(after, state.entries)
    while (through < state.entries) {
      let holder = row
      let limit = state.entries
      while (through + 1 <= Number(holder.inherited)) {
        limit = Number(holder.inherited)
        holder = (await this.find(holder.source_path as string, true)) as Meta
      }
      const base = Number(holder.inherited)
      const count = Math.min(256, limit - through)
      const page = await this.read1(() =>
        this.commands.lrangeBuffer(
          entriesKey(holder.id as string),
          through - base,
          through - base + count - 1,
        ),
      )
      for (const entry of page) {
        if (entries.length > 0 && bytes + entry.length > maxBytes) return { state, entries, through }
        entries.push(entry)
        bytes += entry.length
        through++
      }
      if (page.length === 0) break
    }
    return { state, entries, through }
  }

  async head(path: string): Promise<StreamState | undefined> {
    const row = await this.find(path)
    return row === undefined ? undefined : toState(row)
  }

  async delete(path: string): Promise<'deleted' | 'not-found' | 'gone'> {
    const row = await this.find(path)
    if (row === undefined) return 'not-found'
    if (row.soft_deleted === '1') return 'gone'
    await this.drop(row)
    return 'deleted'
  }

  count(): number {
    return this.kept
  }

  onAppend(listener: (state: StreamState) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    clearInterval(this.timer)
    this.listeners.clear()
    this.subscriber.disconnect()
    this.commands.disconnect()
  }

  /** The meta of `path`, soft-deleted ones included, unless absent or expired (then dropped). */
  private async find(path: string, evenExpired = false): Promise<Meta | undefined> {
    await this.available()
    const row = await this.read1(() => this.commands.hgetall(meta(path)))
    if (row.id === undefined) return undefined
    if (evenExpired || row.soft_deleted === '1' || !isExpired(toState(row), this.now())) return row
    await this.drop(row)
    return this.find(path, true).then((after) => (after?.soft_deleted === '1' ? after : undefined))
  }

  /** Deletes a stream, or soft-deletes it while forks exist; a source left without forks goes too. */
  private async drop(row: Meta): Promise<void> {
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const current = attempt === 0 ? row : await this.find(row.path as string, true)
      if (current === undefined) return
      const source = current.source_path === '' ? undefined : (current.source_path as string)
      const done = await this.write(() =>
        (this.commands as unknown as Scripted).deleteStream(
          meta(current.path as string),
          entriesKey(current.id as string),
          producersKey(current.id as string),
          COUNT,
          source === undefined ? meta(current.path as string) : meta(source),
          current.forks as string,
          current.soft_deleted as string,
        ),
      )
      if (done !== 1) continue
      if (current.soft_deleted === '0') this.kept = Math.max(0, this.kept - 1)
      if (current.forks !== '0' || source === undefined) return
      const parent = await this.find(source, true)
      if (parent !== undefined && parent.soft_deleted === '1' && parent.forks === '0') await this.drop(parent)
      return
    }
  }

  /** The entry `seq` of a stream, following its fork chain. */
  private async entryOf(row: Meta, seq: number): Promise<Buffer | undefined> {
    let holder = row
    while (seq <= Number(holder.inherited))
      holder = (await this.find(holder.source_path as string, true)) as Meta
    const entry = await this.read1(() =>
      this.commands.lindexBuffer(entriesKey(holder.id as string), seq - Number(holder.inherited) - 1),
    )
    return entry ?? undefined
  }

  /** Waits for the first connection to Redis, a second at most. */
  private async available(): Promise<void> {
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StreamStoreUnavailableError('Redis is not reachable', false)), 1000)
    })
    try {
      await Promise.race([this.ready, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** A read: a failure means nothing happened. */
  private async read1<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      throw new StreamStoreUnavailableError(failureReason(error), false)
    }
  }

  /** A write: a failure after the command was sent leaves its outcome unknown. */
  private async write<T>(run: () => Promise<T>): Promise<T> {
    try {
      return await run()
    } catch (error) {
      throw new StreamStoreUnavailableError(failureReason(error), !neverSent(error))
    }
  }
}

const optionalNumber = (value: string | undefined) =>
  value === undefined || value === '' ? undefined : Number(value)

function parseProducer(text: string): ProducerState | undefined {
  if (text === '') return undefined
  const [epoch, lastSeq] = text.split(':').map(Number)
  return { epoch: epoch as number, lastSeq: lastSeq as number }
}

function toState(row: Meta): StreamState {
  return {
    path: row.path as string,
    id: row.id as string,
    contentType: row.content_type as string,
    ttlSeconds: optionalNumber(row.ttl_seconds),
    expiresAt: optionalNumber(row.expires_at),
    entries: Number(row.entries),
    bytes: Number(row.bytes ?? 0),
    closed: row.closed === '1',
    closedBy: row.closed_by ? (JSON.parse(row.closed_by) as ProducerRequest) : undefined,
    lastStreamSeq: row.last_stream_seq || undefined,
    touchedAt: Number(row.touched_at),
    fork: row.fork_from
      ? { from: row.fork_from, offset: Number(row.fork_offset), subOffset: Number(row.fork_sub_offset || 0) }
      : undefined,
    softDeleted: row.soft_deleted === '1' ? true : undefined,
  }
}
