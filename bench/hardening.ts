// `npm run bench -- hardening`: what the costliest selectors an anonymous subscriber may send cost
// the hub (issue #21, row 3): CPU per replay and per publish, and the longest the event loop was
// blocked, at the default limits, in process (no HTTP: the work measured is the hub's own).
import type { ChildProcess } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { signToken } from '../src/hub/authorization.js'
import { Hub } from '../src/hub/hub.js'
import { MemoryStore } from '../src/hub/store/memory.js'
import { SqliteStore } from '../src/hub/store/sqlite.js'
import type { UpdateStore } from '../src/hub/store/store.js'
import { Subscriber } from '../src/hub/subscriber.js'
import { exactSelector, type TopicSelector, urlPatternSelector } from '../src/hub/topic-selector.js'
import { startStreamgate, stop } from './harness.js'

const HISTORY = Number(process.env.HARDENING_HISTORY ?? 10_000)
const directory = mkdtempSync(join(tmpdir(), 'streamgate-bench-hardening-'))

const topicOf = (index: number) =>
  index % 7 === 0
    ? `https://example.com/users/${index % 500}/inbox?since=${index}`
    : `https://example.com/${['books', 'authors', 'reviews'][index % 3]}/${index}/comments/${index % 13}`

/** The selector sets measured: what a user sends, and what an attacker may (issue's and the budget's). */
const shapes: Record<string, () => TopicSelector[]> = {
  'one exact topic': () => [exactSelector('https://example.com/books/3/comments/3')],
  'one template': () => [urlPatternSelector('https://example.com/books/:id/comments/*')],
  '15 × 1,023 "*" (the issue)': () =>
    Array.from({ length: 15 }, (_, index) => urlPatternSelector(`${'*'.repeat(1022)}${index}`)),
  '64 wildcards "*e*e…*o" (the budget)': () =>
    Array.from({ length: 8 }, (_, index) => urlPatternSelector(`${'*e'.repeat(7)}*${'o'.repeat(index + 1)}`)),
  '100 exact + 64 wildcards (both bounds)': () => [
    ...Array.from({ length: 92 }, (_, index) => exactSelector(`https://example.com/x/${index}`)),
    ...Array.from({ length: 8 }, (_, index) =>
      urlPatternSelector(`${'*e'.repeat(7)}*${'o'.repeat(index + 1)}`),
    ),
  ],
}

async function filled(store: UpdateStore): Promise<UpdateStore> {
  for (let batch = 0; batch < HISTORY; batch += 500)
    await Promise.all(
      Array.from({ length: Math.min(500, HISTORY - batch) }, (_, index) =>
        store.append({ topics: [topicOf(batch + index)], data: `update ${batch + index}`, private: false }),
      ),
    )
  return store
}

/** Wall milliseconds of `work`, and the longest stretch the event loop did not turn meanwhile. */
async function measure(work: () => Promise<unknown>): Promise<{ ms: number; blockedMs: number }> {
  let last = performance.now()
  let longest = 0
  const timer = setInterval(() => {
    const now = performance.now()
    longest = Math.max(longest, now - last)
    last = now
  }, 1)
  const started = performance.now()
  await work()
  const ms = performance.now() - started
  clearInterval(timer)
  return { ms, blockedMs: Math.max(longest, performance.now() - last) }
}

