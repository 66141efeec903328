import { fork } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import https from 'node:https'
import os from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { signToken } from '../src/hub/authorization.js'
import { ask, deliveriesSettled, quietHubArgs, startStreamgate, stop, usage } from './harness.js'

/**
 * `npm run bench -- hold`: many idle subscribers held by one gateway process over HTTP/2 (TLS),
 * HOLD_STREAMS subscriptions on each of HOLD_SESSIONS connections (default 50 × 1,000 = 50,000),
 * as browsers multiplex their EventSources to one origin. The fan-out bench holds one TCP connection
 * per subscriber and so stops at the machine's file-descriptor limit; here the count is bounded by
 * memory. Reports memory per held subscriber, then publishes HOLD_UPDATES updates one at a time
 * and checks that every subscriber receives every one: the time to reach all, and CPU per delivery.
 */
const SECRET = 'hold-benchmark-secret-32-bytes!!'
const sessions = Number(process.env.HOLD_SESSIONS ?? 50)
const streams = Number(process.env.HOLD_STREAMS ?? 1000)
const updates = Number(process.env.HOLD_UPDATES ?? 10)
const subscribers = sessions * streams
const tls = (name: string) => fileURLToPath(new URL(`../test/fixtures/tls/${name}`, import.meta.url))
const ca = readFileSync(tls('localhost.crt'))
const token = await signToken(SECRET, { publish: ['*'] })

function publish(port: number, data: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = https.request(
      {
        host: '127.0.0.1',
        servername: 'localhost',
        port,
        ca,
        method: 'POST',
        path: '/.well-known/mercure',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      },
      (response) => {
        response.resume()
        response.on('end', () =>
          response.statusCode === 200 ? resolve() : reject(new Error(`publish: ${response.statusCode}`)),
        )
      },
    )
    request.on('error', reject)
    request.end(new URLSearchParams({ topic: 'bench', data }).toString())
  })
}

console.log(`hold benchmark — Node ${process.version}, ${os.cpus()[0]?.model}, ${os.cpus().length} cores`)
const { child, port } = await startStreamgate([
  ...quietHubArgs(SECRET),
  '--tls-cert',
  tls('localhost.crt'),
  '--tls-key',
  tls('localhost.key'),
])
const pid = child.pid as number
await sleep(500)
const before = usage(pid)
const opening = performance.now()
const client = fork(fileURLToPath(new URL('hold/h2-client.ts', import.meta.url)), [], {
  execArgv: ['--import', 'tsx', '--max-old-space-size=8192'],
  env: {
    ...process.env,
    HOLD_PORT: String(port),
    HOLD_PATH: '/.well-known/mercure?topic=bench',
    HOLD_SESSIONS: String(sessions),
    HOLD_STREAMS: String(streams),
  },
})
const [ready] = (await once(client, 'message')) as [{ answered: number; failed: number }]
const openSeconds = (performance.now() - opening) / 1000
await sleep(2000)
const idle = usage(pid)
const perSubscriber = (idle.rssBytes - before.rssBytes) / subscribers
console.log(
  `${ready.answered.toLocaleString('en')} subscribers held on ${sessions} HTTP/2 connections ` +
    `(${ready.failed} refused), opened in ${openSeconds.toFixed(1)} s; ` +
    `server RSS ${(idle.rssBytes / 2 ** 20).toFixed(0)} MiB, ${(perSubscriber / 1024).toFixed(1)} KiB per subscriber`,
)

const startCount = (await ask<{ events: number }>(client, 'count', 'count')).events
const cpuBefore = usage(pid).cpuSeconds
const reachAll: number[] = []
for (let index = 0; index < updates; index++) {
  const sent = performance.now()
  const target = startCount + (index + 1) * subscribers
  await publish(port, `update ${index}`)
  // Poll the client until every subscriber has this update (bounded: 30 s per update).
  for (const deadline = sent + 30_000; performance.now() < deadline; await sleep(5)) {
    if ((await ask<{ events: number }>(client, 'count', 'count')).events >= target) break
  }
  reachAll.push(performance.now() - sent)
}
const delivered = await deliveriesSettled(client, startCount)
const cpuSeconds = usage(pid).cpuSeconds - cpuBefore
console.log(
  `${updates} updates: ${delivered.toLocaleString('en')} deliveries (expected ${(updates * ready.answered).toLocaleString('en')}), ` +
    `all subscribers reached in ${reachAll.map((ms) => ms.toFixed(0)).join(', ')} ms; ` +
    `${((cpuSeconds / delivered) * 1e6).toFixed(2)} CPU-s per 1M deliveries`,
)
client.send({ type: 'stop' })
stop(child)
await once(child, 'exit')
