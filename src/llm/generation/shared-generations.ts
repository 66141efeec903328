import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import { anthropic } from '../providers/anthropic.js'
import { openai } from '../providers/openai.js'
import { estimateTokens, eventJson, type Usage } from '../providers/provider.js'
import type { Generation, GenerationState } from './generation.js'

/** A generation as every node sees it through the shared store. */
export interface SharedGenerationState {
  id: string
  state: GenerationState
  provider: 'openai' | 'anthropic'
  model: string
  keyId: string
  createdAt: number
  finishedAt: number | undefined
  error: string | undefined
  firstOutputAt: number | undefined
  events: number
  usage: Usage | undefined
}

type Control = { type: 'cancel' | 'joined' | 'left'; id: string; from: string }

const CONTROL = '{sg}:gen-control'
const eventsKey = (id: string) => `{sg}:gen:${id}`
const metaKey = (id: string) => `{sg}:gen:${id}:meta`
/** A running generation's keys outlive it by this much at most (a node that died mid-way). */
const RUNNING_TTL_S = 24 * 3600
const FOLLOW_BLOCK_MS = 5000

/**
 * Generations visible from every gateway node (Redis). The node that runs the upstream request
 * records each batch of events in a stream per generation (`{sg}:gen:<id>`, entry id = event id)
 * and its state in a hash; any node can then describe, replay and follow it. Cancel requests and
 * remote viewers joining or leaving travel on one pub/sub channel to the node that owns the
 * upstream request. A remote viewer follows with a blocking read on a connection of its own.
 */
export class SharedGenerations {
  private readonly commands: Redis
  private readonly subscriber: Redis
  private readonly node = randomUUID()
  private readonly local = new Map<string, Generation>()
  private closed = false

  constructor(
    url: string,
    private readonly retainForMs: number,
  ) {
    // With an offline queue: a generation that starts while the connection is still being made
    // (right after start-up) or briefly lost is recorded once it is back, not dropped; a command
    // still fails after a second, so that no request waits on Redis for long.
    const options = {
      retryStrategy: (attempt: number) => Math.min(attempt * 100, 2000),
      enableOfflineQueue: true,
      commandTimeout: 1000,
      maxRetriesPerRequest: 1,
    }
    this.commands = new Redis(url, options)
    this.subscriber = new Redis(url, { retryStrategy: options.retryStrategy })
    this.commands.on('error', () => {})
    this.subscriber.on('error', () => {})
    this.subscriber.subscribe(CONTROL).catch(() => {})
    this.subscriber.on('message', (_channel: string, text: string) => this.onControl(text))
  }

  /** A generation started on this node: record its state, and listen for control of it. */
  created(generation: Generation): void {
    this.local.set(generation.id, generation)
    const { provider, model, keyId } = generation.options
    this.commands
      .multi()
      .hset(metaKey(generation.id), {
        state: generation.state,
        provider: provider.name,
        model,
        keyId,
        createdAt: generation.createdAt,
        events: 0,
      })
      .expire(metaKey(generation.id), RUNNING_TTL_S)
      .exec()
      .catch(() => {})
  }

  /** A batch of numbered events: appended in order (one connection, pipelined, never awaited). */
  events(generation: Generation, events: readonly Buffer[], firstId: number): void {
    const pipeline = this.commands.pipeline()
    for (const [index, event] of events.entries()) {
      pipeline.xadd(eventsKey(generation.id), `${firstId + index}-0`, 'e', event)
    }
    pipeline.hset(metaKey(generation.id), 'events', firstId + events.length - 1)
    if (firstId === 1) pipeline.expire(eventsKey(generation.id), RUNNING_TTL_S)
    if (generation.firstOutputAt !== undefined)
      pipeline.hset(metaKey(generation.id), 'firstOutputAt', generation.firstOutputAt)
    pipeline.exec().catch(() => {})
  }

  /** The end: state, usage, an end marker for followers, and the retention time. */
  finished(generation: Generation): void {
    this.local.delete(generation.id)
    const ttl = Math.ceil(this.retainForMs / 1000)
    this.commands
      .multi()
      .hset(metaKey(generation.id), {
        state: generation.state,
        finishedAt: generation.finishedAt ?? Date.now(),
        error: generation.error ?? '',
        usage: JSON.stringify(generation.usage()),
        events: generation.eventCount,
      })
      .xadd(eventsKey(generation.id), `${generation.eventCount + 1}-0`, 'x', 'end')
      .expire(metaKey(generation.id), ttl)
      .expire(eventsKey(generation.id), ttl)
      .exec()
      .catch(() => {})
  }

