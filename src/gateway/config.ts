import { readFileSync } from 'node:fs'
import { z } from 'zod'

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  kb: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  mb: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  gb: 1024 ** 3,
}

/** `262144`, `256KiB`, `256k`, `1MiB`, `1GiB`: sizes are binary (KiB, MiB, GiB). */
const byteSize = z.union([z.number(), z.string()]).transform((value, context) => {
  const match = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(String(value))
  const multiplier = match ? BYTE_UNITS[(match[2] ?? '').toLowerCase()] : undefined
  if (match === null || multiplier === undefined) {
    context.addIssue({
      code: 'custom',
      message: `expected a size such as 262144, 256KiB or 1MiB, got "${value}"`,
    })
    return z.NEVER
  }
  return Number(match[1]) * multiplier
})

const integer = (min: number, max: number) => z.coerce.number().int().min(min).max(max)

const DURATION_UNITS: Record<string, number> = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }

/** `3600`, `90s`, `30m`, `24h`, `7d`: a duration in seconds. */
const duration = z.union([z.number(), z.string()]).transform((value, context) => {
  const match = /^\s*(\d+)\s*([smhd]?)\s*$/i.exec(String(value))
  if (match === null) {
    context.addIssue({
      code: 'custom',
      message: `expected a duration such as 3600, 30m or 24h, got "${value}"`,
    })
    return z.NEVER
  }
  return Number(match[1]) * (DURATION_UNITS[(match[2] ?? '').toLowerCase()] ?? 1)
})

/** `sqlite:<file>`, `memory`, or (coming) `redis://host:port[/db]`. */
const store = z
  .string()
  .refine((value) => value === 'memory' || /^sqlite:.+/.test(value) || /^rediss?:\/\//.test(value), {
    message: 'expected sqlite:<file>, memory or redis://host:port',
  })

const httpUrl = z.string().refine((value) => /^https?:\/\/[^/]/.test(value) && URL.canParse(value), {
  message: 'expected an http:// or https:// URL',
})

/** Addresses only this machine can reach. */
export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host)
}

const flag = z
  .union([z.boolean(), z.enum(['true', 'false', '1', '0'])])
  .transform((value) => value === true || value === 'true' || value === '1')

const listOfStrings = z
  .union([z.string(), z.array(z.string())])
  .transform((value) =>
    (Array.isArray(value) ? value : [value]).flatMap((item) => item.split(/[\s,]+/)).filter(Boolean),
  )

/**
 * Gateway keys: each flag value is one key; a value (the env twin) may list several, separated by
 * commas. Never split on white space: a passphrase would become its words, each accepted alone.
 * A key with white space is refused, since it cannot travel as a bearer token.
 */
const keyList = z
  .union([z.string(), z.array(z.string())])
  .transform((value) =>
    (Array.isArray(value) ? value : [value])
      .flatMap((item) => item.split(','))
      .map((key) => key.trim())
      .filter(Boolean),
  )
  .refine((keys) => keys.every((key) => !/\s/.test(key)), {
    message:
      'a key cannot hold white space (it travels as a bearer token); separate several keys with commas',
  })

/** `<iss>=<key>` pairs, split at the first `=` (a key, a PEM above all, may hold anything). */
const issuerKeys = z.union([z.string(), z.array(z.string())]).transform((value, context) =>
  (Array.isArray(value) ? value : [value]).map((pair) => {
    const at = pair.indexOf('=')
    if (at <= 0 || at === pair.length - 1)
      context.addIssue({
        code: 'custom',
        message: `expected <issuer>=<key or @file>, got "${pair.slice(0, 60)}"`,
      })
    return { issuer: pair.slice(0, at), key: pair.slice(at + 1) }
  }),
)

