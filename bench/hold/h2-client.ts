// The subscribers of the `hold` benchmark: HOLD_SESSIONS HTTP/2 connections, each carrying
// HOLD_STREAMS subscriptions, as browsers multiplex their EventSources to one origin. Talks to the
// orchestrator over IPC: 'ready' once every stream has its response headers, then 'count' on demand.
import { readFileSync } from 'node:fs'
import http2, { type ClientHttp2Session } from 'node:http2'

const port = Number(process.env.HOLD_PORT)
const path = String(process.env.HOLD_PATH)
const sessionCount = Number(process.env.HOLD_SESSIONS)
const streamsPerSession = Number(process.env.HOLD_STREAMS)
const ca = readFileSync(new URL('../../test/fixtures/tls/localhost.crt', import.meta.url))
const DOUBLE_LF = 0x0a

let events = 0
let answered = 0
let failed = 0
const sessions: ClientHttp2Session[] = []

function onData(chunk: Buffer): void {
  for (let index = chunk.indexOf(DOUBLE_LF); index !== -1; index = chunk.indexOf(DOUBLE_LF, index + 1)) {
    if (chunk[index + 1] === DOUBLE_LF) events++
  }
}

function onSettled(): void {
  if (answered + failed === sessionCount * streamsPerSession)
    process.send?.({ type: 'ready', answered, failed })
}

async function openSession(): Promise<void> {
  const session = http2.connect(`https://localhost:${port}`, {
    ca,
    host: '127.0.0.1',
    // Thousands of open streams on one session: the default 10 MB budget is for a browser tab.
    maxSessionMemory: 1000,
  })
  session.on('error', () => {})
  sessions.push(session)
  // Open in steps: a burst of thousands of HEADERS frames is what a flood looks like.
  for (let opened = 0; opened < streamsPerSession; opened += 250) {
    const step = Math.min(250, streamsPerSession - opened)
    await Promise.all(
      Array.from(
        { length: step },
        () =>
          new Promise<void>((resolve) => {
            const stream = session.request({ ':path': path, accept: 'text/event-stream' })
            let settled = false
            const settle = (ok: boolean) => {
              if (settled) return
              settled = true
              if (ok) answered++
              else failed++
              onSettled()
              resolve()
            }
            stream.on('response', (headers) => settle(headers[':status'] === 200))
            stream.on('data', onData)
            stream.on('error', () => settle(false))
            stream.on('close', () => settle(false))
          }),
      ),
    )
  }
}

for (let index = 0; index < sessionCount; index++) await openSession()

process.on('message', (message: { type: string }) => {
  switch (message.type) {
    case 'count':
      process.send?.({ type: 'count', events })
      break
    case 'stop':
      for (const session of sessions) session.destroy()
      process.exit(0)
  }
})
