import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runConformanceTests } from '@durable-streams/server-conformance-tests'
import { afterAll, beforeAll, describe } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'
import { type RedisProcess, startRedis } from '../helpers/redis-server.js'

// The Durable Streams conformance suite (pinned 0.3.6), every test, against the gateway's
// /v1/stream routes on each store that carries streams. Long-polls wait one second, so that the
// suite's timeouts are short.
const directory = mkdtempSync(join(tmpdir(), 'streamgate-conformance-'))
let redis: RedisProcess
beforeAll(async () => {
  redis = await startRedis()
})
afterAll(async () => {
  rmSync(directory, { recursive: true, force: true })
  await redis?.dispose()
})

describe.each([
  ['sqlite (the default)', () => `sqlite:${join(directory, 'gateway.db')}`],
  ['memory', () => 'memory'],
  ['redis', () => redis.url],
])('on the %s store', (_name, store) => {
  const config = { baseUrl: '', longPollTimeoutMs: 1000 }
  let gateway: GatewayProcess

  beforeAll(async () => {
    gateway = await startGateway(['--store', store(), '--stream-long-poll', '1'])
    config.baseUrl = gateway.url
  })

  afterAll(async () => {
    await gateway?.stop()
  })

  runConformanceTests(config)
})