/** Every setting of `streamgate serve`: flags and their STREAMGATE_* environment twins meet here. */
export const gatewayConfigSchema = z
  .object({
    port: integer(0, 65_535).default(8080),
    host: z.string().min(1).default('127.0.0.1'),
    /** Seconds of silence after which a stream gets a heartbeat comment. */
    heartbeat: z.coerce.number().positive().max(3600).default(15),
    corsOrigin: listOfStrings.default(['*']),
    /** Origins whose pages may publish with the Mercure cookie; none by default. */
    publishOrigin: listOfStrings.default([]),
    subscriberBuffer: byteSize.default(256 * 1024),
    tlsCert: z.string().min(1).optional(),
    tlsKey: z.string().min(1).optional(),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    store: store.default('sqlite:./.streamgate/hub.db'),
    jwtSecret: z.string().min(1).optional(),
    /** The hub's resource identifiers for current-specification tokens' `aud`; default: its own URL. */
    jwtAudience: listOfStrings.optional(),
    /** Accepted `iss` of current-specification tokens; empty: any. */
    jwtIssuer: listOfStrings.default([]),
    /** Verification keys per issuer: `<iss>=<HS256 secret | PEM public key | @file>`. */
    jwtIssuerKey: issuerKeys.default([]),
    publisherJwtSecret: z.string().min(1).optional(),
    subscriberJwtSecret: z.string().min(1).optional(),
    anonymous: flag.default(true),
    subscriptions: flag.default(false),
    maxBody: byteSize.default(1024 * 1024),
    historySize: integer(1, 100_000_000).default(10_000),
    /** Presence updates (subscription events) kept for resuming, apart from --history-size. */
    presenceHistory: integer(0, 1_000_000).default(1000),
    historyMaxAge: duration.default(24 * 3600),
    /** OpenAI-compatible base URL including /v1; none: the demo upstream. */
    upstream: httpUrl.optional(),
    upstreamKey: z.string().min(1).optional(),
    /** Anthropic base URL as its SDK takes it (without /v1); none: the demo upstream. */
    anthropicUpstream: httpUrl.optional(),
    anthropicUpstreamKey: z.string().min(1).optional(),
    /** Seconds to connect to an upstream (TLS handshake included). */
    upstreamConnectTimeout: z.coerce.number().positive().max(600).default(10),
    /**
     * Seconds from a request to its upstream's response head. A non-streamed request gets its head
     * only with the whole answer: minutes for a reasoning model.
     */
    upstreamHeaderTimeout: z.coerce
      .number()
      .positive()
      .max(24 * 3600)
      .default(600),
    /** Seconds an upstream body may stay silent. A streamed answer of a reasoning model may think for minutes. */
    upstreamIdleTimeout: z.coerce
      .number()
      .positive()
      .max(24 * 3600)
      .default(300),
    /** PEM file of certificate authorities trusted for the upstreams, besides the system's. */
    upstreamCa: z.string().min(1).optional(),
    /** Gateway keys for the LLM routes. */
    apiKey: keyList.default([]),
    /** False (`--no-auth`): LLM routes open without keys even on a non-loopback address. */
    auth: flag.default(true),
    resumeGrace: duration.default(30),
    /** Seconds a finished generation stays in the store (since it was last read or written). */
    generationRetention: duration.default(3600),
    /** Bytes of finished generations the store keeps at most; the oldest go first. */
    generationMaxBytes: byteSize.default(1024 ** 3),
    /** `--upstream` has OpenAI's background mode: `background` goes through instead of being run here. */
    upstreamBackground: flag.default(false),
    /** Seconds a Durable Streams long-poll waits for data before answering 204. */
    streamLongPoll: duration.default(20),
    /** Live readers (long-polls and SSE) one durable stream may have at once. */
    streamReaders: integer(1, 10_000_000).default(1000),
    /** Bytes one durable stream may store; 0 = unlimited. */
    streamMaxBytes: byteSize.default(64 * 1024 ** 2),
    /** Durable streams kept at once; 0 = unlimited. */
    maxStreams: integer(0, 1_000_000_000).default(100_000),
    /** Requests per minute per gateway key on the LLM routes; 0 = unlimited. */
    keyRpm: integer(0, 1_000_000).default(0),
    /** Requests at once (streams included) per gateway key; 0 = unlimited. */
    keyConcurrency: integer(0, 1_000_000).default(0),
    /** Requests in progress (open streams included) per client address; 0 = unlimited. */
    maxConnectionsPerIp: integer(0, 10_000_000).default(0),
    /** Topic selectors per hub subscription, and topics per published update. */
    maxTopics: integer(1, 10_000).default(100),
    /** Wildcards over all the topic selectors of one hub subscription. */
    maxWildcards: integer(0, 10_000).default(64),
    /** Seconds a client may take to send its request headers (slowloris defence). */
    headerTimeout: z.coerce.number().positive().max(600).default(10),
  })
  .strict()
  .refine((config) => (config.tlsCert === undefined) === (config.tlsKey === undefined), {
    message: '--tls-cert and --tls-key go together',
  })
  .refine((config) => config.apiKey.length > 0 || !config.auth || isLoopback(config.host), {
    message:
      'the LLM routes would be open to the network: give --api-key <key...> (or --no-auth to open them on purpose)',
  })

export type GatewayConfig = z.output<typeof gatewayConfigSchema>
export type GatewayConfigInput = z.input<typeof gatewayConfigSchema>

/** Validates raw settings; throws a ConfigError whose message names each bad setting. */
export function parseGatewayConfig(input: Record<string, unknown>): GatewayConfig {
  const result = gatewayConfigSchema.safeParse(input)
  if (result.success) return result.data
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map((part) => `--${String(part).replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`)
    return path.length > 0 ? `${path.join('.')}: ${issue.message}` : issue.message
  })
  throw new ConfigError(problems.join('; '))
}

/** A PEM file named by a flag; a ConfigError naming the flag when it cannot be read. */
export function readPem(path: string, flag: string): Buffer {
  try {
    return readFileSync(path)
  } catch (error) {
    throw new ConfigError(
      `${flag}: cannot read ${path} (${(error as NodeJS.ErrnoException).code ?? 'error'})`,
    )
  }
}

export class ConfigError extends Error {
  readonly code = 'SG_ERR_CONFIG'

  constructor(message: string) {
    super(message)
    this.name = 'ConfigError'
  }
}
