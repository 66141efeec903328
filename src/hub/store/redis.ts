import {
  connectRedis,
  failureReason,
  neverSent,
  type RedisConnection,
  type RedisConnectionOptions,
} from '../../storage/redis-connection.js'
import { type NewUpdate, type StoredUpdate, storedUpdate } from '../update.js'
import {
  DEFAULT_PRESENCE_HISTORY,
  DuplicateIdError,
  type HistoryBounds,
  type HistoryPage,
  newUpdateId,
  type ResumePoint,
  StoreUnavailableError,
  type UpdateStore,
} from './store.js'

/*
 * The shared store of a multi-node hub, on Redis (ioredis).
 *
 * Layout: one global Redis Stream of updates (`{sg}:updates`) whose entry ids are `<sequence>-0`,
 * the sequence coming from a counter (`{sg}:seq`) incremented in the same Lua script as the XADD:
 * the order is one and global, the sequences are dense and the same on every node, so a
 * `Last-Event-ID` from one node is understood by all. Update ids map to sequences in a sorted set
 * (`{sg}:ids`, score = sequence): the duplicate check and the resume lookup. The hash tag `{sg}`
 * keeps the keys in one slot, so the script also runs on Redis Cluster.
 *
 * Fan-out between nodes: one reader per node, a blocking XREAD on the stream after the last entry
 * it saw, on its own connection; each entry is handed to the node's hub, which writes it to its
 * local subscribers. A publish is acknowledged once the script has run (Redis's own durability:
 * run it with AOF, `appendfsync everysec` or `always`).
 *
 * Outage: commands fail at once while the connection is down (no offline queue) or after one
 * second (command timeout), and the publish is refused with 503 — never queued, never re-sent. An
 * append whose answer was lost (sent, then the connection closed or the second passed) may have
 * been stored: its 503 says so and names the id, so the publisher can publish it again with that
 * id and learn from the duplicate check whether it was. The
 * reader reconnects with backoff and reads on from its last entry, so subscribers catch up.
 *
 * Sharding, the next step past one Redis: the single stream orders every update of the deployment,
 * which is what lets `*` and multi-topic subscribers resume with one id; it also puts every publish
 * through one Redis primary and makes every node read every update. Measured on this 2-core machine
 * (`npm run bench -- cluster`, docs/BENCHMARKS.md): one Redis took 18,689 appends/s through this
 * script (one client, 64 in flight), while 3,000 subscribers over three nodes saturate at about 50
 * updates/s (150,000 deliveries/s); crossing nodes adds about 4 ms at the median. Past one primary,
 * topics would be hashed to S streams (`{sg-<shard>}` keys, one shard per primary), ids would carry
 * their shard (`<shard>:<sequence>`), a node would read only the shards its subscribers' exact
 * topics hash to, and a resume point would become one position per shard read: exact-topic
 * subscribers read one shard, `*` and patterns read all and merge by publish time, giving up the
 * single global order across shards (order stays exact per topic, which is what Mercure promises).
 */

const STREAM = '{sg}:updates'
const COUNTER = '{sg}:seq'
const IDS = '{sg}:ids'
/** Presence updates kept (member: id, score: sequence), so that the oldest beyond the bound go. */
const PRESENCE = '{sg}:presence'
const READ_BLOCK_MS = 2000
const READ_COUNT = 1000
/** Upper bound applied at every append (approximate trimming, cheap); `trim` applies the exact bounds. */
const APPEND_MAXLEN = 1_000_000

const APPEND_SCRIPT = `
if redis.call('ZSCORE', KEYS[3], ARGV[1]) then return -1 end
local sequence = redis.call('INCR', KEYS[2])
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], sequence .. '-0', 'u', ARGV[2])
redis.call('ZADD', KEYS[3], sequence, ARGV[1])
if ARGV[4] == '1' then
  redis.call('ZADD', KEYS[4], sequence, ARGV[1])
  if redis.call('ZCARD', KEYS[4]) > tonumber(ARGV[5]) then
    local oldest = redis.call('ZPOPMIN', KEYS[4])
    redis.call('XDEL', KEYS[1], oldest[2] .. '-0')
    redis.call('ZREM', KEYS[3], oldest[1])
  end
end
return sequence
`

/** What an entry holds: the update without its sequence (the entry id has it). */
type Payload = Omit<StoredUpdate, 'sequence'>

