import { generateKeyPairSync } from 'node:crypto'
import fc from 'fast-check'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signToken } from '../../src/hub/authorization.js'
import { type GatewayProcess, startGateway, TEST_SECRET } from '../helpers/gateway-process.js'

// Malformed and hostile requests to the publish, LLM and durable stream endpoints: every one gets a 4xx with a
// reason, the process never crashes, and nothing is published. 300 cases per endpoint in
// `npm test`; FUZZ_HTTP_RUNS raises it (`npm run fuzz` uses 3,000).
const runs = Number(process.env.FUZZ_HTTP_RUNS ?? (process.env.FUZZ_RUNS ? 3000 : 300))
const KEY = 'fuzz-gateway-key'
const MAX_BODY = 4096

let gateway: GatewayProcess
let tokens: Record<string, string>

beforeAll(async () => {
  gateway = await startGateway(['--api-key', KEY, '--max-body', String(MAX_BODY), '--stream-long-poll', '1'])
  const claims = { mercure: { publish: ['*'] } }
  const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url')
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  tokens = {
    valid: await signToken(TEST_SECRET, { publish: ['*'] }),
    subscribeOnly: await signToken(TEST_SECRET, { subscribe: ['*'] }),
    otherTopicsOnly: await signToken(TEST_SECRET, { publish: ['https://example.com/other'] }),
    expired: await new SignJWT(claims)
      .setProtectedHeader({ alg: 'HS256' })
      .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
      .sign(new TextEncoder().encode(TEST_SECRET)),
    wrongKey: await signToken('another-secret-of-thirty-two-byte', { publish: ['*'] }),
    algNone: `${encode({ alg: 'none', typ: 'JWT' })}.${encode(claims)}.`,
    rs256: await new SignJWT(claims).setProtectedHeader({ alg: 'RS256' }).sign(privateKey),
    garbage: 'not.a.jwt',
  }
})

afterAll(async () => {
  await gateway?.stop()
})

interface Case {
  token: string | undefined
  contentType: string | undefined
  body: Uint8Array
  /** The statuses this case may get (each is a refusal). */
  expected: number[]
}

const text = (value: string) => new TextEncoder().encode(value)
const field = fc.constantFrom('topic', 'data', 'id', 'type', 'retry', 'private')
const controlChars = fc.constantFrom('\r', '\n', '\r\n', '\u0000', '\u001b')

/** Publish requests that each carry at least one defect, with the statuses that defect allows. */
const publishCase: fc.Arbitrary<Case> = fc.oneof(
  // Authentication first: any body, any type.
  fc
    .tuple(
      fc.constantFrom(undefined, 'expired', 'wrongKey', 'algNone', 'rs256', 'garbage'),
      fc.uint8Array({ maxLength: 300 }),
    )
    .map(([token, body]) => ({
      token,
      contentType: 'application/x-www-form-urlencoded',
      body,
      expected: [401],
    })),
  fc
    .tuple(
      fc.constantFrom('subscribeOnly', 'otherTopicsOnly'),
      fc.constant(text('topic=https://example.com/t&data=x')),
    )
    .map(([token, body]) => ({
      token,
      contentType: 'application/x-www-form-urlencoded',
      body,
      expected: [403],
    })),
  // Then the media type.
  fc
    .tuple(
      fc.constantFrom(undefined, 'text/plain', 'multipart/form-data; boundary=x', 'application/xml'),
      fc.uint8Array({ maxLength: 200 }),
    )
    .map(([contentType, body]) => ({ token: 'valid', contentType, body, expected: [415] })),
  // Then the size.
  fc.integer({ min: MAX_BODY + 1, max: MAX_BODY * 4 }).map((size) => ({
    token: 'valid',
    contentType: 'application/x-www-form-urlencoded',
    body: text(`topic=t&data=${'x'.repeat(size)}`),
    expected: [413],
  })),
  // Then the fields: no topic, a repeated single field, a bad retry, control characters, bad UTF-8.
  fc
    .array(fc.tuple(fc.constantFrom('data', 'id', 'type', 'retry'), fc.string({ maxLength: 20 })), {
      maxLength: 4,
    })
    .map((fields) => ({
      token: 'valid',
      contentType: 'application/x-www-form-urlencoded',
      body: text(new URLSearchParams(fields).toString()),
      expected: [400],
    })),
  fc
    .tuple(fc.constantFrom('data', 'id', 'type', 'retry', 'private'), fc.string({ maxLength: 10 }))
    .map(([name, value]) => ({
      token: 'valid',
      contentType: 'application/x-www-form-urlencoded',
      body: text(
        `topic=https%3A%2F%2Fexample.com%2Ft&${name}=${encodeURIComponent(value)}&${name}=${encodeURIComponent(value)}`,
      ),
      expected: [400],
    })),
  fc
    .string({ minLength: 1, maxLength: 8 })
    .filter((retry) => !/^\d+$/.test(retry))
    .map((retry) => ({
      token: 'valid',
      contentType: 'application/x-www-form-urlencoded',
      body: text(`topic=t&data=x&retry=${encodeURIComponent(retry)}`),
      expected: [400],
    })),
  fc
    .tuple(
      fc.constantFrom('id', 'type', 'topic'),
      fc.string({ maxLength: 8 }),
      controlChars,
      fc.string({ maxLength: 8 }),
    )
    .map(([name, before, control, after]) => ({
      token: 'valid',
      contentType: 'application/x-www-form-urlencoded',
      body: text(
        `${name === 'topic' ? '' : 'topic=t&'}data=x&${name}=${encodeURIComponent(before + control + after)}`,
      ),
      expected: [400],
    })),
  fc
    .tuple(field, fc.constantFrom('%FF', '%C3%28', '%E2%82', '%ED%A0%80', '%F8%88%80%80%80'))
    .map(([name, bad]) => ({
      token: 'valid',
      contentType: 'application/x-www-form-urlencoded',
      body: text(`${name === 'topic' ? '' : 'topic=t&'}${name}=a${bad}b`),
      expected: [400],
    })),
  fc
    .tuple(
      fc.constantFrom(
        '{',
        '[]',
        '"x"',
        '{"topic":5}',
        '{"topic":[]}',
        '{"data":"x"}',
        '{"topic":"t","retry":"5s"}',
        '{"topic":"t","retry":-1}',
        '{"topic":"t","id":"a\\nb"}',
      ),
      fc.uint8Array({ maxLength: 20 }),
    )
    .map(([json, tail]) => ({
      token: 'valid',
      contentType: 'application/json',
      body: new Uint8Array([...text(json), ...(json === '{' ? tail : [])]),
      expected: [400],
    })),
)

