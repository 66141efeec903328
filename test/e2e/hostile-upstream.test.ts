import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HEALTHY_EVENTS, HOSTILE_ANSWERS, startHostileUpstream } from '../fixtures/hostile-upstream.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'

// Nothing an upstream sends may take the gateway down or hang a client: each hostile answer ends
// its own request within a bound — a 502 in the provider's error shape before the stream started,
// the provider's own error event after — while a healthy stream on the same gateway runs intact.

/** The upstream timeouts of this gateway (seconds): a head or a body that goes silent longer fails. */
const HEADER_TIMEOUT_S = 3
const IDLE_TIMEOUT_S = 3
/** Every hostile answer is answered within this (the longest: a timeout, plus the relay's own time). */
const BOUND_MS = (Math.max(HEADER_TIMEOUT_S, IDLE_TIMEOUT_S) + 3) * 1000

let gateway: GatewayProcess
let upstream: Awaited<ReturnType<typeof startHostileUpstream>>

beforeAll(async () => {
  upstream = await startHostileUpstream()
  gateway = await startGateway([
    '--upstream',
    upstream.url,
    '--upstream-header-timeout',
    String(HEADER_TIMEOUT_S),
    '--upstream-idle-timeout',
    String(IDLE_TIMEOUT_S),
    '--heartbeat',
    '1',
  ])
})

afterAll(async () => {
  await gateway?.stop()
  await upstream?.close()
})

interface Answer {
  status: number
  contentType: string
  body: string
  milliseconds: number
}

async function ask(model: string): Promise<Answer> {
  const started = performance.now()
  const response = await fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model, stream: true, messages: [{ role: 'user', content: 'hi' }] }),
    signal: AbortSignal.timeout(BOUND_MS + 10_000),
  })
  const body = await response.text()
  return {
    status: response.status,
    contentType: response.headers.get('content-type') ?? '',
    body,
    milliseconds: performance.now() - started,
  }
}

/** The data of each event of an event-stream body, in order, without the comments. */
const eventData = (body: string) =>
  body
    .split('\n\n')
    .flatMap((block) => block.split('\n').filter((line) => line.startsWith('data: ')))
    .map((line) => line.slice(6))

const hostile = Object.values(HOSTILE_ANSWERS).filter(({ outcome }) => outcome !== 'streams').length

describe('a gateway in front of a hostile upstream', () => {
  it(`ends each of ${hostile} bad answers in its own request and streams the legal ones, while a healthy stream runs intact`, async () => {
    const healthy = ask('healthy')
    const names = Object.keys(HOSTILE_ANSWERS)
    const answers = await Promise.all(names.map((name) => ask(name)))
    const report = names.map((name, index) => {
      const answer = answers[index] as Answer
      const { outcome } = HOSTILE_ANSWERS[name] as { outcome: string }
      const data = eventData(answer.body)
      const last = data.at(-1) ?? ''
      let seen: string
      if (answer.status === 502 && answer.contentType.startsWith('application/json')) {
        const error = (JSON.parse(answer.body) as { error?: { type?: string; message?: string } }).error
        seen =
          error?.type === 'api_error' && (error.message ?? '') !== '' ? 'refused' : `502 with ${answer.body}`
      } else if (answer.status === 200 && answer.contentType.startsWith('text/event-stream')) {
        if (last.startsWith('{"error":')) seen = 'failed mid-stream'
        else if (last === '[DONE]' && data.join('').includes('Hello') && !answer.body.includes('"error"'))
          seen = 'streams'
        else seen = `200 ending ${JSON.stringify(last.slice(0, 80))}`
      } else seen = `${answer.status} ${answer.contentType} ${answer.body.slice(0, 120)}`
      return { name, expected: outcome, seen, inBound: answer.milliseconds < BOUND_MS }
    })
    expect(report.filter(({ expected, seen, inBound }) => seen !== expected || !inBound)).toEqual([])

    const healthyAnswer = await healthy
    const contents = eventData(healthyAnswer.body)
      .filter((data) => data.startsWith('{'))
      .map(
        (data) =>
          (JSON.parse(data) as { choices: { delta: { content: string } }[] }).choices[0]?.delta.content,
      )
    expect(contents).toEqual(Array.from({ length: HEALTHY_EVENTS }, (_, index) => ` ${index}`))
    expect(eventData(healthyAnswer.body).at(-1)).toBe('[DONE]')

    // And it serves normally afterwards.
    expect(gateway.child.exitCode).toBe(null)
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200)
    expect(eventData((await ask('HTTP/1.0, ended by closing the connection')).body).at(-1)).toBe('[DONE]')
    expect(
      gateway.logs.filter((entry) => entry.level === 60 || /uncaught|unhandled/i.test(String(entry.msg))),
    ).toEqual([])
  }, 60_000)
})
