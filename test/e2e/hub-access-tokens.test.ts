import { createSecretKey, randomUUID } from 'node:crypto'
import { SignJWT } from 'jose'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, runCli, startGateway, TEST_SECRET } from '../helpers/gateway-process.js'
import { publish, subscribe } from '../helpers/hub.js'

/*
 * Publishers and subscribers with tokens shaped as the current Mercure specification requires
 * (`spec/mercure.md` §Authorization, §Token Validation): RFC 9068 access tokens with RFC 9396
 * `authorization_details`, beside the 0.x `mercure` claim.
 */

let gateway: GatewayProcess
let hub: string
const key = createSecretKey(Buffer.from(TEST_SECRET, 'utf8'))
const freshTopic = () => `https://example.com/books/${randomUUID()}`

beforeAll(async () => {
  gateway = await startGateway()
  hub = `${gateway.url}/.well-known/mercure`
})
afterAll(async () => {
  await gateway.stop()
})

/** An access token as an authorization server of the current specification issues one. */
function accessToken(
  actions: string[],
  topics: string[],
  options: { aud?: string; exp?: number; typ?: string; type?: string } = {},
) {
  return new SignJWT({
    client_id: 'app-1',
    authorization_details: [
      {
        type: options.type ?? 'https://mercure.rocks/authorization-detail',
        actions,
        topics: topics.map((match) => ({ match })),
      },
    ],
  })
    .setProtectedHeader({ alg: 'HS256', typ: options.typ ?? 'at+jwt' })
    .setIssuer('https://auth.example.com')
    .setAudience(options.aud ?? hub)
    .setSubject('user-1')
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(options.exp ?? Math.floor(Date.now() / 1000) + 3600)
    .sign(key)
}

describe('current-specification tokens', () => {
  it('the hub publishes its protected resource metadata (RFC 9728): the aud to use', async () => {
    const response = await fetch(`${gateway.url}/.well-known/oauth-protected-resource/.well-known/mercure`)
    expect(response.status).toBe(200)
    expect(await response.json()).toMatchObject({ resource: hub, mercure_cookie: true, mercure_version: 8 })
  })

  it('publish, and private updates reach only the subscribers whose token grants them (header or cookie)', async () => {
    const topic = freshTopic()
    const url = `${hub}?match=${encodeURIComponent(topic)}`
    const anonymous = await subscribe(url)
    const byHeader = await subscribe(url, {
      authorization: `Bearer ${await accessToken(['subscribe'], [topic], { type: 'mercure' })}`,
    })
    const byCookie = await subscribe(url, {
      cookie: `__Secure-mercure_access_token=${await accessToken(['subscribe'], ['*'])}`,
    })
    const other = await subscribe(url, {
      authorization: `Bearer ${await accessToken(['subscribe'], ['https://example.com/elsewhere'])}`,
    })
    const publisher = await accessToken(['publish'], [topic])
    const secret = await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'secret'],
        ['private', 'on'],
      ],
      publisher,
    )
    expect(secret.status).toBe(200)
    await publish(
      hub,
      [
        ['topic', topic],
        ['data', 'public'],
      ],
      publisher,
    )
    await Promise.all([byHeader.waitFor(2), byCookie.waitFor(2), anonymous.waitFor(1), other.waitFor(1)])
    await new Promise((resolve) => setTimeout(resolve, 200))
    for (const subscription of [anonymous, byHeader, byCookie, other]) subscription.close()
    expect(byHeader.events.map((event) => event.data)).toEqual(['secret', 'public'])
    expect(byCookie.events.map((event) => event.data)).toEqual(['secret', 'public'])
    expect(anonymous.events.map((event) => event.data)).toEqual(['public'])
    expect(other.events.map((event) => event.data)).toEqual(['public'])
    // Granted subscribe only: no publishing.
    const refused = await publish(hub, [['topic', topic]], await accessToken(['subscribe'], ['*']))
    expect(refused.status).toBe(403)
  })

  it.each([
    ['a foreign aud', { aud: 'https://other.example.com/.well-known/mercure' }, /aud does not name this hub/],
    ['an expired token', { exp: Math.floor(Date.now() / 1000) - 60 }, /expired/],
    ['a wrong typ', { typ: 'JWS' }, /typ .* not at\+jwt/],
  ] as const)('refuses %s with a 401 and a one-line reason', async (_, options, reason) => {
    const answer = await publish(
      hub,
      [['topic', freshTopic()]],
      await accessToken(['publish'], ['*'], options),
    )
    expect(answer.status).toBe(401)
    const { error } = JSON.parse(answer.body) as { error: { code: string; message: string } }
    expect(error.code).toBe('SG_ERR_UNAUTHORIZED')
    expect(error.message).toMatch(reason)
    expect(error.message).not.toContain('\n')
  })

  it('`streamgate token --format current` mints a token the hub takes; --jwt-audience names the hub', async () => {
    const audience = 'https://hub.example.com/.well-known/mercure'
    const pinned = await startGateway(['--jwt-audience', audience, '--jwt-issuer', 'streamgate'])
    try {
      const minted = await runCli([
        'token',
        '--format',
        'current',
        '--secret',
        TEST_SECRET,
        '--publish',
        '*',
        '--audience',
        audience,
      ])
      expect(minted.code).toBe(0)
      const token = minted.stdout.trim()
      const topic = [['topic', freshTopic()]] as [string, string][]
      expect((await publish(`${pinned.url}/.well-known/mercure`, topic, token)).status).toBe(200)
      // Its own URL is no longer an audience it accepts; nor is another issuer.
      const own = await accessToken(['publish'], ['*'], { aud: `${pinned.url}/.well-known/mercure` })
      expect((await publish(`${pinned.url}/.well-known/mercure`, topic, own)).status).toBe(401)
      const foreign = await accessToken(['publish'], ['*'], { aud: audience })
      const answer = await publish(`${pinned.url}/.well-known/mercure`, topic, foreign)
      expect(answer.status).toBe(401)
      expect(answer.body).toMatch(/iss is not an accepted issuer/)
      const metadata = await fetch(`${pinned.url}/.well-known/oauth-protected-resource/.well-known/mercure`)
      expect(await metadata.json()).toEqual({
        resource: audience,
        authorization_servers: ['streamgate'],
        bearer_methods_supported: ['header'],
        mercure_cookie: true,
        mercure_version: 8,
      })
      const help = await runCli(['token', '--help'])
      expect(help.stdout).toMatch(/--format <format>.*current/s)
      expect(help.stdout).toMatch(/0\.x/)
    } finally {
      await pinned.stop()
    }
  })
})
