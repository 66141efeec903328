import { generateKeyPairSync, type KeyObject } from 'node:crypto'
import { SignJWT } from 'jose'
import { describe, expect, it } from 'vitest'
import { AuthorizationError, secretKey, signToken, tokenOf, verifyToken } from './authorization.js'
import { selectorMatches } from './topic-selector.js'

const claims = { mercure: { publish: ['https://example.com/{id}'], subscribe: ['*'], payload: { user: 1 } } }

describe('tokens', () => {
  it('reads the mercure claim and RFC 9396 authorization_details', async () => {
    const secret = 'a secret that is long enough!!!!'
    const verified = await verifyToken(await signToken(secret, claims.mercure), secretKey(secret))
    expect(selectorMatches(verified.publish[0] as never, 'https://example.com/7')).toBe(true)
    expect(verified.payload).toEqual({ user: 1 })
    const details = await new SignJWT({
      authorization_details: [
        { type: 'mercure', actions: ['publish'], locations: ['https://example.com/a'] },
      ],
    })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new TextEncoder().encode(secret))
    const fromDetails = await verifyToken(details, secretKey(secret))
    expect(fromDetails.publish).toHaveLength(1)
    expect(fromDetails.subscribe).toHaveLength(0)
  })

  it.each([
    ['rsa', 'RS256', { modulusLength: 2048 }],
    ['ec', 'ES256', { namedCurve: 'P-256' }],
  ] as const)(
    'verifies %s keys (%s) and refuses an HS256 token made with the public key as secret',
    async (type, alg, options) => {
      const { publicKey, privateKey } = generateKeyPairSync(
        type as 'rsa',
        options as { modulusLength: number },
      ) as unknown as {
        publicKey: KeyObject
        privateKey: KeyObject
      }
      const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString()
      const key = secretKey(pem)
      const good = await new SignJWT(claims).setProtectedHeader({ alg }).sign(privateKey)
      expect((await verifyToken(good, key)).subscribe).toHaveLength(1)
      // Algorithm confusion: the public key (which is public) used as an HMAC secret.
      const forged = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'HS256' })
        .sign(new TextEncoder().encode(pem))
      await expect(verifyToken(forged, key)).rejects.toBeInstanceOf(AuthorizationError)
    },
  )

  it('verifies a token once, serves it again until it expires, and never under another key', async () => {
    const secret = 'a secret that is long enough!!!!'
    const key = secretKey(secret)
    // A few seconds of life: `exp` is whole seconds from the signing second, so a 1-second token
    // signed late in a second could expire before a loaded machine verified it the first time.
    const token = await signToken(secret, claims.mercure, 3)
    const first = await verifyToken(token, key)
    expect(await verifyToken(token, key)).toBe(first)
    // The same token under another key is checked against that key.
    await expect(verifyToken(token, secretKey('another secret, long enough!!!!!'))).rejects.toThrow(
      'the token is invalid',
    )
    // `exp` has one-second precision: past it (and the cache with it), the token is refused.
    await new Promise((resolve) => setTimeout(resolve, 4100))
    await expect(verifyToken(token, key)).rejects.toThrow('the token has expired')
  })

  it('takes the token from the Authorization header or the cookies, never elsewhere', () => {
    expect(tokenOf({ authorization: 'Bearer abc' })).toBe('abc')
    expect(tokenOf({ cookie: 'a=1; mercureAuthorization=xyz' })).toBe('xyz')
    expect(tokenOf({ cookie: '__Secure-mercure_access_token=q=' })).toBe('q=')
    expect(tokenOf({ authorization: 'Basic abc' })).toBeUndefined()
  })
})
