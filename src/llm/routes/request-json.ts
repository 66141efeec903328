/** A request body's JSON, checked and rewritten without parsing it again. */

/** Whether JSON text nests deeper than `limit` (brackets outside strings): one linear scan. */
export function nestingExceeds(text: string, limit: number): boolean {
  let depth = 0
  let inString = false
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index)
    if (inString) {
      if (code === 0x5c) index++
      else if (code === 0x22) inString = false
    } else if (code === 0x22) inString = true
    else if (code === 0x5b || code === 0x7b) {
      if (++depth > limit) return true
    } else if (code === 0x5d || code === 0x7d) depth--
  }
  return false
}

/**
 * The body, in parts, with `"stream_options":{"include_usage":true}` as its first member and the
 * client's bytes otherwise as sent: a long chat history is not serialised again. The body parsed
 * as a JSON object, so its first byte that is not white space is `{`.
 */
export function withUsageRequested(body: Buffer): Buffer[] {
  const open = body.indexOf(0x7b)
  return [body.subarray(0, open + 1), USAGE_MEMBER, body.subarray(open + 1)]
}

const USAGE_MEMBER = Buffer.from('"stream_options":{"include_usage":true},')