/** The connection options (storage/redis-connection.ts); on a Cluster the keys share one hash slot. */
export interface RedisStoreOptions extends RedisConnectionOptions {
  /** Presence updates kept for resuming (`--presence-history`). */
  maxPresence?: number
}

export class RedisStore implements UpdateStore {
  private readonly commands: RedisConnection
  private readonly reader: RedisConnection
  private readonly listeners = new Set<(update: StoredUpdate) => void>()
  private readonly ready: Promise<void>
  private closed = false
  private readonly maxPresence: number

  constructor(url: string, options: RedisStoreOptions = {}) {
    this.maxPresence = options.maxPresence ?? DEFAULT_PRESENCE_HISTORY
    this.commands = connectRedis(url, 'commands', options)
    this.reader = connectRedis(url, 'reader', options)
    this.commands.defineCommand('appendUpdate', { numberOfKeys: 4, lua: APPEND_SCRIPT })
    this.ready = this.start()
  }

  /** Finds where the reader starts (waiting for Redis as long as it takes), then starts it. */
  private async start(): Promise<void> {
    // Without an offline queue, a command sent before the connection is ready fails: wait for it.
    const commandsReady =
      this.commands.status === 'ready'
        ? Promise.resolve()
        : new Promise<void>((resolve) => this.commands.once('ready', () => resolve()))
    const newest = await this.reader.get(COUNTER)
    await commandsReady
    // The loop catches its own errors and retries until the store closes.
    this.readLoop(`${Number(newest ?? 0)}-0`).catch(() => {})
  }

  async append(update: NewUpdate): Promise<StoredUpdate> {
    await this.available()
    const id = update.id ?? newUpdateId()
    const payload: Payload = { ...update, id, publishedAt: Date.now() }
    const sequence = Number(
      await this.command(
        () =>
          (this.commands as unknown as AppendCommand).appendUpdate(
            STREAM,
            COUNTER,
            IDS,
            PRESENCE,
            id,
            JSON.stringify(payload),
            APPEND_MAXLEN,
            update.presence === true ? 1 : 0,
            this.maxPresence,
          ),
        id,
      ),
    )
    if (sequence === -1) throw new DuplicateIdError(id)
    return storedUpdate(update, id, sequence, payload.publishedAt)
  }

  async readAfter(
    from: ResumePoint,
    matches: (update: StoredUpdate) => boolean,
    limit: number,
    afterSequence?: number,
  ): Promise<HistoryPage> {
    await this.available()
    const { known, after } = await this.resolve(from, afterSequence)
    const updates: StoredUpdate[] = []
    let through = after
    const entries = await this.command(() =>
      // One entry more than the page, to know whether it is the last.
      this.commands.xrange(STREAM, `(${through}-0`, '+', 'COUNT', limit + 1),
    )
    for (const [entryId, fields] of entries.slice(0, limit)) {
      const update = decode(entryId, fields)
      through = update.sequence
      if (matches(update)) updates.push(update)
    }
    return { known, updates, through, done: entries.length <= limit }
  }

  async newestSequence(): Promise<number> {
    await this.available()
    return Number((await this.command(() => this.commands.get(COUNTER))) ?? 0)
  }

  async newestId(): Promise<string | undefined> {
    await this.available()
    const [entry] = await this.command(() => this.commands.xrevrange(STREAM, '+', '-', 'COUNT', 1))
    return entry === undefined ? undefined : decode(entry[0], entry[1]).id
  }

