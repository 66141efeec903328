import { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import { Duplex } from 'node:stream'
import { setImmediate as nextTurn } from 'node:timers/promises'
import { NodeSink } from './node-sink.js'

/**
 * Whether this runtime lets HTTP/1.1 event frames go straight to the socket (NodeSink). Writing
 * each event's prebuilt chunk frame to the socket instead of through ServerResponse cut the
 * server's CPU per delivery by a third (EncodedEvent), but it rests on undocumented behaviour:
 * that once `response.writableLength` equals its socket's, the status line and headers are in the
 * socket. Node 24 changed what a response holds back (it coalesces a tick's writes), and a fast
 * path written for Node 20 put events before the headers. So the fast path is a feature test, not
 * a version check: a response on an in-memory socket goes through the sink's steps, and the bytes
 * it produced must be one well-formed HTTP/1.1 response with every event in order. Where they are
 * not, every frame goes through `response.write`. `STREAMGATE_DIRECT_WRITES=off` turns it off.
 */
export function verifyDirectWrites(): Promise<boolean> {
  verification ??= (process.env.STREAMGATE_DIRECT_WRITES === 'off' ? Promise.resolve(false) : probe()).then(
    (ok) => {
      verified = ok
      return ok
    },
  )
  return verification
}

/** The verdict, once known; false until then (streams opened meanwhile use the public path). */
export function directWritesVerified(): boolean {
  // The probe never rejects (a failure is the verdict false).
  if (verification === undefined) verifyDirectWrites().catch(() => {})
  return verified
}

let verification: Promise<boolean> | undefined
let verified = false

const OPENING = ': ok\n\n'
const SAME_TURN = 'data: written in the turn of the headers\n\n'
const LATER = ['data: written a turn later\n\n', 'data: and another\n\n']

async function probe(): Promise<boolean> {
  try {
    const socket = new RecordingSocket()
    const request = new IncomingMessage(socket as unknown as Socket)
    request.method = 'GET'
    request.httpVersionMajor = 1
    request.httpVersionMinor = 1
    request.httpVersion = '1.1'
    const response = new ServerResponse(request)
    response.assignSocket(socket as unknown as Socket)
    response.writeHead(200, { 'content-type': 'text/event-stream' })
    const sink = new NodeSink(response, true, Number.POSITIVE_INFINITY)
    sink.write(OPENING)
    sink.write(SAME_TURN)
    await nextTurn()
    for (const event of LATER) sink.write(event)
    const wentDirect = sink.writesDirect
    response.end()
    await nextTurn()
    return wentDirect && isWellFormed(Buffer.concat(socket.written), OPENING + SAME_TURN + LATER.join(''))
  } catch {
    return false
  }
}

/** A socket that keeps what is written to it. */
class RecordingSocket extends Duplex {
  readonly written: Buffer[] = []

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: () => void): void {
    this.written.push(chunk)
    callback()
  }

  override _read(): void {}
}

/** One `200` response with chunked body `body`, strictly framed, and nothing after it. */
function isWellFormed(bytes: Buffer, body: string): boolean {
  const text = bytes.toString('latin1')
  const headEnd = text.indexOf('\r\n\r\n')
  if (!text.startsWith('HTTP/1.1 200 ') || headEnd < 0) return false
  if (!/\r\ntransfer-encoding: chunked\r\n/i.test(text.slice(0, headEnd + 2))) return false
  let at = headEnd + 4
  let decoded = ''
  for (;;) {
    const lineEnd = text.indexOf('\r\n', at)
    const size = text.slice(at, lineEnd)
    if (lineEnd < 0 || !/^[0-9a-f]+$/i.test(size)) return false
    const length = Number.parseInt(size, 16)
    at = lineEnd + 2
    if (length === 0) return text.slice(at) === '\r\n' && decoded === body
    decoded += text.slice(at, at + length)
    at += length
    if (text.slice(at, at + 2) !== '\r\n') return false
    at += 2
  }
}
