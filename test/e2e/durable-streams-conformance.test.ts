import { runConformanceTests } from '@durable-streams/server-conformance-tests'
import { afterAll, beforeAll } from 'vitest'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'

// The Durable Streams conformance suite (pinned 0.3.6), every test, against the gateway's
// /v1/stream routes. Long-polls wait one second, so that the suite's timeouts are short.
const config = { baseUrl: '', longPollTimeoutMs: 1000 }
let gateway: GatewayProcess

beforeAll(async () => {
  gateway = await startGateway(['--stream-long-poll', '1'])
  config.baseUrl = gateway.url
})

afterAll(async () => {
  await gateway?.stop()
})

runConformanceTests(config)
