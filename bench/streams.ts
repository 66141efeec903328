// `npm run bench -- streams`: the durable streams (issue #22) against @durable-streams/server, the
// protocol's reference server, in the same run: append throughput (one producer in sequence; 50
// producers at once) of 1 KiB JSON messages, catch-up read throughput, and live fan-out to 1,000 SSE
// readers (beside the hub's fan-out). Each server is its own process; its CPU is read from /proc.
// The load runs in this process through keep-alive fetch.
import { type ChildProcess, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type RedisProcess, startRedis } from '../test/helpers/redis-server.js'
import { setup as installSystemPackages } from '../test/setup/system-packages.js'
import { startChild, startStreamgate, stop, usage } from './harness.js'

const APPENDS = Number(process.env.STREAMS_APPENDS ?? 2000)
const PRODUCERS = 50
const READ_MESSAGES = Number(process.env.STREAMS_READ_MESSAGES ?? 20_000)
installSystemPackages()
const here = (file: string) => fileURLToPath(new URL(file, import.meta.url))
const message = (index: number) => JSON.stringify({ index, text: 'x'.repeat(1000) })

interface Target {
  name: string
  /** The server, and the other processes whose CPU is its own (Redis). */
  start: (directory: string) => Promise<{ child: ChildProcess; port: number; helpers?: number[] }>
}

const reference =
  (dataDir: boolean): Target['start'] =>
  (directory) =>
    startChild(
      process.execPath,
      ['--import', 'tsx', here('./streams/reference-server.ts')],
      (line) => JSON.parse(line).port,
      {
        ...process.env,
        STREAMS_DATA_DIR: dataDir ? directory : '',
      },
    )

const targets: Target[] = [
  {
    name: 'streamgate, sqlite',
    start: (directory) =>
      startStreamgate([
        '--store',
        `sqlite:${join(directory, 'gateway.db')}`,
        '--jwt-secret',
        'bench-secret-of-thirty-two-bytes',
      ]),
  },
  { name: '@durable-streams/server, file store', start: reference(true) },
  {
    name: 'streamgate, memory',
    start: () => startStreamgate(['--store', 'memory', '--jwt-secret', 'bench-secret-of-thirty-two-bytes']),
  },
  { name: '@durable-streams/server, in memory', start: reference(false) },
  {
    // Redis as the tests run it: AOF with appendfsync always, so that an acknowledged append is on disk.
    name: 'streamgate, redis (+ its CPU)',
    async start() {
      const redis = await startRedis()
      redisServers.push(redis)
      const server = await startStreamgate([
        '--store',
        redis.url,
        '--jwt-secret',
        'bench-secret-of-thirty-two-bytes',
      ])
      return { ...server, helpers: [redis.pid] }
    },
  },
]
const redisServers: RedisProcess[] = []

