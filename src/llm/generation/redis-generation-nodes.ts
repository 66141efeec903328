import { randomUUID } from 'node:crypto'
import { Redis } from 'ioredis'
import type { GenerationControl, GenerationNodes, ViewerChange } from './generation-nodes.js'

const CONTROL = '{sg}:gen-control'
const aliveKey = (node: string) => `{sg}:gen-node:${node}`
/** A node renews its presence this often; it is taken for gone once it has missed three. */
const HEARTBEAT_MS = 5000
const ALIVE_MS = 3 * HEARTBEAT_MS

/**
 * Gateway nodes sharing a Redis store: each keeps a key alive while it lives (so that the others
 * can tell a generation's node is gone), and cancel requests and remote viewers joining or leaving
 * travel on one pub/sub channel to the node that runs the generation.
 */
export class RedisGenerationNodes implements GenerationNodes {
  readonly id = randomUUID()
  private readonly commands: Redis
  private readonly subscriber: Redis
  private readonly heartbeat: ReturnType<typeof setInterval>
  private handler: (control: GenerationControl) => void = () => {}

  constructor(url: string) {
    const retryStrategy = (attempt: number) => Math.min(attempt * 100, 2000)
    this.commands = new Redis(url, { retryStrategy, commandTimeout: 1000, maxRetriesPerRequest: 1 })
    this.subscriber = new Redis(url, { retryStrategy })
    this.commands.on('error', () => {})
    this.subscriber.on('error', () => {})
    this.subscriber.subscribe(CONTROL).catch(() => {})
    this.subscriber.on('message', (_channel: string, text: string) => this.receive(text))
    const beat = () => {
      this.commands.set(aliveKey(this.id), '1', 'PX', ALIVE_MS).catch(() => {})
    }
    beat()
    this.heartbeat = setInterval(beat, HEARTBEAT_MS)
    this.heartbeat.unref()
  }

  /** Alive, or not known to be gone: with Redis out of reach, nothing is taken for dead. */
  async isAlive(node: string): Promise<boolean> {
    if (node === this.id) return true
    try {
      return (await this.commands.exists(aliveKey(node))) === 1
    } catch {
      return true
    }
  }

  async requestCancel(generationId: string): Promise<void> {
    await this.publish({ type: 'cancel', id: generationId })
  }

  announce(generationId: string, change: ViewerChange): void {
    this.publish({ type: change, id: generationId }).catch(() => {})
  }

  onControl(handler: (control: GenerationControl) => void): void {
    this.handler = handler
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat)
    this.subscriber.disconnect()
    await this.commands.del(aliveKey(this.id)).catch(() => {})
    await this.commands.quit().catch(() => this.commands.disconnect())
  }

  private async publish(control: GenerationControl): Promise<void> {
    await this.commands.publish(CONTROL, JSON.stringify(control))
  }

  private receive(text: string): void {
    let control: GenerationControl
    try {
      control = JSON.parse(text) as GenerationControl
    } catch {
      return
    }
    if (typeof control?.id === 'string') this.handler(control)
  }
}
