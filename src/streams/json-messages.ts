/**
 * JSON mode (Durable Streams PROTOCOL.md §7.1): a body is one JSON value; an array is flattened one
 * level, each element a message of its own. Messages keep the publisher's exact text (a number
 * beyond 2^53 or a key order survives), so the top-level array is split by a scan, after
 * `JSON.parse` has said the body is JSON.
 */
export class JsonBodyError extends Error {
  readonly code = 'SG_ERR_BAD_REQUEST'
}

const decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * The messages of a JSON body. `emptyArray`: what `[]` means — no message on create (a stream that
 * starts empty), an error on append (a no-op is a client's mistake).
 */
export function jsonMessages(body: Uint8Array, emptyArray: 'none' | 'refuse'): string[] {
  let text: string
  try {
    text = decoder.decode(body)
  } catch {
    throw new JsonBodyError('the body is not valid UTF-8')
  }
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    throw new JsonBodyError(`the body is not valid JSON (${(error as Error).message})`)
  }
  if (!Array.isArray(value)) return [text.trim()]
  if (value.length === 0) {
    if (emptyArray === 'refuse') throw new JsonBodyError('an empty JSON array appends nothing')
    return []
  }
  return splitArray(text)
}

const QUOTE = 34
const BACKSLASH = 92
const COMMA = 44
const OPEN_BRACKET = 91
const CLOSE_BRACKET = 93
const OPEN_BRACE = 123
const CLOSE_BRACE = 125

/** The elements of a JSON text known to be a non-empty array, each as written (trimmed). */
function splitArray(text: string): string[] {
  const elements: string[] = []
  let depth = 0
  let inString = false
  let start = -1
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (inString) {
      if (code === BACKSLASH) index++
      else if (code === QUOTE) inString = false
      continue
    }
    if (code === QUOTE) inString = true
    else if (code === OPEN_BRACKET || code === OPEN_BRACE) {
      depth++
      if (depth === 1) start = index + 1
    } else if (code === CLOSE_BRACKET || code === CLOSE_BRACE) {
      if (depth === 1) elements.push(text.slice(start, index).trim())
      depth--
    } else if (code === COMMA && depth === 1) {
      elements.push(text.slice(start, index).trim())
      start = index + 1
    }
  }
  return elements
}