/** LLM requests with a defect: key, body, method, generation id or Last-Event-ID. */
interface LlmCase {
  method: string
  path: string
  headers: Record<string, string | undefined>
  body?: Uint8Array
  expected: number[]
}

const llmCase: fc.Arbitrary<LlmCase> = fc.oneof(
  fc
    .tuple(
      fc.constantFrom(undefined, 'wrong', `${KEY}x`, KEY.toUpperCase()),
      fc.constantFrom('/v1/chat/completions', '/v1/messages', '/v1/models', '/v1/generations/gen_x'),
      fc.uint8Array({ maxLength: 100 }),
    )
    .map(([key, path, body]) => ({
      method: path.endsWith('models') || path.includes('generations') ? 'GET' : 'POST',
      path,
      headers: key === undefined ? {} : { authorization: `Bearer ${key}` },
      body: path.endsWith('models') || path.includes('generations') ? undefined : body,
      expected: [401],
    })),
  fc
    .tuple(
      fc.constantFrom('/v1/chat/completions', '/v1/messages', '/v1/completions'),
      fc.oneof(
        fc.uint8Array({ maxLength: 200 }).filter((bytes) => {
          try {
            const value = JSON.parse(new TextDecoder().decode(bytes))
            return typeof value !== 'object' || value === null || Array.isArray(value)
          } catch {
            return true
          }
        }),
        fc.constantFrom(text('[]'), text('null'), text('"stream"'), text('{"stream": true')),
      ),
    )
    .map(([path, body]) => ({
      method: 'POST',
      path,
      headers: { 'x-api-key': KEY, 'content-type': 'application/json' },
      body,
      expected: [400],
    })),
  fc.integer({ min: MAX_BODY + 1, max: MAX_BODY * 3 }).map((size) => ({
    method: 'POST',
    path: '/v1/chat/completions',
    headers: { 'x-api-key': KEY },
    body: text(`{"x":"${'y'.repeat(size)}"}`),
    expected: [413],
  })),
  fc
    .tuple(
      fc.constantFrom('PUT', 'DELETE', 'PATCH'),
      fc.constantFrom('/v1/chat/completions', '/v1/messages', '/v1/models'),
    )
    .map(([method, path]) => ({ method, path, headers: { 'x-api-key': KEY }, expected: [405] })),
  fc
    .tuple(
      fc.string({ maxLength: 30 }).map((id) => encodeURIComponent(id)),
      fc.constantFrom('', '/stream', '/cancel'),
    )
    .map(([id, action]) => ({
      method: action === '/cancel' ? 'POST' : 'GET',
      path: `/v1/generations/${id}${action}`,
      headers: { 'x-api-key': KEY },
      expected: [404],
    })),
  fc.string({ maxLength: 20 }).map((path) => ({
    method: 'GET',
    path: `/v1/${encodeURIComponent(path)}x`,
    headers: { 'x-api-key': KEY },
    expected: [404, 405],
  })),
)

