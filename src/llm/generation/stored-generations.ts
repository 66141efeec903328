import type { AppendRequest, StreamStore } from '../../streams/stream-store.js'
import { anthropic } from '../providers/anthropic.js'
import { openai } from '../providers/openai.js'
import type { Provider } from '../providers/provider.js'
import { EventSplitter } from '../upstream/event-splitter.js'
import type { Generation, GenerationSink, RemoteOwner, StoredEnding } from './generation.js'
import type { GenerationNodes } from './generation-nodes.js'
import { StoreRetention } from './store-retention.js'

/*
 * Generations as durable streams, in the gateway's stream store (sqlite by default, Redis for many
 * nodes), readable by the Durable Streams read path at `/v1/stream/generations/<id>`:
 *
 * - `/generations/<id>`: the event stream's bytes (as `text/plain`), each event with its `id: n`
 *   line, exactly as viewers were sent them; an entry holds the events of one upstream read (one
 *   row, one transaction: a row per event cost 1.8× the CPU of the memory store); closed when the
 *   generation ended.
 * - `/generations/<id>/meta`: JSON messages: `{"created": …}`, then one `{"finished": …}`.
 * - `/generations/responses/<resp_…>`: the generation of a background response, by its id.
 *
 * All three live `retainFor` after their last read or write (a sliding TTL), and the finished
 * generations this process stored are deleted sooner when they pass the byte budget.
 */

/** Store paths begin with `/`, as the HTTP path after `/v1/stream` does. */
export const GENERATIONS_PREFIX = '/generations/'
const eventsPath = (id: string) => `${GENERATIONS_PREFIX}${id}`
const metaPath = (id: string) => `${GENERATIONS_PREFIX}${id}/meta`
const responsePath = (responseId: string) => `${GENERATIONS_PREFIX}responses/${responseId}`
/**
 * Not `text/event-stream`: a Durable Streams client takes a response of that type for the
 * protocol's own SSE mode. The bytes are the generation's event stream all the same.
 */
const EVENT_STREAM = 'text/plain; charset=utf-8'
const JSON_TYPE = 'application/json'
/** The one `finished` record of a generation's meta: a second writer's append is a regression. */
const FINISHED_SEQ = 'finished'
const READ_PAGE_BYTES = 1024 * 1024
/** How often a replica whose stream is quiet asks whether its owner still lives. */
const OWNER_CHECK_MS = 5000
/** Ids as the gateway makes them: nothing else is looked up in the store. */
const GENERATION_ID = /^gen_[\w-]{1,64}$/
const RESPONSE_ID = /^[\w-]{1,128}$/

/** What a generation's meta says when it starts. */
export interface CreatedRecord {
  provider: 'openai' | 'anthropic'
  model: string
  keyId: string
  createdAt: number
  /** The node that runs it (see GenerationNodes). */
  node: string
  background: boolean
  inputEstimate: number
}

/** What `load` gives to build a generation read back from the store. */
export interface StoredGeneration {
  id: string
  created: CreatedRecord
  provider: Provider
  /** Another live node runs it: the generation is a replica, and follows the store. */
  owner: RemoteOwner | undefined
}

export interface StoredGenerationsOptions {
  /** How long a generation is kept after its last read or write, in milliseconds. */
  retainFor: number
  /** Bytes of finished generations this process keeps in the store at most; the oldest go first. */
  maxBytes: number
}

export class StoredGenerations implements GenerationSink {
  private readonly ttlSeconds: number
  private readonly retention: StoreRetention
  /** When each running generation's meta was last touched (its sliding TTL restarted). */
  private readonly touched = new Map<string, number>()

  constructor(
    private readonly store: StreamStore,
    readonly nodes: GenerationNodes,
    private readonly options: StoredGenerationsOptions,
  ) {
    this.ttlSeconds = Math.max(1, Math.ceil(options.retainFor / 1000))
    this.retention = new StoreRetention(options, (id) => this.delete(id))
  }

