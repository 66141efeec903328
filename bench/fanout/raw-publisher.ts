import { connect, type Socket } from 'node:net'

/** A publish request of the fan-out benchmark, the same whether sent by fetch or by RawPublisher. */
export interface PublishRequest {
  path: string
  headers: Record<string, string>
  body: string
}

/**
 * Publishes over one keep-alive connection by writing prebuilt request bytes: what the latency
 * phase uses, so that a stamp taken just before `send` is not followed by an HTTP client's own work
 * (fetch spent 0.1–0.5 ms between the stamp and the write, more for a request with more headers —
 * a cost of the publisher, not of the server under test). Responses are only counted and checked.
 */
export class RawPublisher {
  private answered = 0
  private readonly failures: string[] = []
  private carry = ''

  private constructor(
    private readonly socket: Socket,
    private readonly port: number,
  ) {
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.read(chunk.toString('latin1')))
    socket.on('error', (error) => this.failures.push(error.message))
  }

  static async open(port: number): Promise<RawPublisher> {
    const socket = connect({ port, host: '127.0.0.1' })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new RawPublisher(socket, port)
  }

  send(request: PublishRequest): void {
    let head = `POST ${request.path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n`
    head += `Content-Length: ${Buffer.byteLength(request.body)}\r\n`
    for (const [name, value] of Object.entries(request.headers)) head += `${name}: ${value}\r\n`
    this.socket.write(`${head}\r\n${request.body}`)
  }

  /** Waits (at most 5 s) for `sent` answers, closes, and throws if any was not a 2xx. */
  async close(sent: number): Promise<void> {
    const deadline = performance.now() + 5000
    while (this.answered < sent && this.failures.length === 0 && performance.now() < deadline)
      await new Promise((resolve) => setTimeout(resolve, 10))
    this.socket.destroy()
    if (this.failures.length > 0) throw new Error(`publish failed: ${this.failures.join('; ')}`)
    if (this.answered < sent) throw new Error(`${sent - this.answered} of ${sent} publishes unanswered`)
  }

  /** Status lines in the answers; a status line cut by a read boundary is completed by the next. */
  private read(text: string): void {
    const all = this.carry + text
    const statusLine = /HTTP\/1\.1 (\d{3})/g
    let end = 0
    for (let match = statusLine.exec(all); match !== null; match = statusLine.exec(all)) {
      this.answered++
      if (!match[1]?.startsWith('2')) this.failures.push(`status ${match[1]}`)
      end = statusLine.lastIndex
    }
    this.carry = all.slice(Math.max(end, all.length - 12))
  }
}
