import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { secretKey, type VerificationKey } from '../hub/authorization.js'
import { Hub } from '../hub/hub.js'
import { MemoryStore } from '../hub/store/memory.js'
import { RedisStore } from '../hub/store/redis.js'
import { SqliteStore } from '../hub/store/sqlite.js'
import type { UpdateStore } from '../hub/store/store.js'
import { openSqliteFile } from '../storage/sqlite-file.js'
import { MemoryStreamStore } from '../streams/memory-store.js'
import { RedisStreamStore } from '../streams/redis-store.js'
import { SqliteStreamStore } from '../streams/sqlite-store.js'
import type { StreamStore } from '../streams/stream-store.js'
import { ConfigError, type GatewayConfig } from './config.js'

export interface HubSetup {
  hub: Hub
  publisherSecret: string
  subscriberSecret: string
  /** Verification keys of trusted token issuers, by `iss`. */
  issuerKeys: ReadonlyMap<string, VerificationKey>
  /** Set when no secret was configured and the one kept in the data dir is used. */
  generatedSecretFile: string | undefined
  /** The durable streams' store, on the hub's engine. */
  streamStore: StreamStore
  /** Closes the hub's store, the streams' store and the file they share. */
  closeStores(): Promise<void>
}

export function createHubFromConfig(config: GatewayConfig): HubSetup {
  const { store, streamStore, close } = openStores(config.store, config.historySize, config.presenceHistory)
  const hub = new Hub(store, { maxCount: config.historySize, maxAge: config.historyMaxAge * 1000 })
  const configured = readKeyValue(config.jwtSecret, '--jwt-secret')
  let generatedSecretFile: string | undefined
  let fallback = configured
  if (
    configured === undefined &&
    (config.publisherJwtSecret === undefined || config.subscriberJwtSecret === undefined)
  ) {
    generatedSecretFile = join(dataDirectory(config.store), 'secret')
    fallback = readOrCreateSecret(generatedSecretFile)
  }
  return {
    hub,
    publisherSecret:
      readKeyValue(config.publisherJwtSecret, '--publisher-jwt-secret') ?? (fallback as string),
    subscriberSecret:
      readKeyValue(config.subscriberJwtSecret, '--subscriber-jwt-secret') ?? (fallback as string),
    issuerKeys: new Map(
      config.jwtIssuerKey.map(({ issuer, key }) => [
        issuer,
        verificationKeyOf(readKeyValue(key, `--jwt-issuer-key ${issuer}`) as string, '--jwt-issuer-key'),
      ]),
    ),
    generatedSecretFile,
    streamStore,
    closeStores: async () => {
      await store.close()
      await streamStore.close()
      close()
    },
  }
}

export const verificationKeys = (setup: HubSetup) => ({
  publisherKey: { ...secretKey(setup.publisherSecret), issuers: setup.issuerKeys },
  subscriberKey: { ...secretKey(setup.subscriberSecret), issuers: setup.issuerKeys },
})

function verificationKeyOf(value: string, flag: string): VerificationKey {
  try {
    return secretKey(value)
  } catch (error) {
    throw new ConfigError(`${flag}: ${(error as Error).message}`)
  }
}

/**
 * A secret, or a PEM public key, given inline or as @file (without the file's final line end: an
 * editor's newline is not part of the secret). An HS256 secret shorter than the hash, 32 bytes, is
 * refused, as RFC 7518 §3.2 requires: a 1-byte secret is guessed at once.
 */
function readKeyValue(value: string | undefined, flag: string): string | undefined {
  if (value === undefined) return undefined
  let key = value
  if (value.startsWith('@')) {
    try {
      key = readFileSync(value.slice(1), 'utf8').replace(/\r?\n$/, '')
    } catch (error) {
      throw new ConfigError(
        `${flag}: cannot read ${value.slice(1)} (${(error as NodeJS.ErrnoException).code})`,
      )
    }
  }
  if (!key.includes('-----BEGIN') && Buffer.byteLength(key) < MIN_SECRET_BYTES)
    throw new ConfigError(
      `${flag}: an HS256 secret needs at least ${MIN_SECRET_BYTES} bytes (this one has ${Buffer.byteLength(key)})`,
    )
  return key
}

const MIN_SECRET_BYTES = 32

/** The hub's store and the streams' store on one engine: one sqlite file for both. */
function openStores(
  spec: string,
  historySize: number,
  maxPresence: number,
): { store: UpdateStore; streamStore: StreamStore; close: () => void } {
  if (spec === 'memory')
    return {
      store: new MemoryStore(historySize, maxPresence),
      streamStore: new MemoryStreamStore(),
      close: () => {},
    }
  if (spec.startsWith('sqlite:')) {
    const database = openSqliteFile(spec.slice('sqlite:'.length))
    return {
      store: new SqliteStore(database, maxPresence),
      streamStore: new SqliteStreamStore(database),
      close: () => database.close(),
    }
  }
  if (/^rediss?:\/\//.test(spec))
    return {
      store: new RedisStore(spec, { maxPresence }),
      streamStore: new RedisStreamStore(spec),
      close: () => {},
    }
  throw new ConfigError(`--store: ${spec}: expected sqlite:<file>, memory or redis://host:port[/db]`)
}

/** The sqlite file's folder, else ./.streamgate: where the generated secret is kept. */
function dataDirectory(store: string): string {
  return store.startsWith('sqlite:') ? dirname(store.slice('sqlite:'.length)) : '.streamgate'
}

function readOrCreateSecret(path: string): string {
  if (existsSync(path)) return readFileSync(path, 'utf8').trim()
  mkdirSync(dirname(path), { recursive: true })
  const secret = randomBytes(32).toString('base64url')
  writeFileSync(path, `${secret}\n`, { mode: 0o600 })
  chmodSync(path, 0o600)
  return secret
}
