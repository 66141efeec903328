import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https'
import os from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Database from 'better-sqlite3'
import { UPSTREAM_KEY } from '../test/fixtures/fake-llm-upstream.js'
import { percentile, startStreamgate, stop } from './harness.js'

/**
 * `npm run bench -- llm`: LLM_STREAMS (200) concurrent streamed chat completions of LLM_CHUNKS (500)
 * chunks each against a fake OpenAI upstream at full speed — directly, through streamgate, through
 * a naive node:http pass-through and through Portkey's gateway — in one run. streamgate runs twice:
 * on the memory store and on sqlite (the default: every generation durable), and the second is
 * compared with the first (CPU per chunk, first chunk). Per target: time to
 * the first content chunk p50/p99, chunks/s, and the proxy's CPU-seconds per million chunks (from
 * /proc). LLM_ROUNDS (5) measured rounds after LLM_WARMUP (5) unmeasured ones, the targets taking
 * turns within each round; medians are reported, ratios to direct per round.
 */
const streams = Number(process.env.LLM_STREAMS ?? 200)
/**
 * LLM_HISTORY_KB: a chat history of about this many KiB before the question (default 0), as a
 * long conversation sends with every request: what a proxy that reads the body pays per request.
 */
const historyKb = Number(process.env.LLM_HISTORY_KB ?? 0)
const history = Array.from({ length: Math.ceil(historyKb) }, (_, index) => ({
  role: index % 2 === 0 ? 'user' : 'assistant',
  content: 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(17),
}))
const requestBody = JSON.stringify({
  model: 'bench',
  stream: true,
  messages: [...history, { role: 'user', content: 'go' }],
})
const rounds = Number(process.env.LLM_ROUNDS ?? 5)
/**
 * Full rounds each target serves before anything is measured: five are 1,000 answers of ~125 KB,
 * more than streamgate keeps for resumption (64 MiB), so that what is measured is a gateway whose
 * retention is full — its steady state — rather than one still filling its memory.
 */
const warmupRounds = Number(process.env.LLM_WARMUP ?? 5)
const only = process.env.LLM_TARGETS?.split(',')
/**
 * LLM_UPSTREAM_TLS=1: the fake upstream speaks HTTPS (a certificate made for the tests), as OpenAI
 * and Anthropic are reached; the proxies trust it through NODE_EXTRA_CA_CERTS. Portkey and the
 * naive pass-through take plain HTTP only here: name the targets (LLM_TARGETS=direct,streamgate).
 */
const upstreamTls = process.env.LLM_UPSTREAM_TLS === '1'
const CA_FILE = fileURLToPath(new URL('../test/fixtures/tls/localhost.crt', import.meta.url))
const here = (path: string) => fileURLToPath(new URL(path, import.meta.url))
const tsx = ['--import', 'tsx']
const GATEWAY_KEY = 'bench-gateway-key'

interface Target {
  name: string
  /** Starts the proxy (none for direct); returns the base URL clients use (with /v1) and headers. */
  start(
    upstreamUrl: string,
  ): Promise<{ child?: ChildProcess; baseUrl: string; headers: Record<string, string> }>
}

/** Where the sqlite target keeps its file (read after the run: the bytes it stored). */
const sqliteDirectory = mkdtempSync(join(os.tmpdir(), 'streamgate-bench-llm-'))
const SQLITE_FILE = join(sqliteDirectory, 'gateway.db')

/** streamgate on a store, trusting the test certificate of the fake upstream when it speaks HTTPS. */
function streamgate(name: string, store: string): Target {
  return {
    name,
    start: async (upstreamUrl) => {
      const { child, port } = await startStreamgate(
        [
          '--store',
          store,
          '--jwt-secret',
          'llm-benchmark-secret-of-32-bytes!',
          '--upstream',
          upstreamUrl,
          '--upstream-key',
          UPSTREAM_KEY,
          '--api-key',
          GATEWAY_KEY,
        ],
        {
          node: process.execPath,
          env: { NODE_EXTRA_CA_CERTS: CA_FILE },
        },
      )
      return {
        child,
        baseUrl: `http://127.0.0.1:${port}/v1`,
        headers: { authorization: `Bearer ${GATEWAY_KEY}` },
      }
    },
  }
}

