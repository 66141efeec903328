import { createPublicKey, createSecretKey, type KeyObject } from 'node:crypto'
import { errors, jwtVerify, SignJWT } from 'jose'
import {
  exactSelector,
  SelectorError,
  type TopicSelector,
  uriTemplateSelector,
  urlPatternSelector,
} from './topic-selector.js'

/** What a verified token allows: topic selectors for publishing and for private updates. */
export interface Claims {
  publish: TopicSelector[]
  subscribe: TopicSelector[]
  /** The `mercure.payload` claim, shown in the subscriptions API. */
  payload: unknown
  /** When the token expires (`exp`, milliseconds since the epoch); Infinity without one. */
  expiresAt: number
}

export interface VerificationKey {
  key: KeyObject | Uint8Array
  /** Accepted algorithms; anything else (including `none`) is refused. */
  algorithms: string[]
}

export class AuthorizationError extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly code: 'SG_ERR_UNAUTHORIZED' | 'SG_ERR_FORBIDDEN',
    message: string,
  ) {
    super(message)
    this.name = 'AuthorizationError'
  }
}

/**
 * The verification key from a configured value: a PEM public key (RSA: RS256/384/512; EC:
 * ES256/384/512, by curve) when it is one, else an HS256 shared secret. Only the algorithms of that
 * key are accepted, so a token cannot choose another (algorithm confusion), and never `none`.
 */
export function secretKey(secret: string): VerificationKey {
  if (!secret.includes('-----BEGIN')) {
    return { key: createSecretKey(Buffer.from(secret, 'utf8')), algorithms: ['HS256'] }
  }
  const key = createPublicKey(secret)
  if (key.asymmetricKeyType === 'rsa') return { key, algorithms: ['RS256', 'RS384', 'RS512'] }
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve
    const algorithm = curve === 'secp384r1' ? 'ES384' : curve === 'secp521r1' ? 'ES512' : 'ES256'
    return { key, algorithms: [algorithm] }
  }
  throw new Error(`unsupported public key type ${key.asymmetricKeyType}: use RSA or EC`)
}

/**
 * The token of a request: `Authorization: Bearer`, else the cookie (`mercureAuthorization`, or the
 * `__Secure-mercure_access_token` of newer clients). Never from the URL.
 */
export function tokenOf(headers: { authorization?: string; cookie?: string }): string | undefined {
  const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')
  if (bearer) return bearer[1]
  for (const part of (headers.cookie ?? '').split(';')) {
    const [name, ...value] = part.trim().split('=')
    if (name === 'mercureAuthorization' || name === '__Secure-mercure_access_token') return value.join('=')
  }
  return undefined
}

/**
 * Verifies signature, algorithm and expiry, and reads the Mercure claims: the `mercure` claim's
 * `publish` and `subscribe` arrays, and RFC 9396 `authorization_details` entries of type `mercure`
 * (`actions` publish/subscribe, `locations` the topic selectors).
 */
export async function verifyToken(token: string, verification: VerificationKey): Promise<Claims> {
  const cache = verified.get(verification) ?? new Map<string, VerifiedToken>()
  verified.set(verification, cache)
  const known = cache.get(token)
  if (known !== undefined && Date.now() < known.until) return known.claims
  cache.delete(token)
  let payload: Record<string, unknown>
  try {
    ;({ payload } = await jwtVerify(token, verification.key, { algorithms: verification.algorithms }))
  } catch (error) {
    const reason =
      error instanceof errors.JWTExpired
        ? 'the token has expired'
        : error instanceof errors.JOSEAlgNotAllowed
          ? 'the token is signed with an algorithm that is not accepted'
          : 'the token is invalid'
    throw new AuthorizationError(401, 'SG_ERR_UNAUTHORIZED', reason)
  }
  const expiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : Number.POSITIVE_INFINITY
  const claims: Claims = { publish: [], subscribe: [], payload: undefined, expiresAt }
  const mercure = payload.mercure as { publish?: unknown; subscribe?: unknown; payload?: unknown } | undefined
  claims.publish.push(...selectorsOf(mercure?.publish))
  claims.subscribe.push(...selectorsOf(mercure?.subscribe))
  claims.payload = mercure?.payload
  const details = Array.isArray(payload.authorization_details) ? payload.authorization_details : []
  for (const detail of details as { type?: unknown; actions?: unknown; locations?: unknown }[]) {
    if (detail?.type !== 'mercure' || !Array.isArray(detail.actions)) continue
    if (detail.actions.includes('publish')) claims.publish.push(...selectorsOf(detail.locations))
    if (detail.actions.includes('subscribe')) claims.subscribe.push(...selectorsOf(detail.locations))
  }
  if (cache.size >= MAX_VERIFIED_TOKENS) cache.delete(cache.keys().next().value as string)
  cache.set(token, {
    claims: Object.freeze(claims),
    until: Math.min(expiresAt, Date.now() + VERIFIED_FOR_MS),
  })
  return claims
}

interface VerifiedToken {
  claims: Claims
  /** Until when the verification holds: the token's expiry, and at most VERIFIED_FOR_MS. */
  until: number
}

/**
 * Tokens verified lately, per key. A publisher sends the same token with every update, and a
 * signature check (HMAC through WebCrypto: a trip to the thread pool) delayed each update's
 * fan-out by a turn of the event loop. The same token string under the same key verifies the same
 * way until it expires; a bounded number are kept, the oldest dropped first.
 */
const verified = new WeakMap<VerificationKey, Map<string, VerifiedToken>>()
const MAX_VERIFIED_TOKENS = 1000
const VERIFIED_FOR_MS = 60_000

/**
 * Claim entries: strings (0.x: exact topics, `*`, URI templates), or objects of Mercure 1.0
 * (`{ match, matchType }`, matchType `exact`, `urlpattern` or `uritemplate`).
 */
function selectorsOf(value: unknown): TopicSelector[] {
  if (!Array.isArray(value)) return []
  const selectors: TopicSelector[] = []
  for (const entry of value) {
    try {
      if (typeof entry === 'string') {
        selectors.push(entry.includes('{') ? uriTemplateSelector(entry) : exactSelector(entry))
      } else if (typeof entry?.match === 'string') {
        const type = String(entry.matchType ?? 'exact').toLowerCase()
        if (type === 'exact') selectors.push(exactSelector(entry.match))
        else if (type === 'urlpattern') selectors.push(urlPatternSelector(entry.match))
        else if (type === 'uritemplate') selectors.push(uriTemplateSelector(entry.match))
      }
    } catch (error) {
      // A selector this hub cannot match grants nothing.
      if (!(error instanceof SelectorError)) throw error
    }
  }
  return selectors
}

/** Mints a token (the `token` command; tests). */
export async function signToken(
  secret: string,
  claims: { publish?: string[]; subscribe?: string[]; payload?: unknown },
  ttlSeconds?: number,
): Promise<string> {
  const jwt = new SignJWT({ mercure: claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt()
  if (ttlSeconds !== undefined) jwt.setExpirationTime(`${ttlSeconds}s`)
  return jwt.sign(createSecretKey(Buffer.from(secret, 'utf8')))
}