  async begin(generation: Generation): Promise<void> {
    const { provider, model, keyId, background, inputEstimate } = generation.options
    const created: CreatedRecord = {
      provider: provider.name,
      model,
      keyId,
      createdAt: generation.createdAt,
      node: this.nodes.id,
      background: background === true,
      inputEstimate,
    }
    const lifetime = { ttlSeconds: this.ttlSeconds }
    const [events, meta] = await Promise.all([
      this.store.create({
        path: eventsPath(generation.id),
        contentType: EVENT_STREAM,
        entries: [],
        close: false,
        ...lifetime,
      }),
      this.store.create({
        path: metaPath(generation.id),
        contentType: JSON_TYPE,
        entries: [json({ created })],
        close: false,
        ...lifetime,
      }),
    ])
    if (events.kind !== 'created' || meta.kind !== 'created')
      throw new Error(`the store refused the generation (${events.kind}, ${meta.kind})`)
    this.touched.set(generation.id, Date.now())
  }

  async append(generation: Generation, events: Buffer): Promise<void> {
    await this.appendOrThrow({
      path: eventsPath(generation.id),
      contentType: undefined,
      entries: [events],
      close: false,
    })
    // The meta is written only at the start and the end: a long generation restarts its TTL.
    const now = Date.now()
    if (now - (this.touched.get(generation.id) ?? now) > this.options.retainFor / 4) {
      this.touched.set(generation.id, now)
      await this.store.read(metaPath(generation.id), Number.MAX_SAFE_INTEGER, 0)
    }
  }

  /** The end: the `finished` record, then the events stream closed (a reader of it then finds the record). */
  async end(generation: Generation): Promise<void> {
    this.touched.delete(generation.id)
    const ending: StoredEnding = {
      state: generation.state,
      error: generation.error,
      finishedAt: generation.finishedAt,
      firstOutputAt: generation.firstOutputAt,
      usage: generation.usage(),
    }
    await this.appendOrThrow({
      path: metaPath(generation.id),
      contentType: undefined,
      entries: [json({ finished: ending })],
      close: true,
      streamSeq: FINISHED_SEQ,
    })
    await this.appendOrThrow({
      path: eventsPath(generation.id),
      contentType: undefined,
      entries: [],
      close: true,
    })
    this.retention.finished(generation.id, generation.keptBytes)
  }

  /** Remembers the generation of a background response by the response's id. */
  async recordResponse(responseId: string, generationId: string): Promise<void> {
    if (!RESPONSE_ID.test(responseId)) return
    await this.store.create({
      path: responsePath(responseId),
      contentType: JSON_TYPE,
      entries: [json({ generation: generationId })],
      close: true,
      ttlSeconds: this.ttlSeconds,
    })
  }

  async generationOfResponse(responseId: string): Promise<string | undefined> {
    if (!RESPONSE_ID.test(responseId)) return undefined
    const page = await this.store.read(responsePath(responseId), 0, READ_PAGE_BYTES)
    const record = page?.entries[0] && (parse(page.entries[0]) as { generation?: unknown })
    return typeof record?.generation === 'string' ? record.generation : undefined
  }

  /**
   * A generation this process does not hold: built by `make` and filled from the store. One whose
   * node is gone (a crash, or a restart) is first ended as `interrupted`; one that another live node
   * runs becomes a replica that follows the store until it ends.
   */
  async load(id: string, make: (stored: StoredGeneration) => Generation): Promise<Generation | undefined> {
    if (!GENERATION_ID.test(id)) return undefined
    let meta = await this.readMeta(id)
    if (meta === undefined) return undefined
    const { created } = meta
    const provider = created.provider === 'anthropic' ? anthropic : openai
    const running = meta.finished === undefined
    const alive = running && created.node !== this.nodes.id && (await this.nodes.isAlive(created.node))
    const owner: RemoteOwner | undefined = alive
      ? {
          cancel: () => this.nodes.requestCancel(id),
          viewerJoined: () => this.nodes.announce(id, 'joined'),
          viewerLeft: () => this.nodes.announce(id, 'left'),
        }
      : undefined
    const generation = make({ id, created, provider, owner })
    // What is stored so far, before anyone is told of the generation.
    let { through } = await this.feed(generation, 0)
    if (running && !alive) {
      await this.interrupt(id, provider, generation.eventCount)
      meta = (await this.readMeta(id)) ?? meta
      through = (await this.feed(generation, through)).through
    }
    if (owner === undefined) {
      generation.settle(meta.finished ?? { state: 'interrupted', error: 'the gateway stopped' })
    } else {
      this.follow(generation, created.node, through).catch((error: unknown) =>
        generation.settle({
          state: 'interrupted',
          error: `the store could not be read (${(error as Error).message})`,
        }),
      )
    }
    return generation
  }

