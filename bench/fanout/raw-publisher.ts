import { connect, type Socket } from 'node:net'

/** A publish request of the fan-out benchmark, the same whether sent by fetch or by RawPublisher. */
export interface PublishRequest {
  path: string
  headers: Record<string, string>
  body: string
}

/**
 * Publishes over one keep-alive connection by writing prebuilt request bytes: what the latency
 * phase uses, so that a stamp taken just before `publish` is not followed by an HTTP client's own
 * work (fetch spent 0.5–0.7 ms between the stamp and the write after 100 ms idle: a cost of the
 * publisher, not of the server under test).
 */
export class RawPublisher {
  /** One per publish awaiting its answer, oldest first (HTTP/1.1 answers come in order). */
  private readonly waiting: ((error?: Error) => void)[] = []
  private carry = ''

  private constructor(
    private readonly socket: Socket,
    private readonly port: number,
  ) {
    socket.setNoDelay(true)
    socket.on('data', (chunk: Buffer) => this.read(chunk.toString('latin1')))
    socket.on('error', (error) => {
      for (const settle of this.waiting.splice(0)) settle(error)
    })
  }

  static async open(port: number): Promise<RawPublisher> {
    const socket = connect({ port, host: '127.0.0.1' })
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve)
      socket.once('error', reject)
    })
    return new RawPublisher(socket, port)
  }

  /** Resolves when the server answers with a 2xx status (within 5 s). */
  publish(request: PublishRequest): Promise<void> {
    let head = `POST ${request.path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\n`
    head += `Content-Length: ${Buffer.byteLength(request.body)}\r\n`
    for (const [name, value] of Object.entries(request.headers)) head += `${name}: ${value}\r\n`
    this.socket.write(`${head}\r\n${request.body}`)
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no answer to a publish within 5 s')), 5000)
      this.waiting.push((error) => {
        clearTimeout(timer)
        if (error === undefined) resolve()
        else reject(error)
      })
    })
  }

  close(): void {
    this.socket.destroy()
  }

  /** Status lines of the answers; one cut by a read boundary is completed by the next read. */
  private read(text: string): void {
    const all = this.carry + text
    const statusLine = /HTTP\/1\.1 (\d{3})/g
    let end = 0
    for (let match = statusLine.exec(all); match !== null; match = statusLine.exec(all)) {
      const status = match[1] as string
      this.waiting.shift()?.(
        status.startsWith('2') ? undefined : new Error(`a publish was answered ${status}`),
      )
      end = statusLine.lastIndex
    }
    this.carry = all.slice(Math.max(end, all.length - 12))
  }
}
