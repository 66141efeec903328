import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import os from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { signToken } from '../src/hub/authorization.js'
import { ensureNchan, startNchan } from './fanout/nchan.js'
import { type PublishRequest, RawPublisher } from './fanout/raw-publisher.js'
import {
  ask,
  deliveriesSettled,
  nodeRuntime,
  openFileLimit,
  percentile,
  pin,
  quietHubArgs,
  startChild,
  startStreamgate,
  stop,
  usage,
} from './harness.js'

/**
 * `npm run bench -- fanout`: one publisher, N subscribers over real HTTP connections on loopback,
 * held by a load client in a separate process with raw sockets. For each server: idle memory per
 * connection, publish→receive latency at 10 updates/s, and at saturation the delivered events/s and
 * the server's CPU-seconds per million deliveries (read from /proc). Sizes from FANOUT_N (default
 * 1000,10000), saturation phase from FANOUT_SECONDS (default 5).
 */
const SECRET = 'fanout-benchmark-secret-32-bytes!'
const sizes = (process.env.FANOUT_N ?? '1000,10000').split(',').map(Number)
/** FANOUT_IDLE_ONLY=1: only hold the connections and measure memory (for the largest N). */
const idleOnly = process.env.FANOUT_IDLE_ONLY === '1'
/** FANOUT_SERVERS=streamgate,nchan: only the servers whose names contain one of these words. */
const only = process.env.FANOUT_SERVERS?.split(',')
const seconds = Number(process.env.FANOUT_SECONDS ?? 5)
/**
 * FANOUT_LATENCY_SECONDS: the latency phase (default 20, 200 updates). A p99 over all deliveries
 * rests on the few slowest updates: with 50 (5 s), the same server's p99 moved by 5 ms run to run.
 */
const latencySeconds = Number(process.env.FANOUT_LATENCY_SECONDS ?? 20)
/**
 * FANOUT_WARMUP: updates published as fast as the server takes them before measuring, for a server
 * that has run a while, its hot paths compiled by the JIT (default: 1,000, or one million deliveries
 * when N is larger — a thousand updates to 10,000 subscribers take nchan two minutes).
 */
const warmupFor = (subscribers: number) =>
  Number(process.env.FANOUT_WARMUP ?? Math.min(1000, Math.ceil(1_000_000 / subscribers)))
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
/**
 * FANOUT_PIN=1: the server on CPU 0, the load client and this publisher on CPU 1. Unpinned on two
 * CPUs, Linux often runs the client on the server's CPU: each write to a socket wakes the client
 * synchronously, which pulls it onto the writer's CPU and preempts the writer, so a fan-out
 * alternates between the two processes one socket at a time while the other CPU idles (`perf sched
 * timehist`: a switch every 10–25 µs, with nchan as with streamgate). Pinned, the N=1,000 latencies
 * are the server's, not the scheduler's; at N=10,000 the client alone then fills its CPU at 10
 * updates/s, so the default leaves the processes where the scheduler puts them.
 */
const SERVER_CPU = '0'
const CLIENT_CPU = '1'
const pinned = process.env.FANOUT_PIN === '1' && os.cpus().length >= 2 && pin(process.pid, CLIENT_CPU)

interface ServerUnderTest {
  name: string
  start(): Promise<{ child: ChildProcess; port: number }>
  subscribePath: string
  /** The publish of an update carrying `data`. */
  publishRequest(data: string): PublishRequest
  /** Before the subscribers connect (a durable stream is created first). */
  prepare?(port: number): Promise<void>
  /**
   * A byte that each saturation update carries once and nothing else sent does: counted instead of
   * SSE events, for a durable stream, which sends a page of appends as one event and a control event.
   */
  countByte?: number
}

async function publish(server: ServerUnderTest, port: number, data: string): Promise<void> {
  const { path, headers, body } = server.publishRequest(data)
  const response = await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', headers, body })
  await response.arrayBuffer()
  if (!response.ok) throw new Error(`${server.name}: publish answered ${response.status}`)
}

