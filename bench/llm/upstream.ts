// The fake OpenAI upstream of the LLM benchmark, in a process of its own: every answer streams
// LLM_CHUNKS token chunks at full speed (one write per event, as the real API flushes them).
// LLM_UPSTREAM_TLS=1: over HTTPS with the tests' certificate for localhost and 127.0.0.1.
import { readFileSync } from 'node:fs'
import { startFakeUpstream } from '../../test/fixtures/fake-llm-upstream.js'

const pem = (name: string) => readFileSync(new URL(`../../test/fixtures/tls/${name}`, import.meta.url))
const upstream = await startFakeUpstream(
  process.env.LLM_UPSTREAM_TLS === '1'
    ? { tls: { cert: pem('localhost.crt'), key: pem('localhost.key') } }
    : {},
)
upstream.scenario.tokens = Array.from(
  { length: Number(process.env.LLM_CHUNKS ?? 500) },
  (_, index) => ` token${index}`,
)
console.log(JSON.stringify({ url: upstream.openaiUrl }))
