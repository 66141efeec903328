/** A small seeded PRNG (mulberry32) so every run and every parser sees the same bytes and chunks. */
export function random(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const encoder = new TextEncoder()

const englishTokens = [
  ' the',
  ' stream',
  ' of',
  ' tokens',
  ' is',
  ' parsed',
  ',',
  ' quickly',
  '.',
  ' and',
  '\\n',
]
// One token in five non-ASCII, as completions in other languages carry (OpenAI sends raw UTF-8).
const mixedTokens = [...englishTokens, ' café', ' 東京', ' 😀']

/** (a) An OpenAI chat.completion.chunk stream: ~230-byte JSON data lines. */
export function openAiChunks(events: number, nonAscii = false): Uint8Array {
  const next = random(1)
  const tokens = nonAscii ? mixedTokens : englishTokens
  const lines: string[] = []
  for (let index = 0; index < events; index++) {
    const token = tokens[Math.floor(next() * tokens.length)]
    lines.push(
      `data: {"id":"chatcmpl-AbC123dEf456GhI789jKl","object":"chat.completion.chunk","created":1732300000,"model":"gpt-4o-2024-08-06","system_fingerprint":"fp_90d33c15d4","choices":[{"index":0,"delta":{"content":"${token}"},"logprobs":null,"finish_reason":null}]}\n\n`,
    )
  }
  lines.push('data: [DONE]\n\n')
  return encoder.encode(lines.join(''))
}

/** (b) Many tiny events. */
export function tinyEvents(events: number): Uint8Array {
  return encoder.encode('data: x\n\n'.repeat(events))
}

/** (c) 64 KiB events written as 80-character data lines. */
export function largeEvents(events: number): Uint8Array {
  const line = `data: ${'abcdefghij'.repeat(8).slice(0, 74)}\n`
  const perEvent = Math.ceil((64 * 1024) / line.length)
  return encoder.encode(`${line.repeat(perEvent)}\n`.repeat(events))
}

/** Splits bytes into chunks of random size in [min, max], as a socket would deliver them. */
export function randomChunks(bytes: Uint8Array, min: number, max: number, seed = 7): Uint8Array[] {
  const next = random(seed)
  const chunks: Uint8Array[] = []
  for (let start = 0; start < bytes.length; ) {
    const size = min + Math.floor(next() * (max - min + 1))
    chunks.push(bytes.subarray(start, start + size))
    start += size
  }
  return chunks
}
