import { createHash, createHmac, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'

export interface AccessOptions {
  /** Gateway keys clients present instead of the upstream key; empty: the routes are open. */
  apiKeys: readonly string[]
  /** Requests per minute per key; 0: unlimited. */
  requestsPerMinute: number
  /** Streams open at once per key; 0: unlimited. */
  concurrentStreams: number
}

export type AccessDecision =
  | { ok: true; keyId: string; release: () => void }
  | { ok: false; status: 401 | 429; message: string; retryAfter?: number }

const WINDOW_MS = 60_000

/**
 * A key's public name in logs and metrics: a fingerprint, never the key. Keyed by all the keys
 * together: a plain hash of one key let a weak key be found from `/metrics` with a word list; this
 * one cannot be checked without every key, and stays the same across restarts and nodes that have
 * the same keys.
 */
export const keyId = (key: string, allKeys: readonly string[]): string => {
  const secret = createHash('sha256')
    .update([...allKeys].sort().join('\n'))
    .digest()
  return `key_${createHmac('sha256', secret).update(key).digest('hex').slice(0, 12)}`
}

/**
 * Who may use the LLM routes, and how much: gateway keys from `Authorization: Bearer` or
 * `x-api-key`, a fixed one-minute window of requests and a count of open streams per key.
 */
export class Access {
  private readonly keys: { digest: Buffer; id: string }[]
  private readonly windows = new Map<string, { start: number; count: number }>()
  private readonly open = new Map<string, number>()

  constructor(private readonly options: AccessOptions) {
    this.keys = options.apiKeys.map((key) => ({ digest: digest(key), id: keyId(key, options.apiKeys) }))
  }

  /** Checks the key and the limits; on success the caller holds a stream slot until `release`. */
  admit(headers: IncomingHttpHeaders, now = Date.now()): AccessDecision {
    const id = this.identify(headers)
    if (id === undefined) {
      return {
        ok: false,
        status: 401,
        message: 'a valid gateway key is required (Authorization: Bearer <key> or x-api-key)',
      }
    }
    const { requestsPerMinute, concurrentStreams } = this.options
    let window = this.windows.get(id)
    if (window === undefined || now - window.start >= WINDOW_MS) {
      window = { start: now, count: 0 }
      this.windows.set(id, window)
    }
    if (requestsPerMinute > 0 && window.count >= requestsPerMinute) {
      return {
        ok: false,
        status: 429,
        message: `this key is limited to ${requestsPerMinute} requests per minute`,
        retryAfter: Math.max(1, Math.ceil((window.start + WINDOW_MS - now) / 1000)),
      }
    }
    const open = this.open.get(id) ?? 0
    if (concurrentStreams > 0 && open >= concurrentStreams) {
      return {
        ok: false,
        status: 429,
        message: `this key is limited to ${concurrentStreams} requests at once`,
        retryAfter: 1,
      }
    }
    // Only admitted requests count against the minute.
    window.count++
    this.open.set(id, open + 1)
    let released = false
    return {
      ok: true,
      keyId: id,
      release: () => {
        if (released) return
        released = true
        const left = (this.open.get(id) ?? 1) - 1
        if (left === 0) this.open.delete(id)
        else this.open.set(id, left)
      },
    }
  }

  /** The presented key's id (`open` when no keys are configured), undefined without a valid key. */
  identify(headers: IncomingHttpHeaders): string | undefined {
    if (this.keys.length === 0) return 'open'
    const bearer = /^Bearer\s+(.+)$/i.exec(headers.authorization ?? '')?.[1]
    const presented = bearer ?? (typeof headers['x-api-key'] === 'string' ? headers['x-api-key'] : undefined)
    if (presented === undefined) return undefined
    const presentedDigest = digest(presented.trim())
    // Compare digests in constant time: the key's bytes never steer a branch.
    return this.keys.find((key) => timingSafeEqual(key.digest, presentedDigest))?.id
  }
}

const digest = (key: string): Buffer => createHash('sha256').update(key).digest()
