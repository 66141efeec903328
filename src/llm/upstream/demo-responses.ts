/*
 * The demo upstream's OpenAI Responses API (`POST /responses`): the Response object, and when
 * streamed the events OpenAI sends, in its order, each with its `sequence_number` (what background
 * mode resumes from with `starting_after`).
 */

interface DemoAnswer {
  /** `resp_…`, as OpenAI's ids are. */
  id: string
  model: string
  tokens: readonly string[]
  usage: { input: number; output: number }
}

const created = () => Math.floor(Date.now() / 1000)

function outputMessage(answer: DemoAnswer, status: 'in_progress' | 'completed') {
  const text = answer.tokens.join('')
  return {
    id: messageId(answer),
    type: 'message',
    status,
    role: 'assistant',
    content: status === 'completed' ? [{ type: 'output_text', text, annotations: [], logprobs: [] }] : [],
  }
}

const messageId = (answer: DemoAnswer) => `msg_${answer.id.slice('resp_'.length)}`

/** The Response object: in progress (no output yet) or completed with the whole answer and usage. */
export function responseObject(
  answer: DemoAnswer,
  status: 'in_progress' | 'completed',
  createdAt = created(),
) {
  const done = status === 'completed'
  return {
    id: answer.id,
    object: 'response',
    created_at: createdAt,
    status,
    background: false,
    error: null,
    incomplete_details: null,
    instructions: null,
    max_output_tokens: null,
    model: answer.model,
    output: done ? [outputMessage(answer, 'completed')] : [],
    parallel_tool_calls: true,
    previous_response_id: null,
    reasoning: { effort: null, summary: null },
    store: true,
    temperature: 1,
    text: { format: { type: 'text' } },
    tool_choice: 'auto',
    tools: [],
    top_p: 1,
    truncation: 'disabled',
    usage: done
      ? {
          input_tokens: answer.usage.input,
          input_tokens_details: { cached_tokens: 0 },
          output_tokens: answer.usage.output,
          output_tokens_details: { reasoning_tokens: 0 },
          total_tokens: answer.usage.input + answer.usage.output,
        }
      : null,
    user: null,
    metadata: {},
  }
}

/** The streamed answer: `event:` and `data:` lines, sequence numbers from 0. */
export function responseEvents(answer: DemoAnswer): string[] {
  const createdAt = created()
  const item = messageId(answer)
  const text = answer.tokens.join('')
  const part = (full: string) => ({ type: 'output_text', text: full, annotations: [], logprobs: [] })
  const bodies: Record<string, unknown>[] = [
    { type: 'response.created', response: responseObject(answer, 'in_progress', createdAt) },
    { type: 'response.in_progress', response: responseObject(answer, 'in_progress', createdAt) },
    { type: 'response.output_item.added', output_index: 0, item: outputMessage(answer, 'in_progress') },
    { type: 'response.content_part.added', item_id: item, output_index: 0, content_index: 0, part: part('') },
    ...answer.tokens.map((delta) => ({
      type: 'response.output_text.delta',
      item_id: item,
      output_index: 0,
      content_index: 0,
      delta,
      logprobs: [],
    })),
    {
      type: 'response.output_text.done',
      item_id: item,
      output_index: 0,
      content_index: 0,
      text,
      logprobs: [],
    },
    {
      type: 'response.content_part.done',
      item_id: item,
      output_index: 0,
      content_index: 0,
      part: part(text),
    },
    { type: 'response.output_item.done', output_index: 0, item: outputMessage(answer, 'completed') },
    { type: 'response.completed', response: responseObject(answer, 'completed', createdAt) },
  ]
  return bodies.map(({ type, ...fields }, sequence) => {
    // In OpenAI's order: the type, the sequence number, then the event's own fields.
    const data = JSON.stringify({ type, sequence_number: sequence, ...fields })
    return `event: ${type}\ndata: ${data}\n\n`
  })
}