/** What the peers take: the body is the data. */
const peerPublish = (data: string): PublishRequest => ({
  path: '/publish',
  headers: { 'content-type': 'text/plain;charset=UTF-8' },
  body: data,
})

const tsx = ['--import', 'tsx']
const token = await signToken(SECRET, { publish: ['*'] })

/**
 * FANOUT_RUNTIMES=24.22.3,26.12.1: the streamgate hub also on these Node releases, beside this
 * process's Node and against the same peers. FANOUT_PUBLIC_PATH=1: each of them also with
 * `STREAMGATE_DIRECT_WRITES=off`, every frame through ServerResponse (what the fast path saves).
 */
const runtimes = [
  { label: `Node ${process.version}`, node: process.execPath },
  ...(process.env.FANOUT_RUNTIMES?.split(',').filter(Boolean) ?? []).map((version) => ({
    label: `Node v${version}`,
    node: nodeRuntime(version),
  })),
]
const paths = [
  { label: '', env: {} },
  ...(process.env.FANOUT_PUBLIC_PATH === '1'
    ? [{ label: ', public path', env: { STREAMGATE_DIRECT_WRITES: 'off' } }]
    : []),
]

const servers: ServerUnderTest[] = [
  ...runtimes.flatMap(({ label, node }) =>
    paths.map((path) => streamgateHub(`streamgate hub, ${label}${path.label}`, { node, env: path.env })),
  ),
  peer('bare node:http', 'fanout/peer-node-http.ts'),
  peer('better-sse channel', 'fanout/peer-better-sse.ts'),
  ...(ensureNchan()
    ? [
        {
          name: 'nginx + nchan',
          start: startNchan,
          subscribePath: '/events',
          publishRequest: peerPublish,
        },
      ]
    : []),
  ...(process.env.FANOUT_EXPERIMENT ? [peer('raw socket frames', 'fanout/peer-node-socket.ts')] : []),
  durableStream('streamgate durable stream', () =>
    startStreamgate([...quietHubArgs(SECRET), '--subscriber-buffer', '64MiB', '--stream-readers', '1000000']),
  ),
  durableStream('@durable-streams/server', () =>
    startChild(
      process.execPath,
      [...tsx, here('streams/reference-server.ts')],
      (line) => JSON.parse(line).port,
      {
        ...process.env,
        STREAMS_DATA_DIR: '',
      },
    ),
  ),
]

/**
 * One Durable Streams stream (text/plain, in memory) read live over SSE by every subscriber; an
 * update is an append. The SSE response of a durable stream lasts 60 s: the phases fit in it at N=1,000.
 */
function durableStream(name: string, start: ServerUnderTest['start']): ServerUnderTest {
  return {
    name,
    start,
    subscribePath: '/v1/stream/bench?offset=now&live=sse',
    publishRequest: (data) => ({
      path: '/v1/stream/bench',
      headers: { 'content-type': 'text/plain' },
      body: data,
    }),
    async prepare(port) {
      const response = await fetch(`http://127.0.0.1:${port}/v1/stream/bench`, {
        method: 'PUT',
        headers: { 'content-type': 'text/plain' },
      })
      if (response.status !== 201) throw new Error(`${name}: PUT answered ${response.status}`)
    },
    countByte: 0x7e, // ~
  }
}

function streamgateHub(name: string, runtime: { node: string; env: NodeJS.ProcessEnv }): ServerUnderTest {
  return {
    name,
    start: () => startStreamgate([...quietHubArgs(SECRET), '--subscriber-buffer', '64MiB'], runtime),
    subscribePath: '/.well-known/mercure?topic=bench',
    publishRequest: (data) => ({
      path: '/.well-known/mercure',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ topic: 'bench', data }).toString(),
    }),
  }
}

function peer(name: string, file: string): ServerUnderTest {
  return {
    name,
    start: () => startChild(process.execPath, [...tsx, here(file)], (line) => JSON.parse(line).port),
    subscribePath: '/events',
    publishRequest: peerPublish,
  }
}