  async trim({ maxCount, maxAge }: HistoryBounds): Promise<number> {
    await this.available()
    const before = await this.command(() => this.commands.xlen(STREAM))
    // The count bound counts publishers' updates: at least `maxCount` of them stay, whatever the
    // presence updates among them (those have their own bound, applied as they are appended).
    const presence = await this.command(() => this.commands.zcard(PRESENCE))
    await this.command(() => this.commands.xtrim(STREAM, 'MAXLEN', maxCount + presence))
    // By age: the stream is in publish order, so the old entries are a prefix; read it in pages.
    const oldestAllowed = Date.now() - maxAge
    for (;;) {
      const entries = await this.command(() => this.commands.xrange(STREAM, '-', '+', 'COUNT', 100))
      const young = entries.findIndex(
        ([entryId, fields]) => decode(entryId, fields).publishedAt >= oldestAllowed,
      )
      const cut = young === -1 ? entries.at(-1) : entries[young]
      if (cut === undefined) break
      if (young === -1)
        await this.command(() => this.commands.xtrim(STREAM, 'MINID', `${sequenceOf(cut[0]) + 1}-0`))
      else {
        await this.command(() => this.commands.xtrim(STREAM, 'MINID', cut[0]))
        break
      }
    }
    // Ids of trimmed updates are forgotten too: resuming from one is then reported as unknown.
    const [first] = await this.command(() => this.commands.xrange(STREAM, '-', '+', 'COUNT', 1))
    const keptFrom =
      first === undefined ? Number((await this.commands.get(COUNTER)) ?? 0) + 1 : sequenceOf(first[0])
    await this.command(() => this.commands.zremrangebyscore(IDS, '-inf', `(${keptFrom}`))
    await this.command(() => this.commands.zremrangebyscore(PRESENCE, '-inf', `(${keptFrom}`))
    return before - (await this.command(() => this.commands.xlen(STREAM)))
  }

  onAppend(listener: (update: StoredUpdate) => void): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async close(): Promise<void> {
    this.closed = true
    this.listeners.clear()
    this.reader.disconnect()
    this.commands.disconnect()
  }

  /** The one reader of this node: every update appended by any node, in order, to the listeners. */
  private async readLoop(start: string): Promise<void> {
    let last = start
    while (!this.closed) {
      try {
        const result = await this.reader.xread(
          'COUNT',
          READ_COUNT,
          'BLOCK',
          READ_BLOCK_MS,
          'STREAMS',
          STREAM,
          last,
        )
        for (const [, entries] of result ?? []) {
          for (const [entryId, fields] of entries) {
            last = entryId
            const update = decode(entryId, fields)
            for (const listener of this.listeners) listener(update)
          }
        }
      } catch {
        // Redis is away: ioredis reconnects; read on from the last entry once it is back.
        if (!this.closed) await new Promise((resolve) => setTimeout(resolve, 200))
      }
    }
  }

  /** Looks an id up: unknown, or evicted (older than the oldest entry kept), reads from the start. */
  private async resolve(
    from: ResumePoint,
    afterSequence: number | undefined,
  ): Promise<{ known: boolean; after: number }> {
    if (afterSequence !== undefined) return { known: true, after: afterSequence }
    if (from === 'earliest') return { known: true, after: 0 }
    const score = await this.command(() => this.commands.zscore(IDS, from.after))
    if (score === null) return { known: false, after: 0 }
    const sequence = Number(score)
    const [first] = await this.command(() => this.commands.xrange(STREAM, '-', '+', 'COUNT', 1))
    // With updates after it evicted (approximate trimming at append), resuming from it would skip them.
    if (first !== undefined && sequenceOf(first[0]) > sequence + 1) return { known: false, after: 0 }
    return { known: true, after: sequence }
  }

  /** Refuses within a second when the reader has not started (Redis unreachable since start-up). */
  private async available(): Promise<void> {
    if (this.closed) throw new StoreUnavailableError('the store is closed')
    let timer: ReturnType<typeof setTimeout> | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new StoreUnavailableError('Redis is not reachable')), 1000)
    })
    try {
      await Promise.race([this.ready, timeout])
    } finally {
      clearTimeout(timer)
    }
  }

  /** Runs a command; for an append, `id` names the update whose fate a lost answer leaves unknown. */
  private async command<T>(run: () => Promise<T>, id?: string): Promise<T> {
    try {
      return await run()
    } catch (error) {
      if (error instanceof DuplicateIdError) throw error
      // Without an offline queue, ioredis refuses a command it cannot send with this message; any
      // other failure (closed connection, timeout) came after the command may have reached Redis.
      throw new StoreUnavailableError(
        failureReason(error),
        id === undefined || neverSent(error) ? false : 'unknown',
        id,
      )
    }
  }
}

interface AppendCommand {
  appendUpdate(...args: (string | number)[]): Promise<number>
}

const sequenceOf = (entryId: string): number => Number(entryId.slice(0, entryId.indexOf('-')))

function decode(entryId: string, fields: string[]): StoredUpdate {
  const payload = JSON.parse(fields[1] as string) as Payload
  return storedUpdate(payload, payload.id, sequenceOf(entryId), payload.publishedAt)
}
