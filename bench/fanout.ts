import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import os from 'node:os'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { signToken } from '../src/hub/authorization.js'
import { ensureNchan, startNchan } from './fanout/nchan.js'
import {
  ask,
  deliveriesSettled,
  percentile,
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
 * 1000,10000), phases from FANOUT_SECONDS (default 5).
 */
const SECRET = 'fanout-benchmark-secret-32-bytes!'
const sizes = (process.env.FANOUT_N ?? '1000,10000').split(',').map(Number)
/** FANOUT_IDLE_ONLY=1: only hold the connections and measure memory (for the largest N). */
const idleOnly = process.env.FANOUT_IDLE_ONLY === '1'
/** FANOUT_SERVERS=streamgate,nchan: only the servers whose names contain one of these words. */
const only = process.env.FANOUT_SERVERS?.split(',')
const seconds = Number(process.env.FANOUT_SECONDS ?? 5)
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))

interface ServerUnderTest {
  name: string
  start(): Promise<{ child: ChildProcess; port: number }>
  subscribePath: string
  publish(port: number, data: string): Promise<void>
}

const tsx = ['--import', 'tsx']
const token = await signToken(SECRET, { publish: ['*'] })

const servers: ServerUnderTest[] = [
  {
    name: 'streamgate hub',
    start: () => startStreamgate([...quietHubArgs(SECRET), '--subscriber-buffer', '64MiB']),
    subscribePath: '/.well-known/mercure?topic=bench',
    publish: async (port, data) => {
      const response = await fetch(`http://127.0.0.1:${port}/.well-known/mercure`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ topic: 'bench', data }),
      })
      await response.arrayBuffer()
    },
  },
  peer('bare node:http', 'fanout/peer-node-http.ts'),
  peer('better-sse channel', 'fanout/peer-better-sse.ts'),
  ...(ensureNchan()
    ? [
        {
          name: 'nginx + nchan',
          start: startNchan,
          subscribePath: '/events',
          publish: async (port: number, data: string) => {
            const response = await fetch(`http://127.0.0.1:${port}/publish`, { method: 'POST', body: data })
            await response.arrayBuffer()
          },
        },
      ]
    : []),
  ...(process.env.FANOUT_EXPERIMENT ? [peer('raw socket frames', 'fanout/peer-node-socket.ts')] : []),
]

function peer(name: string, file: string): ServerUnderTest {
  return {
    name,
    start: () => startChild(process.execPath, [...tsx, here(file)], (line) => JSON.parse(line).port),
    subscribePath: '/events',
    publish: async (port, data) => {
      const response = await fetch(`http://127.0.0.1:${port}/publish`, { method: 'POST', body: data })
      await response.arrayBuffer()
    },
  }
}

async function measure(server: ServerUnderTest, subscribers: number) {
  const { child, port } = await server.start()
  const pid = child.pid as number
  await sleep(500)
  const before = usage(pid)
  const client = fork(here('fanout/load-client.ts'), [], {
    execArgv: tsx,
    env: {
      ...process.env,
      FANOUT_PORT: String(port),
      FANOUT_PATH: server.subscribePath,
      FANOUT_SUBSCRIBERS: String(subscribers),
    },
  })
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
      rssPerConnection,
    }
  }

  // Warm-up, not measured: the first updates of a JIT-compiled server take the slow paths.
  for (let index = 0; index < 20; index++) await server.publish(port, 'warm-up')
  await sleep(500)

  // Latency at a moderate, fixed rate.
  await ask(client, 'measure-latency', 'measuring')
  const latencyCpuBefore = usage(pid).cpuSeconds
  for (let index = 0; index < seconds * 10; index++) {
    await server.publish(port, `t=${performance.timeOrigin + performance.now()}`)
    await sleep(100)
  }
  await sleep(500)
  const { latencies } = await ask<{ latencies: number[] }>(client, 'latencies', 'latencies')
  // Each update written alone: the cost of one delivery without batching.
  const latencyCpuPerMillion = ((usage(pid).cpuSeconds - latencyCpuBefore) / latencies.length) * 1e6

  // Saturation: publishers as fast as the server takes them, then wait for delivery to finish.
  const startCount = (await ask<{ events: number }>(client, 'count', 'count')).events
  const cpuBefore = usage(pid).cpuSeconds
  const started = performance.now()
  const deadline = started + seconds * 1000
  const payload = 'x'.repeat(100)
  let published = 0
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() < deadline) {
        await server.publish(port, payload)
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
    rssPerConnection,
  }
}

console.log(`fan-out benchmark — Node ${process.version}, ${os.cpus()[0]?.model}, ${os.cpus().length} cores`)
console.log(`phases of ${seconds} s; latency at 10 updates/s; saturation with 4 concurrent publishers\n`)
for (const subscribers of sizes) {
  for (const server of servers.filter(
    (each) => only === undefined || only.some((word) => each.name.includes(word)),
  )) {
    const result = await measure(server, subscribers)
    if (idleOnly) {
      console.log(
        `N=${subscribers} ${result.server.padEnd(20)} ${(result.rssPerConnection / 1024).toFixed(1)} KiB/idle connection`,
      )
      continue
    }
    console.log(
      `N=${subscribers} ${result.server.padEnd(20)} ${Math.round(result.deliveriesPerSecond).toLocaleString('en').padStart(10)} deliveries/s  ` +
        `${result.cpuPerMillion.toFixed(2).padStart(6)} CPU-s per 1M  ` +
        `p1 ${result.p1.toFixed(1)} p50 ${result.p50.toFixed(1)} ms  p99 ${result.p99.toFixed(1)} ms (${result.samples} samples, ` +
        `${result.latencyCpuPerMillion.toFixed(1)} CPU-s per 1M)  ` +
        `${(result.rssPerConnection / 1024).toFixed(1)} KiB/idle connection`,
    )
  }
}
