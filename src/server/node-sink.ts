import type { ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { chunkFrame, EncodedEvent } from './encoded-event.js'
import type { EventSink } from './event-stream.js'
import type { NodeResponse } from './json-response.js'

/**
 * The sink of a Node response. A class, not closures: its methods live once on the prototype, which
 * matters with tens of thousands of idle connections.
 *
 * HTTP/1.1 fast path (`directWrites`): once the response has handed everything it holds (status
 * line, headers, first chunk) to the socket, frames go straight to the socket, already framed as
 * chunks (see EncodedEvent). Node 24 holds a tick's writes back in the response to coalesce them,
 * so "the headers went out" is read from the buffers, not from `headersSent`; whether that reading
 * is right on this runtime is checked once per process (direct-writes.ts).
 */
export class NodeSink implements EventSink {
  /** Set once the response holds nothing of its own: from then on every frame goes to the socket. */
  private direct = false
  private wroteThroughResponse = false
  // One wait shared by every writer queued behind a full buffer: a listener pair per writer
  // would pile up on a slow client (MaxListenersExceededWarning after ten).
  private drain: { promise: Promise<void>; resolve: () => void } | undefined
  private readonly flushed = () => this.drain?.resolve()

  /**
   * @param waitAbove Buffered bytes past which writers are asked to wait. Node's high-water mark
   *   alone is not enough: since Node 22 it is 64 KiB, so with a small `maxBufferedBytes` a writer
   *   that waited whenever asked was still cut off as a slow client.
   */
  constructor(
    private readonly response: NodeResponse,
    private readonly directWrites: boolean,
    private readonly waitAbove: number,
  ) {}

  write(chunk: Uint8Array | string | EncodedEvent): boolean {
    if (this.direct || this.mayWriteDirect()) {
      const frame =
        chunk instanceof EncodedEvent
          ? chunk.chunked
          : chunkFrame(typeof chunk === 'string' ? textEncoder.encode(chunk) : chunk)
      const socket = this.response.socket as Socket
      if (socket.writableLength + frame.length < this.waitAbove) return socket.write(frame)
      // Past the mark, the frame's own flush tells the writer when to go on: the socket may never
      // emit 'drain', as it did not refuse the write.
      socket.write(frame, this.flushed)
      return false
    }
    this.wroteThroughResponse = true
    const bytes = chunk instanceof EncodedEvent ? chunk.bytes : chunk
    if (this.bufferedBytes() + bytes.length < this.waitAbove)
      return (this.response as ServerResponse).write(bytes)
    ;(this.response as ServerResponse).write(bytes, this.flushed)
    return false
  }

  /** Whether frames written from now on go straight to the socket. */
  get writesDirect(): boolean {
    return this.direct
  }

  bufferedBytes(): number {
    // Http2ServerResponse buffers in its Http2Stream; a ServerResponse's count already includes
    // its socket's buffer (where the direct writes wait).
    const response = this.response
    return 'stream' in response ? response.stream.writableLength : response.writableLength
  }

  drained(): Promise<void> {
    if (this.drain !== undefined) return this.drain.promise
    const response = this.response
    // A direct write fills the socket, a write through the response the response: either drains.
    const socket = 'stream' in response ? null : response.socket
    let resolve!: () => void
    const promise = new Promise<void>((settle) => {
      resolve = settle
    })
    const done = () => {
      socket?.off('drain', done)
      response.off('drain', done)
      response.off('close', done)
      this.drain = undefined
      resolve()
    }
    socket?.on('drain', done)
    response.on('drain', done)
    response.on('close', done)
    this.drain = { promise, resolve: done }
    return promise
  }
  end(): void {
    this.response.end()
  }

  destroy(): void {
    // Once the response is finished, the socket may already carry the client's next request.
    if (!this.response.writableFinished) (this.response as ServerResponse).destroy()
  }

  /**
   * True once the response's first write has reached its socket and nothing is left in the
   * response itself: `writableLength` counts the response's own buffer plus its socket's. The
   * socket must still be this response's (a pipelined response waits for it), and the body chunked.
   */
  private mayWriteDirect(): boolean {
    if (!this.directWrites || !this.wroteThroughResponse || 'stream' in this.response) return false
    const response = this.response
    const socket = response.socket
    if (
      socket === null ||
      (response as { chunkedEncoding?: boolean }).chunkedEncoding !== true ||
      response.writableLength !== socket.writableLength
    )
      return false
    this.direct = true
    return true
  }
}

const textEncoder = new TextEncoder()