const targets: Target[] = [
  {
    name: 'direct',
    start: async (upstreamUrl) => ({
      baseUrl: upstreamUrl,
      headers: { authorization: `Bearer ${UPSTREAM_KEY}` },
    }),
  },
  streamgate('streamgate memory', 'memory'),
  streamgate('streamgate sqlite', `sqlite:${SQLITE_FILE}`),
  {
    name: 'naive node:http pass-through',
    start: async (upstreamUrl) => {
      const child = spawn(process.execPath, [...tsx, here('llm/naive-proxy.ts')], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, LLM_UPSTREAM: upstreamUrl, LLM_UPSTREAM_KEY: UPSTREAM_KEY },
      })
      const { port } = JSON.parse(await firstLine(child)) as { port: number }
      return { child, baseUrl: `http://127.0.0.1:${port}/v1`, headers: {} }
    },
  },
  {
    name: 'portkey gateway',
    start: async (upstreamUrl) => {
      const port = 18_000 + Math.floor(Math.random() * 1000)
      const child = spawn(
        process.execPath,
        [here('../node_modules/@portkey-ai/gateway/build/start-server.js'), `--port=${port}`, '--headless'],
        { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, NODE_ENV: 'production' } },
      )
      await waitForPort(port)
      return {
        child,
        baseUrl: `http://127.0.0.1:${port}/v1`,
        headers: {
          authorization: `Bearer ${UPSTREAM_KEY}`,
          'x-portkey-provider': 'openai',
          'x-portkey-custom-host': upstreamUrl,
        },
      }
    },
  },
]

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = ''
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      buffered += text
      const newline = buffered.indexOf('\n')
      if (newline !== -1) resolve(buffered.slice(0, newline))
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code}`)))
  })
}

async function waitForPort(port: number): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const ok = await fetch(`http://127.0.0.1:${port}/`).then(
      () => true,
      () => false,
    )
    if (ok) return
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`nothing listens on ${port}`)
}

function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? []
  return (Number(fields[11]) + Number(fields[12])) / 100
}

const CONTENT = Buffer.from('"delta":{"content":"')
const DOUBLE_LF = Buffer.from('\n\n')

interface StreamResult {
  firstChunkMs: number
  chunks: number
}

/**
 * One streamed completion over node:http(s): when its first content chunk came, and how many
 * events. A kept-alive connection that the server closed while the other targets took their turn
 * (Node servers close idle ones after 5 s) fails as it is reused: then once more, as Node's
 * documentation advises (`request.reusedSocket`).
 */
async function oneStream(
  agent: Agent,
  baseUrl: string,
  headers: Record<string, string>,
): Promise<StreamResult> {
  try {
    return await streamOnce(agent, baseUrl, headers)
  } catch (error) {
    if (!(error as { reused?: boolean }).reused) throw error
    return streamOnce(agent, baseUrl, headers)
  }
}

function streamOnce(agent: Agent, baseUrl: string, headers: Record<string, string>): Promise<StreamResult> {
  const body = requestBody
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const request = (baseUrl.startsWith('https:') ? httpsRequest : httpRequest)(
      `${baseUrl}/chat/completions`,
      { method: 'POST', agent, headers: { ...headers, 'content-type': 'application/json' } },
      (response) => {
        if (response.statusCode !== 200) {
          reject(new Error(`status ${response.statusCode}`))
          response.resume()
          return
        }
        let firstChunkMs = Number.NaN
        let chunks = 0
        let tail: Buffer = Buffer.alloc(0)
        response.on('data', (chunk: Buffer) => {
          // Event ends and the first content delta, also across chunk boundaries.
          const bytes = tail.length > 0 ? Buffer.concat([tail, chunk]) : chunk
          if (Number.isNaN(firstChunkMs)) {
            const at = bytes.indexOf(CONTENT)
            if (at !== -1 && bytes[at + CONTENT.length] !== 0x22) firstChunkMs = performance.now() - started
          }
          for (
            let index = bytes.indexOf(DOUBLE_LF);
            index !== -1;
            index = bytes.indexOf(DOUBLE_LF, index + 2)
          )
            chunks++
          tail = bytes.subarray(Math.max(0, bytes.length - 24))
          if (bytes.subarray(-2).equals(DOUBLE_LF)) tail = Buffer.alloc(0)
        })
        response.on('end', () => resolve({ firstChunkMs, chunks }))
        response.on('error', reject)
      },
    )
    request.on('error', (error: NodeJS.ErrnoException) =>
      reject(Object.assign(error, { reused: request.reusedSocket && error.code === 'ECONNRESET' })),
    )
    request.setTimeout(60_000, () => request.destroy(new Error('timed out')))
    request.end(body)
  })
}

