import { Cluster, type ClusterNode, Redis, type RedisOptions } from 'ioredis'

/**
 * How every part of the gateway talks to Redis (the hub's updates, the durable streams): one
 * policy. Connections reconnect forever, backing off to 2 s. A `commands` connection never queues
 * or re-sends: while Redis is down a command fails at once, or after one second without an answer,
 * so that a write is refused promptly instead of waiting. A `reader` (blocking reads, pub/sub)
 * waits for Redis as long as it takes.
 */
export interface RedisConnectionOptions {
  /** More ioredis options (TLS, Sentinel with `sentinels` and `name`, passwords); the URL's come first. */
  redis?: RedisOptions
  /** A Redis Cluster: its seed nodes (the URL is then ignored). */
  cluster?: ClusterNode[]
}

export type RedisConnection = Redis | Cluster

export function connectRedis(
  url: string,
  role: 'commands' | 'reader',
  options: RedisConnectionOptions = {},
): RedisConnection {
  const common: RedisOptions = {
    retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
    ...options.redis,
    ...(role === 'commands'
      ? { enableOfflineQueue: false, commandTimeout: 1000, maxRetriesPerRequest: 0 }
      : { maxRetriesPerRequest: null }),
  }
  const connection =
    options.cluster === undefined
      ? new Redis(url, common)
      : new Cluster(options.cluster, {
          enableOfflineQueue: common.enableOfflineQueue ?? true,
          redisOptions: common,
        })
  // Errors surface on the commands that fail; the connection's own events only say it retries.
  connection.on('error', () => {})
  return connection
}

/** Whether a failed command was never sent (no offline queue): nothing it asked for happened. */
export function neverSent(error: unknown): boolean {
  return /enableOfflineQueue/.test(error instanceof Error ? error.message : '')
}

/** A failed command's reason, as a refusal states it: "Redis is not reachable" for every way of not reaching it. */
export function failureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error)
  return /ECONNREFUSED|writeable|Connection is closed|timed out|ETIMEDOUT/i.test(message)
    ? 'Redis is not reachable'
    : message
}
