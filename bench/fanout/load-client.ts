// The subscribers of the fan-out benchmark, in a process of their own: raw sockets, no HTTP client
// library, so that the client's own cost stays small. Talks to the orchestrator over IPC.
import { connect, type Socket } from 'node:net'

// FANOUT_PORTS (a comma list: several gateway nodes) spreads the subscribers over them in turn.
const ports = (process.env.FANOUT_PORTS ?? String(process.env.FANOUT_PORT)).split(',').map(Number)
const path = String(process.env.FANOUT_PATH)
const count = Number(process.env.FANOUT_SUBSCRIBERS)
const DOUBLE_LF = 0x0a

let events = 0
let measuring = false
const latencies: number[] = []
const stamps: number[] = []
const sockets: Socket[] = []
let connected = 0

/** Counts event ends ("\n\n") and, while measuring latency, reads the `t=<ms>` stamps. */
function onData(chunk: Buffer): void {
  for (let index = chunk.indexOf(DOUBLE_LF); index !== -1; index = chunk.indexOf(DOUBLE_LF, index + 1)) {
    if (chunk[index + 1] === DOUBLE_LF) events++
  }
  if (!measuring) return
  const text = chunk.toString('latin1')
  const now = performance.timeOrigin + performance.now()
  for (let index = text.indexOf('t='); index !== -1; index = text.indexOf('t=', index + 2)) {
    const stamp = Number.parseFloat(text.slice(index + 2, index + 20))
    if (Number.isFinite(stamp)) {
      latencies.push(now - stamp)
      stamps.push(stamp)
    }
  }
}

function open(index: number): void {
  // Several loopback source addresses: one has about 28,000 ephemeral ports.
  const socket = connect({
    port: ports[index % ports.length] as number,
    host: '127.0.0.1',
    localAddress: `127.0.0.${1 + (index % 4)}`,
  })
  socket.setNoDelay(true)
  let first = true
  socket.on('data', (chunk: Buffer) => {
    if (first) {
      first = false
      if (++connected === count) process.send?.({ type: 'ready' })
    }
    onData(chunk)
  })
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
      latencies.length = 0
      stamps.length = 0
      measuring = true
      process.send?.({ type: 'measuring' })
      break
    case 'latencies':
      measuring = false
      process.send?.({ type: 'latencies', latencies, stamps })
      break
    case 'stop':
      for (const socket of sockets) socket.destroy()
      process.exit(0)
  }
})
