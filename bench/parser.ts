import { spawnSync } from 'node:child_process'
import os from 'node:os'
import { fileURLToPath } from 'node:url'
import { createParser as createParser3 } from 'eventsource-parser'
import { createParser as createParser4 } from 'eventsource-parser-4'
import { createParser } from 'streamgate/protocol'
import { largeEvents, openAiChunks, randomChunks, tinyEvents } from './corpora.js'

type Contestant = (chunks: Uint8Array[]) => number

// Every contestant returns the number of events and touches each event's data, as a consumer would.
let dataLength = 0

const streamgate: Contestant = (chunks) => {
  let count = 0
  const parser = createParser({
    onEvent: (event) => {
      count++
      dataLength += event.data.length
    },
  })
  for (const chunk of chunks) parser.feed(chunk)
  return count
}

/** The peer's cost includes the TextDecoder it needs, as in its own EventSourceParserStream. */
const peer =
  (create: typeof createParser3): Contestant =>
  (chunks) => {
    let count = 0
    const parser = create({
      onEvent: (event) => {
        count++
        dataLength += event.data.length
      },
    })
    const decoder = new TextDecoder()
    for (const chunk of chunks) parser.feed(decoder.decode(chunk, { stream: true }))
    return count
  }

const textDecoderCeiling: Contestant = (chunks) => {
  const decoder = new TextDecoder()
  for (const chunk of chunks) dataLength += decoder.decode(chunk, { stream: true }).length
  return 0
}

const indexOfCeiling: Contestant = (chunks) => {
  let lines = 0
  for (const chunk of chunks) {
    const buffer = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength)
    for (let index = buffer.indexOf(0x0a); index !== -1; index = buffer.indexOf(0x0a, index + 1)) lines++
  }
  return lines
}

const contestants: [string, Contestant][] = [
  ['streamgate', streamgate],
  ['eventsource-parser 3', peer(createParser3)],
  ['eventsource-parser 4', peer(createParser4 as typeof createParser3)],
  ['ceiling: TextDecoder only', textDecoderCeiling],
  ['ceiling: Buffer#indexOf(LF)', indexOfCeiling],
]

// Each corpus runs in a fresh process: all contestants share it, but none inherits the JIT feedback
// and heap of the corpora before it (which moved single results by up to 30%).
const corpora: [string, () => Uint8Array][] = [
  ['(a) OpenAI chunks, 100k × ~230 B, English', () => openAiChunks(100_000)],
  ["(a') the same, one token in five non-ASCII", () => openAiChunks(100_000, true)],
  ['(b) tiny events, 2M × "data: x"', () => tinyEvents(2_000_000)],
  ['(c) 64 KiB events in 80-char lines, 300', () => largeEvents(300)],
]

const RUNS = 11
const median = (values: number[]) =>
  [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number

const corpusArgument = process.env.STREAMGATE_BENCH_CORPUS
if (corpusArgument === undefined) {
  console.log(
    `parser benchmark — Node ${process.version}, ${os.cpus()[0]?.model ?? 'unknown CPU'}, ${os.cpus().length} cores`,
  )
  console.log(`chunks of 1–16 KiB; median of ${RUNS} runs after one warm-up; MB = 10^6 bytes\n`)
  for (const index of corpora.keys()) {
    const child = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
      env: { ...process.env, STREAMGATE_BENCH_CORPUS: String(index) },
      stdio: 'inherit',
    })
    if (child.status !== 0) process.exit(child.status ?? 1)
  }
} else {
  const corpus = corpora[Number(corpusArgument)]
  if (corpus === undefined) throw new Error(`no corpus ${corpusArgument}`)
  runCorpus(corpus[0], corpus[1]())
}

function runCorpus(corpusName: string, bytes: Uint8Array): void {
  const chunks = randomChunks(bytes, 1024, 16 * 1024)
  const times = new Map<string, number[]>(contestants.map(([name]) => [name, []]))
  const counts = new Map<string, number>()
  for (let run = 0; run <= RUNS; run++) {
    for (const [name, contestant] of contestants) {
      const start = process.hrtime.bigint()
      const count = contestant(chunks)
      const seconds = Number(process.hrtime.bigint() - start) / 1e9
      if (run > 0) times.get(name)?.push(seconds)
      counts.set(name, count)
    }
  }
  const expected = counts.get('eventsource-parser 3')
  if (counts.get('streamgate') !== expected || counts.get('eventsource-parser 4') !== expected) {
    throw new Error(`event counts differ on ${corpusName}: ${JSON.stringify([...counts])}`)
  }
  const mbPerSecond = (name: string) => bytes.length / 1e6 / median(times.get(name) ?? [])
  const bestPeer = Math.max(mbPerSecond('eventsource-parser 3'), mbPerSecond('eventsource-parser 4'))
  console.log(`${corpusName} — ${(bytes.length / 1e6).toFixed(1)} MB, ${expected} events`)
  for (const [name] of contestants) {
    const rate = mbPerSecond(name)
    const events = name.startsWith('ceiling')
      ? ''
      : `${((expected ?? 0) / (bytes.length / 1e6 / rate) / 1e6).toFixed(2)} M events/s`
    const ratio = name === 'streamgate' ? `  ${(rate / bestPeer).toFixed(2)}× the faster peer` : ''
    console.log(`  ${name.padEnd(28)} ${rate.toFixed(0).padStart(6)} MB/s  ${events.padStart(18)}${ratio}`)
  }
  console.log()
  if (dataLength < 0) console.log(dataLength)
}