  async describe(id: string): Promise<(SharedGenerationState & { text: string }) | undefined> {
    const meta = await this.commands.hgetall(metaKey(id))
    if (meta.state === undefined) return undefined
    const provider = meta.provider === 'anthropic' ? anthropic : openai
    const entries = await this.commands.xrangeBuffer(eventsKey(id), '-', '+')
    let text = ''
    for (const [, fields] of entries) {
      if (String(fields[0]) === 'e') text += provider.textOf(eventJson(String(fields[1])))
    }
    const number = (value: string | undefined) =>
      value === undefined || value === '' ? undefined : Number(value)
    const usage = meta.usage ? (JSON.parse(meta.usage) as Usage) : undefined
    return {
      id,
      state: meta.state as GenerationState,
      provider: provider.name,
      model: meta.model ?? 'unknown',
      keyId: meta.keyId ?? 'open',
      createdAt: Number(meta.createdAt),
      finishedAt: number(meta.finishedAt),
      error: meta.error || undefined,
      firstOutputAt: number(meta.firstOutputAt),
      events: Number(meta.events ?? 0),
      usage: usage ?? { inputTokens: 0, outputTokens: estimateTokens(text), estimated: true },
      text,
    }
  }

  /**
   * Writes the events after `after` (each with its `id:` line), then the new ones as they are
   * recorded, until the generation ends (resolves true) or `signal` aborts (false).
   */
  async follow(
    id: string,
    after: number,
    write: (frames: Buffer) => void,
    signal: AbortSignal,
  ): Promise<boolean> {
    const reader = this.commands.duplicate({
      enableOfflineQueue: true,
      commandTimeout: undefined,
      maxRetriesPerRequest: null,
    })
    reader.on('error', () => {})
    const stop = () => reader.disconnect()
    signal.addEventListener('abort', stop, { once: true })
    let last = `${after}-0`
    try {
      while (!signal.aborted && !this.closed) {
        const result = await reader
          .xreadBuffer('BLOCK', FOLLOW_BLOCK_MS, 'STREAMS', eventsKey(id), last)
          .catch(() => null)
        if (signal.aborted) return false
        const frames: Buffer[] = []
        let ended = false
        for (const [, entries] of result ?? []) {
          for (const [entryId, fields] of entries) {
            last = String(entryId)
            if (String(fields[0]) === 'x') ended = true
            else frames.push(Buffer.from(`id: ${last.slice(0, last.indexOf('-'))}\n`), fields[1] as Buffer)
          }
        }
        if (frames.length > 0) write(Buffer.concat(frames))
        if (ended) return true
      }
      return false
    } finally {
      signal.removeEventListener('abort', stop)
      reader.disconnect()
    }
  }

  /** Asks the node that runs the generation to cancel it. */
  async requestCancel(id: string): Promise<void> {
    await this.publish({ type: 'cancel', id, from: this.node })
  }

  /** Tells the owner that a viewer on this node joined or left (the resume grace counts it). */
  announce(id: string, type: 'joined' | 'left'): void {
    this.publish({ type, id, from: this.node }).catch(() => {})
  }

  /** Sends what is pending (the end of generations cancelled at shutdown), then disconnects. */
  async close(): Promise<void> {
    this.closed = true
    this.subscriber.disconnect()
    await this.commands.quit().catch(() => this.commands.disconnect())
  }

  private async publish(control: Control): Promise<void> {
    await this.commands.publish(CONTROL, JSON.stringify(control))
  }

  private onControl(text: string): void {
    let control: Control
    try {
      control = JSON.parse(text) as Control
    } catch {
      return
    }
    const generation = this.local.get(control.id)
    if (generation === undefined) return
    if (control.type === 'cancel') generation.cancel('cancelled by request (through another node)')
    else if (control.type === 'joined') generation.remoteViewerJoined()
    else generation.remoteViewerLeft()
  }
}
