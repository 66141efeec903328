import { randomBytes } from 'node:crypto'
import { EncodedEvent } from '../server/encoded-event.js'
import type { EventStream } from '../server/event-stream.js'
import { estimateTokens, eventJson, type Provider, type Usage } from './provider.js'

export type GenerationState = 'streaming' | 'completed' | 'failed' | 'cancelled'

export interface GenerationOptions {
  provider: Provider
  model: string
  /** The gateway key that started it (its fingerprint, never the key). */
  keyId: string
  /** Milliseconds the upstream keeps going after the last viewer left; 0 cancels at once. */
  resumeGrace: number
  /** Tokens of the request, estimated, for when the upstream reports no usage. */
  inputEstimate: number
  /** The upstream was asked for usage on the client's behalf: its usage-only chunk is not relayed. */
  hideUsageChunk: boolean
  /** Bytes of events kept at most; past it the generation fails (a runaway upstream). */
  maxBytes: number
  onFinish?: (generation: Generation) => void
}

/**
 * One streamed completion: the upstream's events, each with an `id:` line, kept for as long as the
 * generation is retained, and written to every viewer — the response that started it and any
 * number of later ones (a reload, another tab) that join from a `Last-Event-ID`. Event n (from 1)
 * has id `n`.
 */
export class Generation {
  readonly id = `gen_${randomBytes(16).toString('base64url')}`
  readonly createdAt = Date.now()
  readonly upstream = new AbortController()
  readonly events: EncodedEvent[] = []
  state: GenerationState = 'streaming'
  firstOutputAt: number | undefined
  finishedAt: number | undefined
  error: string | undefined
  /** Resolves when the generation has completed, failed or been cancelled. */
  readonly ended: Promise<void>
  private resolveEnded: () => void = () => {}
  private bytes = 0
  private reported: Partial<Omit<Usage, 'estimated'>> = {}
  private readonly viewers = new Set<EventStream>()
  private graceTimer: ReturnType<typeof setTimeout> | undefined

  constructor(readonly options: GenerationOptions) {
    this.ended = new Promise((resolve) => {
      this.resolveEnded = resolve
    })
  }

  get provider(): Provider {
    return this.options.provider
  }

  get model(): string {
    return this.options.model
  }

  get viewerCount(): number {
    return this.viewers.size
  }

  /** Relays one whole upstream event (as received, with its blank line) to every viewer. */
  relay(event: Buffer): void {
    if (this.state !== 'streaming') return
    const { provider } = this.options
    if (this.firstOutputAt === undefined && provider.isOutput(event)) this.firstOutputAt = Date.now()
    if (provider.mayCarryUsage(event)) {
      const data = eventJson(event.toString('utf8'))
      const usage = provider.usageOf(data)
      if (usage !== undefined) this.reported = { ...this.reported, ...definedOnly(usage) }
      if (this.options.hideUsageChunk && isUsageOnlyChunk(data)) return
    }
    const head = `id: ${this.events.length + 1}\n`
    const bytes = Buffer.allocUnsafe(head.length + event.length)
    bytes.write(head, 0, 'latin1')
    event.copy(bytes, head.length)
    const encoded = new EncodedEvent(bytes)
    this.events.push(encoded)
    this.bytes += bytes.length
    for (const viewer of this.viewers) void viewer.write(encoded)
    if (provider.isErrorEvent(event)) this.finish('failed', 'the upstream sent an error event')
    else if (this.bytes > this.options.maxBytes) {
      this.relayError('streamgate_error', 'the generation exceeded the size the gateway keeps')
      this.finish('failed', 'too large')
    }
  }

  /** A failure of our own (the upstream connection broke): the provider's error event, then the end. */
  fail(message: string): void {
    if (this.state !== 'streaming') return
    this.relayError('api_error', message)
    this.finish('failed', message)
  }

  cancel(reason: string): void {
    if (this.state !== 'streaming') return
    this.upstream.abort()
    this.finish('cancelled', reason)
  }

  /** The upstream ended its stream. */
  complete(): void {
    this.finish('completed')
  }

  /** Sends the events after `afterId` (0: all), then the live ones until the generation ends. */
  attach(stream: EventStream, afterId: number): void {
    for (const event of this.events.slice(afterId)) void stream.write(event)
    if (this.state !== 'streaming') {
      stream.close()
      return
    }
    clearTimeout(this.graceTimer)
    this.graceTimer = undefined
    this.viewers.add(stream)
    void stream.closed.then(() => this.detach(stream))
  }

  /** The text of the answer so far, read from the kept events. */
  text(): string {
    let text = ''
    for (const event of this.events)
      text += this.provider.textOf(eventJson(Buffer.from(event.bytes).toString('utf8')))
    return text
  }

  /** Usage as the upstream reported it, or estimated (and marked so) where it did not. */
  usage(): Usage {
    const { inputTokens, outputTokens } = this.reported
    return {
      inputTokens: inputTokens ?? this.options.inputEstimate,
      outputTokens: outputTokens ?? estimateTokens(this.text()),
      estimated: inputTokens === undefined || outputTokens === undefined,
    }
  }

  /** No viewer is watching (the client that asked left before its stream started): the grace starts. */
  unwatched(): void {
    if (this.viewers.size > 0 || this.state !== 'streaming' || this.graceTimer !== undefined) return
    const grace = this.options.resumeGrace
    if (grace === 0) {
      this.cancel('no viewer left')
      return
    }
    this.graceTimer = setTimeout(() => this.cancel('no viewer came back within the resume grace'), grace)
    this.graceTimer.unref()
  }

  private detach(stream: EventStream): void {
    this.viewers.delete(stream)
    this.unwatched()
  }

  private relayError(type: string, message: string): void {
    const event = Buffer.from(this.provider.errorEvent(type, message))
    const head = `id: ${this.events.length + 1}\n`
    const encoded = new EncodedEvent(Buffer.concat([Buffer.from(head), event]))
    this.events.push(encoded)
    for (const viewer of this.viewers) void viewer.write(encoded)
  }

  private finish(state: GenerationState, error?: string): void {
    if (this.state !== 'streaming') return
    this.state = state
    this.error = error
    this.finishedAt = Date.now()
    clearTimeout(this.graceTimer)
    for (const viewer of this.viewers) viewer.close()
    this.viewers.clear()
    this.resolveEnded()
    this.options.onFinish?.(this)
  }
}

const definedOnly = <T extends object>(value: T): Partial<T> =>
  Object.fromEntries(Object.entries(value).filter(([, each]) => each !== undefined)) as Partial<T>

/** OpenAI's last chunk when usage was asked for: no choices, only usage. */
function isUsageOnlyChunk(data: unknown): boolean {
  const chunk = data as { choices?: unknown[]; usage?: unknown } | undefined
  return Array.isArray(chunk?.choices) && chunk.choices.length === 0 && typeof chunk.usage === 'object'
}
