import { type ChildProcess, fork, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { connect } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { signToken } from '../src/hub/authorization.js'
import { RedisStore } from '../src/hub/store/redis.js'
import { freePort } from '../test/helpers/redis-server.js'
import { setup as installSystemPackages, REDIS_SERVER } from '../test/setup/system-packages.js'
import { ask, deliveriesSettled, percentile, startStreamgate, usage } from './harness.js'

/**
 * `npm run bench -- cluster`: CLUSTER_N (3,000) subscribers spread over three gateway nodes sharing
 * one redis-server, the publisher writing to the nodes in turn — so most deliveries cross nodes —
 * against the same load on one node with the sqlite store, in the same run. Per setup:
 * publish→receive latency p50/p99 at 10 updates/s, delivered events/s at saturation (4 concurrent
 * publishers) and the CPU-seconds of all the setup's processes (gateways and Redis) per million
 * deliveries. Phases of CLUSTER_SECONDS (3).
 */
const SECRET = 'cluster-benchmark-secret-32-byte!'
const subscribers = Number(process.env.CLUSTER_N ?? 3000)
const seconds = Number(process.env.CLUSTER_SECONDS ?? 3)
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const token = await signToken(SECRET, { publish: ['*'] })

installSystemPackages()
const directory = mkdtempSync(join(os.tmpdir(), 'streamgate-cluster-bench-'))

async function startRedis(): Promise<{ child: ChildProcess; url: string }> {
  const port = await freePort()
  const child = spawn(
    REDIS_SERVER,
    ['--port', String(port), '--bind', '127.0.0.1', '--dir', directory, '--appendonly', 'yes', '--save', ''],
    { stdio: 'ignore' },
  )
  for (let attempt = 0; attempt < 100; attempt++) {
    const up = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1')
      socket.once('connect', () => resolve(socket.destroy() !== undefined))
      socket.once('error', () => resolve(false))
    })
    if (up) return { child, url: `redis://127.0.0.1:${port}` }
    await sleep(50)
  }
  throw new Error('redis-server did not start')
}

function startNode(store: string) {
  return startStreamgate([
    '--store',
    store,
    '--jwt-secret',
    SECRET,
    '--heartbeat',
    '3600',
    '--subscriber-buffer',
    '64MiB',
  ])
}

async function publish(port: number, data: string): Promise<void> {
  const response = await fetch(`http://127.0.0.1:${port}/.well-known/mercure`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ topic: 'bench', data }),
  })
  await response.arrayBuffer()
}

async function measure(name: string, ports: number[], pids: number[]) {
  const cpu = () => pids.reduce((sum, pid) => sum + usage(pid).cpuSeconds, 0)
  const client = fork(here('fanout/load-client.ts'), [], {
    execArgv: ['--import', 'tsx'],
    env: {
      ...process.env,
      FANOUT_PORTS: ports.join(','),
      FANOUT_PATH: '/.well-known/mercure?topic=bench',
      FANOUT_SUBSCRIBERS: String(subscribers),
    },
  })
  await once(client, 'message')
  await sleep(1000)
  let turn = 0
  const nextPort = () => ports[turn++ % ports.length] as number
  for (let index = 0; index < 20; index++) await publish(nextPort(), 'warm-up')
  await sleep(500)

  await ask(client, 'measure-latency', 'measuring')
  for (let index = 0; index < seconds * 10; index++) {
    await publish(nextPort(), `t=${performance.timeOrigin + performance.now()}`)
    await sleep(100)
  }
  await sleep(500)
  const { latencies } = await ask<{ latencies: number[] }>(client, 'latencies', 'latencies')

  const startCount = (await ask<{ events: number }>(client, 'count', 'count')).events
  const cpuBefore = cpu()
  const started = performance.now()
  const deadline = started + seconds * 1000
  const payload = 'x'.repeat(100)
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (performance.now() < deadline) await publish(nextPort(), payload)
    }),
  )
  const delivered = await deliveriesSettled(client, startCount)
  const elapsed = (performance.now() - started - 300) / 1000
  const cpuSeconds = cpu() - cpuBefore
  client.send({ type: 'stop' })
  await once(client, 'exit')
  console.log(
    `${name.padEnd(34)} p50 ${percentile(latencies, 50).toFixed(1)} ms  p99 ${percentile(latencies, 99).toFixed(1)} ms ` +
      `(${latencies.length} samples)  ${Math.round(delivered / elapsed).toLocaleString('en')} deliveries/s  ` +
      `${((cpuSeconds / delivered) * 1e6).toFixed(2)} CPU-s per 1M deliveries`,
  )
}

/** What one Redis takes: appends per second through the store from this process, 64 in flight. */
async function storeCeiling(url: string): Promise<void> {
  const store = new RedisStore(url)
  await store.newestSequence()
  const deadline = performance.now() + seconds * 1000
  let appended = 0
  let refused = 0
  const started = performance.now()
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (performance.now() < deadline) {
        // A command slower than the store's 1 s timeout is refused (503 at the HTTP level).
        await store.append({ topics: ['ceiling'], data: 'x'.repeat(100), private: false }).then(
          () => appended++,
          () => refused++,
        )
      }
    }),
  )
  const rate = appended / ((performance.now() - started) / 1000)
  await store.close()
  console.log(
    `${'Redis store ceiling'.padEnd(34)} ${Math.round(rate).toLocaleString('en')} appends/s (one client, 64 in flight)`,
  )
}

console.log(`cluster benchmark — Node ${process.version}, ${os.cpus()[0]?.model}, ${os.cpus().length} cores`)
console.log(
  `${subscribers} subscribers; latency at 10 updates/s, saturation with 4 publishers, phases of ${seconds} s\n`,
)
const children: ChildProcess[] = []
try {
  const redis = await startRedis()
  children.push(redis.child)
  const cluster = await Promise.all([1, 2, 3].map(() => startNode(redis.url)))
  children.push(...cluster.map((node) => node.child))
  await measure(
    '3 nodes + Redis (publish round-robin)',
    cluster.map((node) => node.port),
    [redis.child, ...cluster.map((node) => node.child)].map((child) => child.pid as number),
  )
  await storeCeiling(redis.url)
  for (const child of children.splice(0)) child.kill('SIGKILL')
  const single = await startNode(`sqlite:${join(directory, 'single.db')}`)
  children.push(single.child)
  await measure('1 node + sqlite', [single.port], [single.child.pid as number])
} finally {
  for (const child of children) child.kill('SIGKILL')
  rmSync(directory, { recursive: true, force: true })
}
