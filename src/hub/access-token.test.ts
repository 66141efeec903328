import { createSecretKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { SignJWT, UnsecuredJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import {
  AuthorizationError,
  secretKey,
  signAccessToken,
  type TokenPolicy,
  verifyToken,
} from './authorization.js'
import { selectorMatches } from './topic-selector.js'

/*
 * Tokens of the current Mercure specification (§Authorization, §Token Validation): RFC 9068 access
 * tokens (`typ: at+jwt`) with RFC 9396 `authorization_details`.
 */

const SECRET = 'a secret that is long enough for HS256!'
const HUB = 'https://hub.example.com/.well-known/mercure'
const policy: TokenPolicy = { audiences: [HUB], issuers: [] }
const hmac = createSecretKey(Buffer.from(SECRET, 'utf8'))

function accessToken(
  claims: Record<string, unknown>,
  header: Record<string, unknown> = { alg: 'HS256', typ: 'at+jwt' },
  expiresIn: string | null = '1h',
) {
  const jwt = new SignJWT({
    authorization_details: [
      {
        type: 'mercure',
        actions: ['publish'],
        topics: [{ match: 'https://example.com/books/:id', matchType: 'URLPattern' }],
      },
      { type: 'mercure', actions: ['subscribe'], topics: [{ match: '*' }], payload: { user: 'alice' } },
    ],
    ...claims,
  })
    .setProtectedHeader(header as { alg: string })
    .setIssuer('https://auth.example.com')
    .setSubject('alice')
    .setIssuedAt()
    .setJti('jti-1')
  if (claims.aud === undefined) jwt.setAudience(HUB)
  if (expiresIn !== null) jwt.setExpirationTime(expiresIn)
  return jwt.sign(hmac)
}

const refusal = async (token: Promise<string> | string, verifyPolicy = policy, key = secretKey(SECRET)) => {
  const error = await verifyToken(await token, key, verifyPolicy).catch((caught: unknown) => caught)
  expect(error).toBeInstanceOf(AuthorizationError)
  expect((error as AuthorizationError).status).toBe(401)
  return (error as Error).message
}

describe('current-specification access tokens', () => {
  it('grant publish and subscribe by authorization_details, with matcher types, and the payload', async () => {
    for (const typ of ['at+jwt', 'application/at+jwt']) {
      const claims = await verifyToken(
        await accessToken({}, { alg: 'HS256', typ }),
        secretKey(SECRET),
        policy,
      )
      expect(claims.publish).toHaveLength(1)
      expect(selectorMatches(claims.publish[0] as never, 'https://example.com/books/7')).toBe(true)
      expect(selectorMatches(claims.publish[0] as never, 'https://example.com/authors/7')).toBe(false)
      expect(selectorMatches(claims.subscribe[0] as never, 'anything')).toBe(true)
      expect(claims.payload).toEqual({ user: 'alice' })
    }
    // The type URI of earlier drafts, and a detail of another type left alone.
    const older = await accessToken({
      authorization_details: [
        {
          type: 'https://mercure.rocks/authorization-detail',
          actions: ['publish', 'subscribe'],
          topics: [{ match: 'a' }],
        },
        { type: 'payment_initiation', actions: ['whatever'] },
      ],
    })
    const claims = await verifyToken(older, secretKey(SECRET), policy)
    expect([claims.publish.length, claims.subscribe.length]).toEqual([1, 1])
  })

  it('mint as `streamgate token --format current` does: accepted by a hub at that audience', async () => {
    const token = await signAccessToken(
      SECRET,
      { publish: ['a'], subscribe: ['b'] },
      {
        issuer: 'streamgate',
        audience: HUB,
        ttlSeconds: 60,
      },
    )
    const claims = await verifyToken(token, secretKey(SECRET), { audiences: [HUB], issuers: ['streamgate'] })
    expect([claims.publish.length, claims.subscribe.length]).toEqual([1, 1])
  })

  it('refuse a foreign aud, an issuer not accepted, an expired, a not-yet-valid and an endless token', async () => {
    expect(await refusal(accessToken({ aud: 'https://other.example.com/.well-known/mercure' }))).toMatch(
      /aud does not name this hub/,
    )
    expect(
      await refusal(accessToken({}), { audiences: [HUB], issuers: ['https://trusted.example.com'] }),
    ).toMatch(/iss is not an accepted issuer/)
    expect(await refusal(accessToken({ exp: Math.floor(Date.now() / 1000) - 60 }, undefined, null))).toMatch(
      /expired/,
    )
    expect(await refusal(accessToken({ nbf: Math.floor(Date.now() / 1000) + 600 }))).toMatch(/not valid yet/)
    expect(await refusal(accessToken({}, undefined, null))).toMatch(/no exp/)
  })

  it('refuse a wrong typ, alg none, and algorithm confusion', async () => {
    expect(await refusal(accessToken({}, { alg: 'HS256', typ: 'id_token+jwt' }))).toMatch(
      /typ .* not at\+jwt/,
    )
    const none = new UnsecuredJWT({ mercure: { publish: ['*'] } }).setAudience(HUB).encode()
    expect(await refusal(none)).toMatch(/invalid|algorithm/)
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' }) as unknown as {
      publicKey: KeyObject
    }
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
    // HS256 signed with the (public) PEM as the secret, against a hub that verifies with that key.
    const forged = await new SignJWT({ authorization_details: [] })
      .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
      .setAudience(HUB)
      .setExpirationTime('1h')
      .sign(new TextEncoder().encode(pem))
    expect(await refusal(forged, policy, secretKey(pem))).toMatch(/algorithm/)
  })

  it('refuse the whole token when one mercure detail does not parse (no partial grant)', async () => {
    const bad = [
      [{ type: 'mercure', actions: ['publish', 'delete'], topics: [{ match: 'a' }] }, /actions/],
      [{ type: 'mercure', actions: [], topics: [{ match: 'a' }] }, /actions/],
      [{ type: 'mercure', actions: ['publish'], topics: [] }, /topics/],
      [{ type: 'mercure', actions: ['publish'], topics: [{ match: 'a', matchType: 'Regex' }] }, /matchType/],
      [{ type: 'mercure', actions: ['publish'], topics: [{ match: 42 }] }, /match must be a string/],
      [{ type: 'mercure', actions: ['subscribe'], topics: [{ match: 'a' }], payload: 'x' }, /payload/],
    ] as const
    for (const [detail, reason] of bad) {
      const token = accessToken({
        authorization_details: [{ type: 'mercure', actions: ['publish'], topics: [{ match: 'ok' }] }, detail],
      })
      expect(await refusal(token)).toMatch(reason)
    }
    expect(await refusal(accessToken({ authorization_details: { type: 'mercure' } }))).toMatch(/not an array/)
  })

  it('verify a configured issuer’s token with that issuer’s key (RS256), and no other', async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 }) as unknown as {
      publicKey: KeyObject
      privateKey: KeyObject
    }
    const issuerKey = secretKey(publicKey.export({ type: 'spki', format: 'pem' }).toString())
    const key = { ...secretKey(SECRET), issuers: new Map([['https://auth.example.com', issuerKey]]) }
    const signed = await new SignJWT({
      authorization_details: [{ type: 'mercure', actions: ['subscribe'], topics: [{ match: 'x' }] }],
    })
      .setProtectedHeader({ alg: 'RS256', typ: 'at+jwt' })
      .setIssuer('https://auth.example.com')
      .setAudience(HUB)
      .setExpirationTime('1h')
      .sign(privateKey)
    expect((await verifyToken(signed, key, policy)).subscribe).toHaveLength(1)
    // The hub's own secret does not verify a token that names that issuer.
    expect(await refusal(accessToken({}), policy, key)).toMatch(/algorithm/)
  })

  it('leave 0.x tokens as they were: no aud or exp required', async () => {
    const old = await new SignJWT({ mercure: { publish: ['*'] } })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(hmac)
    expect((await verifyToken(old, secretKey(SECRET), policy)).publish).toHaveLength(1)
  })
})