  /** Deletes a generation's streams (its retention ended). */
  async delete(id: string): Promise<void> {
    await Promise.all([this.store.delete(eventsPath(id)), this.store.delete(metaPath(id))])
  }

  close(): void {
    this.retention.close()
  }

  /**
   * Ends a generation whose node is gone, after event `lastId`: the `finished` record, then the
   * provider's error event and the stream closed. Only one node does it: the record's Stream-Seq
   * admits one.
   */
  private async interrupt(id: string, provider: Provider, lastId: number): Promise<void> {
    const error = 'the gateway stopped while this answer was streaming'
    const claimed = await this.store.append({
      path: metaPath(id),
      contentType: undefined,
      entries: [json({ finished: { state: 'interrupted', error, finishedAt: Date.now() } })],
      close: true,
      streamSeq: FINISHED_SEQ,
    })
    if (claimed.kind !== 'appended') return
    const event = Buffer.from(`id: ${lastId + 1}\n${provider.errorEvent('api_error', error)}`)
    await this.store.append({ path: eventsPath(id), contentType: undefined, entries: [event], close: true })
  }

  /** Feeds the stored events after `after` to `generation`: the count through, and whether it is closed. */
  private async feed(generation: Generation, after: number): Promise<{ through: number; closed: boolean }> {
    let through = after
    for (;;) {
      const page = await this.store.read(eventsPath(generation.id), through, READ_PAGE_BYTES)
      if (page === undefined) return { through, closed: true }
      for (const entry of page.entries) generation.feed(eventsOf(entry))
      through = page.through
      if (through >= page.state.entries) return { through, closed: page.state.closed }
    }
  }

  /** A replica: the stored events as they come, until the stream closes (or its owner is found gone). */
  private async follow(generation: Generation, owner: string, after: number): Promise<void> {
    const path = eventsPath(generation.id)
    let woken = false
    let wake: () => void = () => {}
    const stop = this.store.onAppend((state) => {
      if (state.path !== path) return
      woken = true
      wake()
    })
    try {
      let through = after
      for (;;) {
        woken = false
        const fed = await this.feed(generation, through)
        through = fed.through
        if (fed.closed) break
        if (!woken) {
          const appended = await new Promise<boolean>((resolve) => {
            const timer = setTimeout(() => resolve(false), OWNER_CHECK_MS)
            wake = () => {
              clearTimeout(timer)
              resolve(true)
            }
          })
          wake = () => {}
          if (!appended && !(await this.nodes.isAlive(owner)))
            await this.interrupt(generation.id, generation.provider, generation.eventCount)
        }
      }
    } finally {
      stop()
    }
    const meta = await this.readMeta(generation.id)
    generation.settle(meta?.finished ?? { state: 'interrupted', error: 'the gateway stopped' })
  }

  private async readMeta(
    id: string,
  ): Promise<{ created: CreatedRecord; finished?: StoredEnding } | undefined> {
    const page = await this.store.read(metaPath(id), 0, READ_PAGE_BYTES)
    if (page === undefined) return undefined
    let created: CreatedRecord | undefined
    let finished: StoredEnding | undefined
    for (const entry of page.entries) {
      const record = parse(entry) as { created?: CreatedRecord; finished?: StoredEnding } | undefined
      created ??= record?.created
      finished ??= record?.finished
    }
    return created === undefined ? undefined : { created, finished }
  }

  private async appendOrThrow(request: AppendRequest): Promise<void> {
    const result = await this.store.append(request)
    if (result.kind !== 'appended') throw new Error(`the store answered ${result.kind}`)
  }
}

const json = (value: unknown): Buffer => Buffer.from(JSON.stringify(value))

function parse(entry: Uint8Array): unknown {
  try {
    return JSON.parse(Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength).toString('utf8'))
  } catch {
    return undefined
  }
}

/** The events of a stored entry, each without its `id: n` line: as the upstream sent them. */
function eventsOf(entry: Uint8Array): Buffer[] {
  const events = new EventSplitter().push(Buffer.from(entry.buffer, entry.byteOffset, entry.byteLength))
  return events.map((event) => event.subarray(event.indexOf(0x0a) + 1))
}
