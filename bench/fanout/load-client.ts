// The subscribers of the fan-out benchmark, in a process of their own: raw sockets, no HTTP client
// library, so that the client's own cost stays small. Talks to the orchestrator over IPC.
//
// It allocates nothing per read: every socket reads into one shared buffer (`onread`), the bytes
// are scanned in place, and the latencies go to preallocated arrays. Its garbage collections
// otherwise stalled the reading of whole updates (25 scavenges and a 5 ms mark-compact during the
// 20 s latency phase at N=1,000), and a p99 rests on the slowest few updates.
import { connect, type Socket } from 'node:net'

// FANOUT_PORTS (a comma list: several gateway nodes) spreads the subscribers over them in turn.
const ports = (process.env.FANOUT_PORTS ?? String(process.env.FANOUT_PORT)).split(',').map(Number)
const path = String(process.env.FANOUT_PATH)
const count = Number(process.env.FANOUT_SUBSCRIBERS)
/**
 * FANOUT_COUNT_BYTE: count this byte (one per update) instead of event ends, for a server that may
 * send several updates in one event (a durable stream's page of appends).
 */
const COUNT_BYTE = Number(process.env.FANOUT_COUNT_BYTE ?? -1)
const LF = 0x0a
const T = 0x74
const EQUALS = 0x3d
const DOT = 0x2e
const ZERO = 0x30

let events = 0
let measuring = false
/** Room for 250 updates to every subscriber; doubled when a longer phase needs more. */
let latencies = new Float64Array(Math.max(1024, count * 250))
let stamps = new Float64Array(latencies.length)
let samples = 0
const sockets: Socket[] = []
let connected = 0
/** Reads are handled one at a time, each before the next: one buffer serves every socket. */
const readBuffer = Buffer.alloc(64 * 1024)

function record(latency: number, stamp: number): void {
  if (samples === latencies.length) {
    const grownLatencies = new Float64Array(latencies.length * 2)
    const grownStamps = new Float64Array(latencies.length * 2)
    grownLatencies.set(latencies)
    grownStamps.set(stamps)
    latencies = grownLatencies
    stamps = grownStamps
  }
  latencies[samples] = latency
  stamps[samples] = stamp
  samples++
}

/**
 * One subscriber's byte stream: counts event ends ("\n\n") and, while measuring latency, reads the
 * `t=<ms since the epoch>` stamps. State carries over from one read to the next, so an event or a
 * stamp cut by a read boundary still counts.
 */
class StreamScanner {
  private previous = 0
  /** Inside a stamp's digits: its value so far, and the divisor of its fraction (1 before the dot). */
  private inStamp = false
  private whole = 0
  private fraction = 0
  private divisor = 1
  private afterDot = false

  scan(bytes: Buffer, length: number, now: number): void {
    let previous = this.previous
    for (let index = 0; index < length; index++) {
      const byte = bytes[index] as number
      if (this.inStamp) {
        const digit = byte - ZERO
        if (digit >= 0 && digit <= 9) {
          if (this.afterDot) {
            this.fraction = this.fraction * 10 + digit
            this.divisor *= 10
          } else this.whole = this.whole * 10 + digit
        } else if (byte === DOT && !this.afterDot) {
          this.afterDot = true
        } else {
          this.inStamp = false
          if (measuring && this.whole > 0) {
            const stamp = this.whole + this.fraction / this.divisor
            record(now - stamp, stamp)
          }
        }
      } else if (byte === EQUALS && previous === T) {
        this.inStamp = true
        this.whole = 0
        this.fraction = 0
        this.divisor = 1
        this.afterDot = false
      }
      if (byte === LF && previous === LF) {
        if (COUNT_BYTE < 0) events++
      } else if (byte === COUNT_BYTE) events++
      previous = byte
    }
    this.previous = previous
  }
}

function open(index: number): void {
  const scanner = new StreamScanner()
  let first = true
  // Several loopback source addresses: one has about 28,000 ephemeral ports.
  const socket = connect({
    port: ports[index % ports.length] as number,
    host: '127.0.0.1',
    localAddress: `127.0.0.${1 + (index % 4)}`,
    onread: {
      buffer: readBuffer,
      callback: (length: number, bytes: Uint8Array): boolean => {
        if (first) {
          first = false
          if (++connected === count) process.send?.({ type: 'ready' })
        }
        scanner.scan(bytes as Buffer, length, performance.timeOrigin + performance.now())
        return true
      },
    },
  })
  socket.setNoDelay(true)
  socket.on('error', () => {})
  socket.write(`GET ${path} HTTP/1.1\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n`)
  sockets.push(socket)
}

// Open in small batches: a burst of thousands of SYNs overflows the listen backlog.
let opened = 0
const timer = setInterval(() => {
  for (let batch = 0; batch < 200 && opened < count; batch++, opened++) open(opened)
  if (opened >= count) clearInterval(timer)
}, 10)

process.on('message', (message: { type: string }) => {
  switch (message.type) {
    case 'count':
      process.send?.({ type: 'count', events })
      break
    case 'measure-latency':
      samples = 0
      measuring = true
      process.send?.({ type: 'measuring' })
      break
    case 'latencies':
      measuring = false
      process.send?.({
        type: 'latencies',
        latencies: Array.from(latencies.subarray(0, samples)),
        stamps: Array.from(stamps.subarray(0, samples)),
      })
      break
    case 'stop':
      for (const socket of sockets) socket.destroy()
      process.exit(0)
  }
})
