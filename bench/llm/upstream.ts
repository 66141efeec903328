// The fake OpenAI upstream of the LLM benchmark, in a process of its own: every answer streams
// LLM_CHUNKS token chunks at full speed (one write per event, as the real API flushes them).
import { startFakeUpstream } from '../../test/fixtures/fake-llm-upstream.js'

const upstream = await startFakeUpstream()
upstream.scenario.tokens = Array.from(
  { length: Number(process.env.LLM_CHUNKS ?? 500) },
  (_, index) => ` token${index}`,
)
console.log(JSON.stringify({ url: upstream.openaiUrl }))
