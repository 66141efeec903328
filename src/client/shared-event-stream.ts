import type { ServerSentEvent } from '../protocol/types.js'
import { type FetchEventStreamInit, fetchEventStream } from './fetch-event-stream.js'

/** The part of the Web Locks API used here (navigator.locks). */
export interface LockManagerLike {
  request(name: string, callback: () => Promise<unknown>): Promise<unknown>
}

export interface SharedEventStreamInit extends FetchEventStreamInit {
  /** Tabs that use the same name share one connection. Default: the URL. */
  name?: string
  /** Told when this tab starts or stops holding the shared connection. */
  onRoleChange?: (role: 'leader' | 'follower') => void
  /** Defaults to `navigator.locks`. */
  locks?: LockManagerLike
  /** Defaults to the global `BroadcastChannel`. */
  BroadcastChannel?: typeof BroadcastChannel
}

/**
 * One connection per origin shared by every tab that asks for the same stream, to escape the
 * HTTP/1.1 limit of six connections per origin. The tab holding a Web Lock is the leader: it runs
 * fetchEventStream and broadcasts each event to the others over a BroadcastChannel. When it goes
 * away, its lock is released and the next tab takes over, reconnecting with the last event ID it
 * has seen, so a server that resumes from `Last-Event-ID` loses nothing in the hand-over.
 */
export function sharedEventStream(
  url: string | URL,
  init: SharedEventStreamInit = {},
): AsyncIterable<ServerSentEvent> {
  const { name = String(url), onRoleChange, locks, BroadcastChannel: Channel, ...fetchInit } = init
  return {
    [Symbol.asyncIterator]: () => {
      const lockManager = locks ?? (globalThis.navigator as { locks?: LockManagerLike } | undefined)?.locks
      const ChannelClass = Channel ?? globalThis.BroadcastChannel
      if (lockManager === undefined || ChannelClass === undefined) {
        // No way to coordinate tabs: every tab connects on its own.
        return fetchEventStream(url, fetchInit)[Symbol.asyncIterator]()
      }
      return shareConnection(url, name, fetchInit, lockManager, ChannelClass, onRoleChange)
    },
  }
}

function shareConnection(
  url: string | URL,
  name: string,
  init: FetchEventStreamInit,
  locks: LockManagerLike,
  ChannelClass: typeof BroadcastChannel,
  onRoleChange: SharedEventStreamInit['onRoleChange'],
): AsyncIterator<ServerSentEvent> {
  const channel = new ChannelClass(`streamgate:${name}`)
  const queue: ServerSentEvent[] = []
  let wake: (() => void) | undefined
  let lastEventId = init.lastEventId
  let finished = false
  let failure: unknown
  const stop = new AbortController()
  const signal = init.signal ? AbortSignal.any([init.signal, stop.signal]) : stop.signal

  const deliver = (event: ServerSentEvent) => {
    lastEventId = event.lastEventId
    queue.push(event)
    wake?.()
  }
  channel.onmessage = (message: MessageEvent<ServerSentEvent>) => deliver(message.data)
  onRoleChange?.('follower')

  const end = (error?: unknown) => {
    finished = true
    failure ??= error
    channel.close()
    wake?.()
  }
  signal.addEventListener('abort', () => end(), { once: true })

  // Queued until every earlier holder of the lock has gone; then this tab leads until it stops.
  locks
    .request(`streamgate:${name}`, async () => {
      if (signal.aborted) return
      onRoleChange?.('leader')
      for await (const event of fetchEventStream(url, { ...init, lastEventId, signal })) {
        channel.postMessage(event)
        deliver(event)
      }
    })
    .then(
      () => end(),
      (error: unknown) => end(error),
    )

  return {
    async next(): Promise<IteratorResult<ServerSentEvent>> {
      while (queue.length === 0 && !finished) {
        await new Promise<void>((resolve) => {
          wake = resolve
        })
      }
      const event = queue.shift()
      if (event !== undefined) return { value: event, done: false }
      if (failure !== undefined && !signal.aborted) throw failure
      return { value: undefined, done: true }
    },
    async return(): Promise<IteratorResult<ServerSentEvent>> {
      stop.abort()
      return { value: undefined, done: true }
    },
  }
}
