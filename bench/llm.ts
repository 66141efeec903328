import { type ChildProcess, spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { Agent, request as httpRequest } from 'node:http'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { UPSTREAM_KEY } from '../test/fixtures/fake-llm-upstream.js'
import { startStreamgate } from './harness.js'

/**
 * `npm run bench -- llm`: LLM_STREAMS (200) concurrent streamed chat completions of LLM_CHUNKS (500)
 * chunks each against a fake OpenAI upstream at full speed — directly, through streamgate, through
 * a naive node:http pass-through and through Portkey's gateway — in one run. Per target: time to
 * the first content chunk p50/p99, chunks/s, and the proxy's CPU-seconds per million chunks (from
 * /proc). LLM_ROUNDS (3) measured rounds after one warm-up round; medians are reported.
 */
const streams = Number(process.env.LLM_STREAMS ?? 200)
const rounds = Number(process.env.LLM_ROUNDS ?? 3)
const only = process.env.LLM_TARGETS?.split(',')
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

const targets: Target[] = [
  {
    name: 'direct',
    start: async (upstreamUrl) => ({
      baseUrl: upstreamUrl,
      headers: { authorization: `Bearer ${UPSTREAM_KEY}` },
    }),
  },
  {
    name: 'streamgate',
    start: async (upstreamUrl) => {
      const { child, port } = await startStreamgate([
        '--store',
        'memory',
        '--jwt-secret',
        'llm-benchmark-secret-of-32-bytes!',
        '--upstream',
        upstreamUrl,
        '--upstream-key',
        UPSTREAM_KEY,
        '--api-key',
        GATEWAY_KEY,
      ])
      return {
        child,
        baseUrl: `http://127.0.0.1:${port}/v1`,
        headers: { authorization: `Bearer ${GATEWAY_KEY}` },
      }
    },
  },
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

/** One streamed completion over node:http: when its first content chunk came, and how many events. */
function oneStream(agent: Agent, baseUrl: string, headers: Record<string, string>): Promise<StreamResult> {
  const body = JSON.stringify({ model: 'bench', stream: true, messages: [{ role: 'user', content: 'go' }] })
  const started = performance.now()
  return new Promise((resolve, reject) => {
    const request = httpRequest(
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
    request.on('error', reject)
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

/** Added latency without load: one stream at a time, so the figure is the proxy's own delay. */
async function sequential(agent: Agent, baseUrl: string, headers: Record<string, string>, count: number) {
  const firsts: number[] = []
  for (let index = 0; index < count; index++)
    firsts.push((await oneStream(agent, baseUrl, headers)).firstChunkMs)
  firsts.sort((a, b) => a - b)
  return {
    p50: firsts[Math.floor(firsts.length * 0.5)] ?? Number.NaN,
    p99: firsts[Math.min(firsts.length - 1, Math.floor(firsts.length * 0.99))] ?? Number.NaN,
  }
}

const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN

const upstreamChild = spawn(process.execPath, [...tsx, here('llm/upstream.ts')], {
  stdio: ['ignore', 'pipe', 'inherit'],
})
const { url: upstreamUrl } = JSON.parse(await firstLine(upstreamChild)) as { url: string }

console.log(
  `LLM proxy benchmark — Node ${process.version}, ${os.cpus()[0]?.model}, ${os.cpus().length} cores`,
)
console.log(
  `${streams} concurrent streams × ${process.env.LLM_CHUNKS ?? 500} chunks, ${rounds} rounds after a warm-up\n`,
)
interface TargetResult {
  name: string
  p50: number
  p99: number
  idleP50: number
  idleP99: number
  chunksPerSecond: number
  cpuPerMillion: number
}
const results: TargetResult[] = []
try {
  for (const target of targets.filter(
    (each) => only === undefined || only.some((word) => each.name.includes(word)),
  )) {
    const { child, baseUrl, headers } = await target.start(upstreamUrl)
    const agent = new Agent({ keepAlive: true, maxSockets: streams })
    try {
      await round(agent, baseUrl, headers, Math.min(20, streams))
      const idle = await sequential(agent, baseUrl, headers, 100)
      const cpuBefore = child?.pid === undefined ? 0 : cpuSeconds(child.pid)
      const measured = []
      for (let index = 0; index < rounds; index++)
        measured.push(await round(agent, baseUrl, headers, streams))
      const cpu = child?.pid === undefined ? Number.NaN : cpuSeconds(child.pid) - cpuBefore
      const chunks = measured.reduce((sum, each) => sum + each.chunks, 0)
      const result: TargetResult = {
        name: target.name,
        idleP50: idle.p50,
        idleP99: idle.p99,
        p50: median(measured.map((each) => each.p50)),
        p99: median(measured.map((each) => each.p99)),
        chunksPerSecond: median(measured.map((each) => each.chunksPerSecond)),
        cpuPerMillion: (cpu / chunks) * 1e6,
      }
      results.push(result)
      const direct = results[0]
      const added =
        direct === undefined || direct === result
          ? ''
          : `\n${''.padEnd(30)} added to the first chunk: one stream at a time p50 ${(result.idleP50 - direct.idleP50).toFixed(2)} ms, ` +
            `p99 ${(result.idleP99 - direct.idleP99).toFixed(2)} ms; under load p50 ${(result.p50 - direct.p50).toFixed(1)} ms, ` +
            `p99 ${(result.p99 - direct.p99).toFixed(1)} ms; throughput ${(result.chunksPerSecond / direct.chunksPerSecond).toFixed(2)}× direct`
      console.log(
        `${target.name.padEnd(30)} first chunk alone p50 ${result.idleP50.toFixed(2)} ms p99 ${result.idleP99.toFixed(2)} ms; ` +
          `under load p50 ${result.p50.toFixed(1)} ms p99 ${result.p99.toFixed(1)} ms  ` +
          `${Math.round(result.chunksPerSecond).toLocaleString('en')} chunks/s  ` +
          `${Number.isNaN(result.cpuPerMillion) ? '—' : result.cpuPerMillion.toFixed(2)} proxy CPU-s per 1M chunks${added}`,
      )
    } catch (error) {
      console.log(`${target.name.padEnd(30)} failed: ${(error as Error).message}`)
    } finally {
      agent.destroy()
      child?.kill('SIGKILL')
    }
  }
} finally {
  upstreamChild.kill('SIGKILL')
}
