import type { IncomingHttpHeaders } from 'node:http'
import type { UpstreamResponse } from '../upstream/upstream.js'

/** Bytes of a non-streamed upstream answer (or an upstream error body) read at most. */
const MAX_UPSTREAM_BODY = 32 * 1024 * 1024
/** Upstream response headers the client may see; everything else (cookies, hop-by-hop) stays. */
const RELAYED_HEADER =
  /^(content-type|retry-after|x-request-id|request-id|openai-.+|anthropic-.+|x-ratelimit-.+)$/
/** Client request headers the upstream may see: never the client's key. */
const FORWARDED_HEADER = /^(content-type|accept|anthropic-version|anthropic-beta|openai-beta)$/

export function forwardedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const forwarded: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (typeof value === 'string' && FORWARDED_HEADER.test(name)) forwarded[name] = value
  }
  return forwarded
}

/**
 * The upstream headers the client may see (RELAYED_HEADER), each only if it is a value Node would
 * send: an upstream that puts a control character or a character above U+00FF in one loses that
 * header, not the answer.
 */
export function relayedHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const relayed: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (
      typeof value === 'string' &&
      RELAYED_HEADER.test(name) &&
      value.length <= MAX_RELAYED_HEADER_LENGTH &&
      !INVALID_HEADER_VALUE.test(value)
    )
      relayed[name] = value
  }
  return relayed
}

/** Characters Node refuses in a header value (its own check, `checkInvalidHeaderChar`). */
const INVALID_HEADER_VALUE = /[^\t\x20-\x7e\x80-\xff]/
const MAX_RELAYED_HEADER_LENGTH = 8192

export const isSuccess = (status: number) => Number.isInteger(status) && status >= 200 && status <= 299

/** An upstream error status the client sees as it is: 4xx and 5xx (never 1xx, 3xx or one out of range). */
export const isRelayableError = (status: number) => Number.isInteger(status) && status >= 400 && status <= 599

/**
 * Why a body cannot be relayed, if it cannot: compressed though the gateway never asks for
 * compression (the upstream sees no Accept-Encoding), or in a transfer coding other than chunked.
 */
export function unreadableBody(headers: IncomingHttpHeaders): string | undefined {
  const encoding = String(headers['content-encoding'] ?? 'identity')
    .trim()
    .toLowerCase()
  if (encoding !== 'identity')
    return `it compressed its answer (${encoding.slice(0, 40)}) though the gateway did not ask it to`
  const transfer = String(headers['transfer-encoding'] ?? 'chunked')
    .trim()
    .toLowerCase()
  if (transfer !== 'chunked')
    return `its answer is in a transfer coding the gateway does not decode (${transfer.slice(0, 40)})`
  return undefined
}

/** Why an upstream's answer could not be relayed. */
export function badAnswer(status: number, contentType: string): string {
  return isSuccess(status)
    ? `the upstream answered ${status} with ${contentType === '' ? 'no content type' : `content type ${contentType.slice(0, 100)}`}, not an event stream`
    : `the upstream answered with status ${status}, which the gateway does not relay`
}

export async function readUpstreamBody(upstream: UpstreamResponse): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of upstream.body as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size > MAX_UPSTREAM_BODY) {
      upstream.body.destroy()
      throw new Error('the upstream answer is too large')
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks)
}

/** A failure in a few words: its code when it has one. */
export function describe(error: unknown): string {
  const code = (error as { code?: unknown }).code
  return typeof code === 'string' ? code : error instanceof Error ? error.message : String(error)
}