async function round(agent: Agent, baseUrl: string, headers: Record<string, string>, count: number) {
  const started = performance.now()
  const results = await Promise.all(Array.from({ length: count }, () => oneStream(agent, baseUrl, headers)))
  const seconds = (performance.now() - started) / 1000
  const firsts = results.map((result) => result.firstChunkMs).sort((a, b) => a - b)
  const chunks = results.reduce((sum, result) => sum + result.chunks, 0)
  return {
    chunksPerSecond: chunks / seconds,
    chunks,
    p50: firsts[Math.floor(firsts.length * 0.5)] ?? Number.NaN,
    p99: firsts[Math.min(firsts.length - 1, Math.floor(firsts.length * 0.99))] ?? Number.NaN,
  }
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN

const upstreamChild = spawn(process.execPath, [...tsx, here('llm/upstream.ts')], {
  stdio: ['ignore', 'pipe', 'inherit'],
  env: { ...process.env, LLM_UPSTREAM_TLS: upstreamTls ? '1' : '0' },
})
const { url: upstreamUrl } = JSON.parse(await firstLine(upstreamChild)) as { url: string }

console.log(
  `LLM proxy benchmark — Node ${process.version}, ${os.cpus()[0]?.model}, ${os.cpus().length} cores`,
)
console.log(
  `${streams} concurrent streams × ${process.env.LLM_CHUNKS ?? 500} chunks, ${rounds} rounds after ${warmupRounds} unmeasured` +
    `${historyKb > 0 ? `, a ${Math.round(requestBody.length / 1024)} KiB request body` : ''}` +
    `, upstream over ${upstreamTls ? 'HTTPS' : 'plain HTTP'}\n`,
)
interface Started {
  target: Target
  child?: ChildProcess
  baseUrl: string
  headers: Record<string, string>
  agent: Agent
  failed?: string
  idle?: { p50: number; p99: number }
  rounds: Awaited<ReturnType<typeof round>>[]
  cpuSeconds: number
}

const fmt = (value: number, digits = 1) => (Number.isNaN(value) ? '—' : value.toFixed(digits))
const signed = (value: number, digits: number) => `${value >= 0 ? '+' : ''}${fmt(value, digits)}`
const started: Started[] = []
try {
  for (const target of targets.filter(
    (each) => only === undefined || only.some((word) => each.name.includes(word)),
  )) {
    const { child, baseUrl, headers } = await target.start(upstreamUrl)
    started.push({
      target,
      child,
      baseUrl,
      headers,
      agent: baseUrl.startsWith('https:')
        ? new HttpsAgent({ keepAlive: true, maxSockets: streams, ca: readFileSync(CA_FILE) })
        : new Agent({ keepAlive: true, maxSockets: streams }),
      rounds: [],
      cpuSeconds: 0,
    })
  }
  // Each target warms up, then measures one at a time; the loaded rounds then take the targets in
  // turn, so that a change in the shared machine's speed hits every target of a round alike, and
  // each target's throughput is compared with direct's of the same round.
  for (const each of started) {
    try {
      // A small round first: a target that fails, fails fast.
      await round(each.agent, each.baseUrl, each.headers, Math.min(20, streams))
      for (let index = 0; index < warmupRounds; index++)
        await round(each.agent, each.baseUrl, each.headers, streams)
    } catch (error) {
      each.failed = (error as Error).message
    }
  }
  // One stream at a time, the targets in turn: the added delay is compared request by request.
  const alone = new Map<Started, number[]>()
  for (let index = 0; index < 100; index++) {
    for (const each of started.filter((one) => one.failed === undefined)) {
      const firsts = alone.get(each) ?? []
      alone.set(each, firsts)
      firsts.push((await oneStream(each.agent, each.baseUrl, each.headers)).firstChunkMs)
    }
  }
  for (const [each, firsts] of alone) each.idle = { p50: percentile(firsts, 50), p99: percentile(firsts, 99) }
  for (let index = 0; index < rounds; index++) {
    for (const each of started.filter((one) => one.failed === undefined)) {
      const cpuBefore = each.child?.pid === undefined ? 0 : cpuSeconds(each.child.pid)
      try {
        each.rounds.push(await round(each.agent, each.baseUrl, each.headers, streams))
      } catch (error) {
        each.failed = (error as Error).message
      }
      if (each.child?.pid !== undefined) each.cpuSeconds += cpuSeconds(each.child.pid) - cpuBefore
    }
  }
  const direct = started.find((each) => each.target.name === 'direct')
  for (const each of started) {
    if (each.failed !== undefined) {
      console.log(`${each.target.name.padEnd(30)} failed: ${each.failed}`)
      continue
    }
    const chunks = each.rounds.reduce((sum, one) => sum + one.chunks, 0)
    const cpuPerMillion = each.child === undefined ? Number.NaN : (each.cpuSeconds / chunks) * 1e6
    const p50 = median(each.rounds.map((one) => one.p50))
    const p99 = median(each.rounds.map((one) => one.p99))
    const chunksPerSecond = median(each.rounds.map((one) => one.chunksPerSecond))
    console.log(
      `${each.target.name.padEnd(30)} first chunk alone p50 ${fmt(each.idle?.p50 ?? Number.NaN, 2)} ms p99 ${fmt(each.idle?.p99 ?? Number.NaN, 2)} ms; ` +
        `under load p50 ${fmt(p50)} ms p99 ${fmt(p99)} ms  ${Math.round(chunksPerSecond).toLocaleString('en')} chunks/s  ` +
        `${fmt(cpuPerMillion, 2)} proxy CPU-s per 1M chunks`,
    )
    const memory = started.find((one) => one.target.name === 'streamgate memory')
    if (each.target.name === 'streamgate sqlite' && memory !== undefined && memory.failed === undefined) {
      const memoryChunks = memory.rounds.reduce((sum, one) => sum + one.chunks, 0)
      const memoryCpu = (memory.cpuSeconds / memoryChunks) * 1e6
      console.log(
        `${''.padEnd(30)} durable vs memory: CPU per chunk ${fmt(cpuPerMillion / memoryCpu, 2)}×; ` +
          `first chunk alone p50 ${signed((each.idle?.p50 ?? 0) - (memory.idle?.p50 ?? 0), 2)} ms; ` +
          `under load p50 ${signed(p50 - median(memory.rounds.map((one) => one.p50)), 1)} ms`,
      )
    }
    if (direct === undefined || direct === each || direct.failed !== undefined) continue
    // Per round against direct's same round, then the median of the rounds.
    const ratios = each.rounds.map(
      (one, at) => one.chunksPerSecond / (direct.rounds[at]?.chunksPerSecond ?? Number.NaN),
    )
    const addedP50 = each.rounds.map((one, at) => one.p50 - (direct.rounds[at]?.p50 ?? Number.NaN))
    const addedP99 = each.rounds.map((one, at) => one.p99 - (direct.rounds[at]?.p99 ?? Number.NaN))
    console.log(
      `${''.padEnd(30)} added to the first chunk: one stream at a time p50 ${fmt((each.idle?.p50 ?? 0) - (direct.idle?.p50 ?? 0), 2)} ms, ` +
        `p99 ${fmt((each.idle?.p99 ?? 0) - (direct.idle?.p99 ?? 0), 2)} ms; under load p50 ${fmt(median(addedP50))} ms, ` +
        `p99 ${fmt(median(addedP99))} ms; throughput ${fmt(median(ratios), 2)}× direct (rounds: ${ratios.map((ratio) => ratio.toFixed(2)).join(', ')})`,
    )
  }
} finally {
  for (const each of started) {
    each.agent.destroy()
    if (each.child !== undefined) stop(each.child)
  }
  upstreamChild.kill('SIGKILL')
}
const sqliteTarget = started.find((each) => each.target.name === 'streamgate sqlite')?.child
if (sqliteTarget !== undefined && sqliteTarget.exitCode === null) await once(sqliteTarget, 'exit')
storedBytes()
rmSync(sqliteDirectory, { recursive: true, force: true })

/**
 * The sqlite file against the bytes it holds for the generations kept (which are the bytes relayed:
 * each stored event is what viewers were sent): pages in use, so the room that evictions freed is
 * not counted.
 */
function storedBytes(): void {
  let database: Database.Database
  try {
    database = new Database(SQLITE_FILE, { readonly: true, timeout: 5000 })
  } catch {
    return
  }
  try {
    const pageSize = database.pragma('page_size', { simple: true }) as number
    const pages = database.pragma('page_count', { simple: true }) as number
    const free = database.pragma('freelist_count', { simple: true }) as number
    const held = database.prepare('SELECT SUM(LENGTH(data)) AS bytes FROM stream_entries').get() as {
      bytes: number
    }
    const used = (pages - free) * pageSize
    console.log(
      `\nsqlite: ${(held.bytes / 1e6).toFixed(1)} MB of events kept in ${(used / 1e6).toFixed(1)} MB of pages in use: ` +
        `${(used / held.bytes).toFixed(2)}× the bytes relayed`,
    )
  } finally {
    database.close()
  }
}
