import { signToken } from '../../src/hub/authorization.js'
import { createParser } from '../../src/protocol/parser.js'
import type { ServerSentEvent } from '../../src/protocol/types.js'
import { TEST_SECRET } from './gateway-process.js'

export const publisherToken = (topics: string[] = ['*']) => signToken(TEST_SECRET, { publish: topics })
export const subscriberToken = (topics: string[]) => signToken(TEST_SECRET, { subscribe: topics })

/** POSTs a form-encoded update; returns the response status and body text. */
export async function publish(
  hubUrl: string,
  fields: [string, string][],
  token?: string,
): Promise<{ status: number; body: string }> {
  const response = await fetch(hubUrl, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...(token === undefined ? {} : { authorization: `Bearer ${token}` }),
    },
    body: new URLSearchParams(fields),
  })
  return { status: response.status, body: await response.text() }
}

/** A subscription read with fetch and our parser: its headers, and events as they come. */
export interface Subscription {
  response: Response
  events: ServerSentEvent[]
  /** Resolves once `count` events arrived (rejects after the timeout). */
  waitFor(count: number, timeoutMs?: number): Promise<ServerSentEvent[]>
  close(): void
}

export async function subscribe(url: string, headers: Record<string, string> = {}): Promise<Subscription> {
  const abort = new AbortController()
  const response = await fetch(url, { headers, signal: abort.signal })
  const events: ServerSentEvent[] = []
  const waiters = new Set<() => void>()
  const parser = createParser({
    onEvent: (event) => {
      events.push(event)
      for (const wake of waiters) wake()
    },
  })
  if (response.ok && response.body !== null) {
    const read = async () => {
      for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) parser.feed(chunk)
    }
    // Ends with an abort when the test closes the subscription.
    read().catch(() => {})
  }
  return {
    response,
    events,
    waitFor: (count, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          if (events.length >= count) {
            waiters.delete(check)
            clearTimeout(timer)
            resolve(events.slice(0, count))
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`expected ${count} events, got ${events.length}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      }),
    close: () => abort.abort(),
  }
}