async function create(base: string, path: string): Promise<void> {
  const response = await fetch(`${base}${path}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
  })
  if (response.status !== 201) throw new Error(`PUT ${path}: ${response.status}`)
}

/** Appends with producer headers, one request after the other; throws on anything but 200/204. */
async function produce(
  base: string,
  path: string,
  producer: string,
  count: number,
  first: number,
): Promise<void> {
  for (let seq = 0; seq < count; seq++) {
    const response = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'producer-id': producer,
        'producer-epoch': '0',
        'producer-seq': String(seq),
      },
      body: message(first + seq),
    })
    const answer = await response.text()
    if (response.status !== 200 && response.status !== 204)
      throw new Error(`POST: ${response.status} ${answer}`)
  }
}

/** Wall seconds and server CPU seconds of `work`. */
async function measure(pids: number[], work: () => Promise<void>): Promise<{ seconds: number; cpu: number }> {
  const cpu = () => pids.reduce((sum, pid) => sum + usage(pid).cpuSeconds, 0)
  const cpuBefore = cpu()
  const started = performance.now()
  await work()
  return { seconds: (performance.now() - started) / 1000, cpu: cpu() - cpuBefore }
}

console.log(
  `\ndurable streams benchmark — Node ${process.version}, ${cpus()[0]?.model ?? 'unknown CPU'}, ${cpus().length} cores\n` +
    `${APPENDS} appends of 1 KiB JSON messages with producer headers; catch-up of ${READ_MESSAGES} messages\n`,
)
const rows: string[] = []
for (const target of targets) {
  const directory = mkdtempSync(join(tmpdir(), 'streamgate-bench-streams-'))
  const { child, port, helpers = [] } = await target.start(directory)
  const pids = [child.pid as number, ...helpers]
  const base = `http://127.0.0.1:${port}/v1/stream`
  try {
    // Warm-up: both code paths, unmeasured.
    await create(base, '/warm')
    await produce(base, '/warm', 'w', 200, 0)
    await create(base, '/sequential')
    const sequential = await measure(pids, () => produce(base, '/sequential', 'p', APPENDS, 0))
    await create(base, '/concurrent')
    const perProducer = Math.ceil(APPENDS / PRODUCERS)
    const concurrent = await measure(pids, async () => {
      await Promise.all(
        Array.from({ length: PRODUCERS }, (_, index) =>
          produce(base, '/concurrent', `p${index}`, perProducer, index * perProducer),
        ),
      )
    })
    // Catch-up: a stream filled in batches of 100 messages, read from the start page by page.
    await create(base, '/read')
    for (let batch = 0; batch < READ_MESSAGES; batch += 100) {
      const body = `[${Array.from({ length: 100 }, (_, index) => message(batch + index)).join(',')}]`
      await (
        await fetch(`${base}/read`, { method: 'POST', headers: { 'content-type': 'application/json' }, body })
      ).arrayBuffer()
    }
    let bytes = 0
    let messages = 0
    const read = await measure(pids, async () => {
      let offset = '-1'
      for (;;) {
        const response = await fetch(`${base}/read?offset=${offset}`)
        const body = await response.text()
        bytes += Buffer.byteLength(body)
        messages += (JSON.parse(body) as unknown[]).length
        offset = response.headers.get('stream-next-offset') as string
        if (response.headers.get('stream-up-to-date') === 'true') break
      }
    })
    if (messages !== READ_MESSAGES)
      throw new Error(`${target.name}: read ${messages} of ${READ_MESSAGES} messages`)
    rows.push(
      `| ${target.name} | ${(APPENDS / sequential.seconds).toFixed(0)} | ${((sequential.cpu / APPENDS) * 1e6).toFixed(0)} | ${((perProducer * PRODUCERS) / concurrent.seconds).toFixed(0)} | ${((concurrent.cpu / (perProducer * PRODUCERS)) * 1e6).toFixed(0)} | ${(bytes / 2 ** 20 / read.seconds).toFixed(1)} |`,
    )
  } finally {
    stop(child)
    await new Promise((resolve) => child.once('exit', resolve))
    rmSync(directory, { recursive: true, force: true })
    for (const redis of redisServers.splice(0)) await redis.dispose()
  }
}
console.log(
  '| server | appends/s, 1 producer | server CPU-µs per append | appends/s, 50 producers | server CPU-µs per append | catch-up MB/s |',
)
console.log('| --- | ---: | ---: | ---: | ---: | ---: |')
for (const row of rows) console.log(row)

// Live fan-out: one stream read over SSE by 1,000 readers, beside the hub's own fan-out and the
// reference server, in the fan-out benchmark's harness (its load client, latency and saturation phases).
// STREAMS_FANOUT=0 leaves it out.
if (process.env.STREAMS_FANOUT !== '0') {
  console.log('\nlive fan-out of one durable stream to 1,000 SSE readers, beside the hub (bench/fanout.ts):')
  const fanout = spawnSync(process.execPath, ['--import', 'tsx', here('./run.ts'), 'fanout'], {
    stdio: 'inherit',
    env: {
      ...process.env,
      FANOUT_N: process.env.FANOUT_N ?? '1000',
      FANOUT_SERVERS:
        process.env.FANOUT_SERVERS ?? 'streamgate hub,streamgate durable stream,@durable-streams/server',
    },
  })
  if (fanout.status !== 0) throw new Error(`the fan-out benchmark exited with ${fanout.status}`)
}