/** Any request to the durable streams: methods, protocol headers and queries with good and bad values. */
const headerValue = fc.oneof(
  fc.constantFrom(
    'true',
    'TRUE',
    'false',
    '0',
    '1',
    '-1',
    '01',
    '1.5',
    '1e3',
    '',
    ' ',
    'now',
    '9007199254740993',
  ),
  fc.constantFrom(
    '0000000000000000_0000000000000000',
    '0000000000000001_0000000000000000',
    '2026-12-07T00:00:00Z',
  ),
  fc.string({ maxLength: 12 }).filter((value) => !/[\r\n\0]/.test(value) && /^[\x20-\x7e]*$/.test(value)),
)
const streamCase = fc.record({
  method: fc.constantFrom('PUT', 'POST', 'GET', 'HEAD', 'DELETE', 'PATCH'),
  path: fc.constantFrom(
    '/v1/stream/fuzz/a',
    '/v1/stream/fuzz/b',
    '/v1/stream/fuzz/a/b',
    '/v1/stream/__ds/x',
    '/v1/stream/',
  ),
  headers: fc.dictionary(
    fc.constantFrom(
      'content-type',
      'stream-ttl',
      'stream-expires-at',
      'stream-seq',
      'stream-closed',
      'stream-forked-from',
      'stream-fork-offset',
      'stream-fork-sub-offset',
      'producer-id',
      'producer-epoch',
      'producer-seq',
      'if-none-match',
    ),
    fc.oneof(
      headerValue,
      fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', '/v1/stream/fuzz/a'),
    ),
    { maxKeys: 5 },
  ),
  query: fc.constantFrom(
    '',
    '?offset=-1',
    '?offset=now',
    '?offset=x',
    '?offset=-1&offset=now',
    '?offset=-1&live=long-poll',
    '?offset=now&live=long-poll',
    '?live=sse',
    '?offset=-1&live=sse',
    '?offset=-1&live=ws',
    '?cursor=abc&offset=-1&live=long-poll',
  ),
  body: fc.oneof(
    fc.constant(undefined),
    fc.constantFrom('[]', '[1,2]', '{"a":1}', '{', 'hello', ''),
    fc.uint8Array({ maxLength: 64 }).map((bytes) => Buffer.from(bytes).toString('latin1')),
  ),
})

async function published(): Promise<number> {
  const metrics = await (await fetch(`${gateway.url}/metrics`)).text()
  return Number(/^streamgate_updates_published_total (\d+)/m.exec(metrics)?.[1])
}

describe('HTTP fuzzing', () => {
  it(`publish: ${runs} malformed or unauthorised requests each get a 4xx with a reason; nothing is published`, async () => {
    await fc.assert(
      fc.asyncProperty(publishCase, async ({ token, contentType, body, expected }) => {
        const response = await fetch(`${gateway.url}/.well-known/mercure`, {
          method: 'POST',
          headers: {
            ...(token === undefined ? {} : { authorization: `Bearer ${tokens[token] ?? token}` }),
            ...(contentType === undefined ? {} : { 'content-type': contentType }),
          },
          body: Buffer.from(body),
        })
        const answer = (await response.json()) as { error?: { code?: string; message?: string } }
        expect(expected).toContain(response.status)
        expect(answer.error?.code).toMatch(/^SG_ERR_/)
        expect(answer.error?.message?.length).toBeGreaterThan(5)
      }),
      { numRuns: runs },
    )
    expect(await published()).toBe(0)
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200)
  }, 300_000)

  it(`LLM routes: ${runs} malformed or unauthorised requests each get a 4xx with a reason in the provider's shape`, async () => {
    await fc.assert(
      fc.asyncProperty(llmCase, async ({ method, path, headers, body, expected }) => {
        const defined = Object.fromEntries(Object.entries(headers).filter(([, value]) => value !== undefined))
        const response = await fetch(`${gateway.url}${path}`, {
          method,
          headers: defined as Record<string, string>,
          body: body === undefined ? undefined : Buffer.from(body),
        })
        const answer = (await response.json()) as { error?: { message?: string } }
        expect(expected).toContain(response.status)
        expect(answer.error?.message?.length).toBeGreaterThan(5)
      }),
      { numRuns: runs },
    )
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200)
    expect(gateway.child.exitCode).toBeNull()
  }, 300_000)

  it(`durable streams: ${runs} random requests each get an answer below 500, a reason with every refusal`, async () => {
    await fc.assert(
      fc.asyncProperty(streamCase, async ({ method, path, headers, query, body }) => {
        const response = await fetch(`${gateway.url}${path}${query}`, {
          method,
          headers: { 'x-api-key': KEY, ...headers },
          body: method === 'GET' || method === 'HEAD' || body === undefined ? undefined : body,
        })
        expect(response.status).toBeLessThan(500)
        if ((response.headers.get('content-type') ?? '').startsWith('text/event-stream')) {
          await response.body?.cancel()
          return
        }
        const text = await response.text()
        if (response.status >= 400 && method !== 'HEAD') {
          const answer = JSON.parse(text) as { error?: { code?: string; message?: string } }
          expect(answer.error?.code).toMatch(/^SG_ERR_/)
          expect(answer.error?.message?.length).toBeGreaterThan(5)
        }
      }),
      { numRuns: runs },
    )
    expect((await fetch(`${gateway.url}/healthz`)).status).toBe(200)
    expect(gateway.child.exitCode).toBeNull()
  }, 300_000)
})