async function measure(server: ServerUnderTest, subscribers: number) {
  const { child, port } = await server.start()
  const pid = child.pid as number
  if (pinned) pin(pid, SERVER_CPU)
  await server.prepare?.(port)
  await sleep(500)
  const before = usage(pid)
  const client = fork(here('fanout/load-client.ts'), [], {
    execArgv: tsx,
    env: {
      ...process.env,
      FANOUT_PORT: String(port),
      FANOUT_PATH: server.subscribePath,
      FANOUT_SUBSCRIBERS: String(subscribers),
      ...(server.countByte === undefined ? {} : { FANOUT_COUNT_BYTE: String(server.countByte) }),
    },
  })
  if (pinned) pin(client.pid as number, CLIENT_CPU)
  await once(client, 'message')
  await sleep(Number(process.env.FANOUT_IDLE_WAIT_MS ?? 1000))
  const idle = usage(pid)
  const rssPerConnection = (idle.rssBytes - before.rssBytes) / subscribers
  if (idleOnly) {
    client.send({ type: 'stop' })
    stop(child)
    await once(child, 'exit')
    const none = Number.NaN
    return {
      server: server.name,
      subscribers,
      deliveriesPerSecond: none,
      cpuPerMillion: none,
      p1: none,
      p50: none,
      p99: none,
      samples: 0,
      latencyCpuPerMillion: none,
      clientCpuPerMillion: none,
      updates: { firstMedian: none, lastMedian: none, lastMax: none },
      rssPerConnection,
    }
  }

  // Warm-up, not measured: the first updates of a JIT-compiled server take the slow paths.
  const warmup = warmupFor(subscribers)
  for (let index = 0; index < warmup; index++) await publish(server, port, 'warm-up')
  await sleep(500)

  // Latency at a moderate, fixed rate.
  await ask(client, 'measure-latency', 'measuring')
  const latencyCpuBefore = usage(pid).cpuSeconds
  const clientCpuBefore = usage(client.pid as number).cpuSeconds
  const publisher = await RawPublisher.open(port)
  for (let index = 0; index < latencySeconds * 10; index++) {
    await publisher.publish(server.publishRequest(`t=${performance.timeOrigin + performance.now()}`))
    await sleep(100)
  }
  publisher.close()
  await sleep(500)
  const { latencies, stamps } = await ask<{ latencies: number[]; stamps: number[] }>(
    client,
    'latencies',
    'latencies',
  )
  const updates = perUpdate(latencies, stamps)
  // Each update written alone: the cost of one delivery without batching.
  const latencyCpuPerMillion = ((usage(pid).cpuSeconds - latencyCpuBefore) / latencies.length) * 1e6
  const clientCpuPerMillion =
    ((usage(client.pid as number).cpuSeconds - clientCpuBefore) / latencies.length) * 1e6

  // Saturation: publishers as fast as the server takes them, then wait for delivery to finish.
  const startCount = (await ask<{ events: number }>(client, 'count', 'count')).events
  const cpuBefore = usage(pid).cpuSeconds
  const started = performance.now()
  const deadline = started + seconds * 1000
  const payload = server.countByte === undefined ? 'x'.repeat(100) : `${'x'.repeat(99)}~`
  let published = 0
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() < deadline) {
        await publish(server, port, payload)
        published++
      }
    }),
  )
  const delivered = await deliveriesSettled(client, startCount)
  const elapsed = (performance.now() - started - 300) / 1000
  // Every subscriber takes every update: anything else is a lost or a duplicated delivery.
  if (delivered !== published * subscribers)
    console.log(`  ${server.name}: ${delivered} deliveries, expected ${published * subscribers}`)
  const cpuSeconds = usage(pid).cpuSeconds - cpuBefore

  client.send({ type: 'stop' })
  stop(child)
  await once(child, 'exit')
  return {
    server: server.name,
    subscribers,
    deliveriesPerSecond: delivered / elapsed,
    cpuPerMillion: (cpuSeconds / delivered) * 1e6,
    p1: percentile(latencies, 1),
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    samples: latencies.length,
    latencyCpuPerMillion,
    clientCpuPerMillion,
    updates,
    rssPerConnection,
  }
}