const rows: string[] = []
const coldRows: string[] = []
for (const [storeName, create] of [
  ['memory', () => new MemoryStore(HISTORY)],
  ['sqlite', () => new SqliteStore(join(directory, `hub-${Date.now()}.db`))],
] as [string, () => UpdateStore][]) {
  const hub = new Hub(await filled(create()))
  // The first replay in the process, before the matching code is optimised: what a test sees.
  const cold = await measure(() =>
    hub.subscribe(
      new Subscriber((shapes['64 wildcards "*e*e…*o" (the budget)'] as () => TopicSelector[])(), []),
      'earliest',
    ),
  )
  coldRows.push(
    `${storeName}: first replay in the process at the budget, longest block ${cold.blockedMs.toFixed(1)} ms`,
  )
  for (const [shape, build] of Object.entries(shapes)) {
    // Warm-up, then the measured replay.
    await hub.subscribe(new Subscriber(build(), []), 'earliest')
    globalThis.gc?.()
    const replay = await measure(() => hub.subscribe(new Subscriber(build(), []), 'earliest'))
    // 30 such subscribers live, then 50 publishes one after the other: the fan-out cost of each.
    const live = Array.from({ length: 30 }, () => new Subscriber(build(), []))
    for (const subscriber of live) {
      await hub.subscribe(subscriber, undefined)
      subscriber.pending = undefined
    }
    const publishes = 50
    const fanOut = await measure(async () => {
      for (let index = 0; index < publishes; index++)
        await hub.publish({ topics: [topicOf(index)], data: 'live', private: false })
      await new Promise((resolve) => setImmediate(resolve))
    })
    for (const subscriber of hub.subscribers) hub.remove(subscriber)
    rows.push(
      `| ${storeName} | ${shape} | ${replay.ms.toFixed(0)} | ${replay.blockedMs.toFixed(1)} | ${(fanOut.ms / publishes).toFixed(2)} | ${fanOut.blockedMs.toFixed(1)} |`,
    )
  }
  await hub.close()
  await hub.store.close()
}
rmSync(directory, { recursive: true, force: true })
console.log(`\nHub work per anonymous subscription, history ${HISTORY} updates (node ${process.version})\n`)
console.log(
  '| store | selectors | replay from earliest, ms | longest block, ms | publish with 30 such subscribers, ms | longest block, ms |',
)
console.log('| --- | --- | --- | --- | --- | --- |')
for (const row of rows) console.log(row)
for (const row of coldRows) console.log(row)

// Presence (issue #21, row 6): anonymous subscriptions of 100 selectors come and go for a while
// against a gateway on sqlite with --subscriptions; how large the data directory grew, and whether
// the publishers' updates published before are still in history after a restart (history is
// trimmed at start and every minute, as after a deploy).
const PRESENCE_SECONDS = Number(process.env.HARDENING_PRESENCE_SECONDS ?? 15)
const data = mkdtempSync(join(tmpdir(), 'streamgate-bench-presence-'))
const secret = 'bench-secret-of-thirty-two-bytes'
const gatewayArgs = ['--store', `sqlite:${join(data, 'hub.db')}`, '--jwt-secret', secret, '--subscriptions']
const hubOf = (port: number) => `http://127.0.0.1:${port}/.well-known/mercure`
const gateway = await startStreamgate(gatewayArgs)
const publisher = await signToken(secret, { publish: ['*'] })
for (let index = 0; index < 100; index++) {
  await fetch(hubOf(gateway.port), {
    method: 'POST',
    headers: { authorization: `Bearer ${publisher}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'topic=https://example.com/real&data=real',
  })
}
const selectors = Array.from({ length: 100 }, (_, index) => `match=https://example.com/s/${index}`).join('&')
let cycles = 0
const until = performance.now() + PRESENCE_SECONDS * 1000
await Promise.all(
  Array.from({ length: 4 }, async () => {
    while (performance.now() < until) {
      const response = await fetch(`${hubOf(gateway.port)}?${selectors}`)
      await response.body?.cancel()
      cycles++
    }
  }),
)
// The last subscriptions' presence is published as they close.
await new Promise((resolve) => setTimeout(resolve, 1000))
const megabytes =
  readdirSync(data)
    .filter((name) => name.startsWith('hub.db'))
    .reduce((total, name) => total + statSync(join(data, name)).size, 0) /
  2 ** 20
await stopped(gateway.child)
const restarted = await startStreamgate(gatewayArgs)
const replay = await fetch(`${hubOf(restarted.port)}?match=https://example.com/real`, {
  headers: { 'last-event-id': 'earliest' },
})
const reader = (replay.body as ReadableStream<Uint8Array>).getReader()
let text = ''
const readUntil = performance.now() + 2000
while (performance.now() < readUntil && (text.match(/data: real/g)?.length ?? 0) < 100) {
  const chunk = await Promise.race([
    reader.read(),
    new Promise<undefined>((resolve) => setTimeout(resolve, 500)),
  ])
  if (chunk === undefined || chunk.done === true) break
  text += new TextDecoder().decode(chunk.value)
}
await reader.cancel()
await stopped(restarted.child)
rmSync(data, { recursive: true, force: true })
console.log(
  `\nPresence: ${cycles} anonymous subscriptions of 100 selectors in ${PRESENCE_SECONDS} s (4 at a time), sqlite: hub.db* ${megabytes.toFixed(1)} MiB; after a restart, publishers' updates still in history: ${text.match(/data: real/g)?.length ?? 0} of 100`,
)

function stopped(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  stop(child)
  return exited
}
