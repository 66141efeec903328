import type { GenerationOptions } from '../../src/llm/generation/generation.js'
import { openai } from '../../src/llm/providers/openai.js'

/** Options of a generation for unit tests: OpenAI's format, no grace, 1 MiB kept at most. */
export const testGenerationOptions: GenerationOptions = {
  provider: openai,
  model: 'm',
  keyId: 'k',
  resumeGrace: 0,
  inputEstimate: 1,
  hideUsageChunk: false,
  maxBytes: 1 << 20,
}