/**
 * Each update's deliveries (grouped by the update's stamp): the median update's first and last
 * delivery and the slowest update's last. A p99 over all deliveries rests on the few slowest updates.
 */
function perUpdate(latencies: number[], stamps: number[]) {
  const firsts = new Map<number, number>()
  const lasts = new Map<number, number>()
  latencies.forEach((latency, index) => {
    const stamp = stamps[index] as number
    firsts.set(stamp, Math.min(firsts.get(stamp) ?? Number.POSITIVE_INFINITY, latency))
    lasts.set(stamp, Math.max(lasts.get(stamp) ?? Number.NEGATIVE_INFINITY, latency))
  })
  const lastValues = [...lasts.values()]
  return {
    firstMedian: percentile([...firsts.values()], 50),
    lastMedian: percentile(lastValues, 50),
    lastMax: lastValues.reduce((a, b) => Math.max(a, b), Number.NEGATIVE_INFINITY),
  }
}

console.log(`fan-out benchmark — Node ${process.version}, ${os.cpus()[0]?.model}, ${os.cpus().length} cores`)
console.log(
  `warm-up ${process.env.FANOUT_WARMUP ?? 'min(1,000, 1M / N)'} updates; latency at 10 updates/s for ${latencySeconds} s; saturation with 4 concurrent publishers for ${seconds} s; ` +
    (pinned
      ? `server on CPU ${SERVER_CPU}, load client and publisher on CPU ${CLIENT_CPU}\n`
      : 'not pinned\n'),
)
const SERVER_COLUMN = Math.max(...servers.map(({ name }) => name.length))
/** Descriptors beyond the subscribers' sockets: the runtime's own, the listener, the publisher. */
const SPARE_DESCRIPTORS = 200
const openFiles = openFileLimit()
for (const subscribers of sizes) {
  // A client out of descriptors would wait forever for its last connections: say so instead.
  if (subscribers + SPARE_DESCRIPTORS > openFiles) {
    console.log(
      `N=${subscribers} skipped: the server and the load client each hold ${subscribers} sockets, and this ` +
        `process may open ${openFiles} files (ulimit -n, which npm run bench raises to ulimit -Hn)`,
    )
    continue
  }
  for (const server of servers.filter(
    (each) => only === undefined || only.some((word) => each.name.includes(word)),
  )) {
    const result = await measure(server, subscribers)
    if (idleOnly) {
      console.log(
        `N=${subscribers} ${result.server.padEnd(SERVER_COLUMN)} ${(result.rssPerConnection / 1024).toFixed(1)} KiB/idle connection`,
      )
      continue
    }
    console.log(
      `N=${subscribers} ${result.server.padEnd(SERVER_COLUMN)} ${Math.round(result.deliveriesPerSecond).toLocaleString('en').padStart(10)} deliveries/s  ` +
        `${result.cpuPerMillion.toFixed(2).padStart(6)} CPU-s per 1M  ` +
        `p1 ${result.p1.toFixed(1)} p50 ${result.p50.toFixed(1)} ms  p99 ${result.p99.toFixed(1)} ms (${result.samples} samples, ` +
        `${result.latencyCpuPerMillion.toFixed(1)} CPU-s per 1M)  ` +
        `${(result.rssPerConnection / 1024).toFixed(1)} KiB/idle connection`,
    )
    const { firstMedian, lastMedian, lastMax } = result.updates
    console.log(
      `${' '.repeat(SERVER_COLUMN + 8)}per update (${Math.round(result.samples / subscribers)}): first delivery p50 ${firstMedian.toFixed(1)} ms, ` +
        `last p50 ${lastMedian.toFixed(1)} ms, slowest last ${lastMax.toFixed(1)} ms; ` +
        `load client ${result.clientCpuPerMillion.toFixed(1)} CPU-s per 1M`,
    )
  }
}
