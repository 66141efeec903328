import { createPublicKey, createSecretKey, type KeyObject, randomUUID } from 'node:crypto'
import { decodeJwt, decodeProtectedHeader, errors, jwtVerify, SignJWT } from 'jose'
import { grantsOf } from './authorization-details.js'
import { AuthorizationError, invalidToken } from './authorization-error.js'
import {
  exactSelector,
  SelectorError,
  type TopicSelector,
  uriTemplateSelector,
  urlPatternSelector,
} from './topic-selector.js'

export { AuthorizationError }

/** What a verified token allows: topic selectors for publishing and for private updates. */
export interface Claims {
  publish: TopicSelector[]
  subscribe: TopicSelector[]
  /** The `mercure.payload` claim, shown in the subscriptions API. */
  payload: unknown
  /** When the token expires (`exp`, milliseconds since the epoch); Infinity without one. */
  expiresAt: number
  /**
   * A token of the current specification (`typ: at+jwt`, RFC 9068): its `aud` and `iss`, checked
   * against the hub's policy (see `checkPolicy`) on every request.
   */
  accessToken?: { audience: string[]; issuer: string | undefined }
}

export interface VerificationKey {
  key: KeyObject | Uint8Array
  /** Accepted algorithms; anything else (including `none`) is refused. */
  algorithms: string[]
  /**
   * Keys of trusted issuers, by `iss`: a token that names one is verified with its key alone (a
   * token naming no configured issuer, with this key).
   */
  issuers?: ReadonlyMap<string, VerificationKey>
}

/** What the hub requires of current-specification tokens. */
export interface TokenPolicy {
  /** The hub's resource identifiers: one must be in the token's `aud`. */
  audiences: readonly string[]
  /** Accepted `iss` values; empty: any (self-issued tokens, RFC 9068 allows it without metadata). */
  issuers: readonly string[]
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
 * Verifies signature, algorithm and expiry, and reads the Mercure claims: the 0.x `mercure` claim's
 * `publish` and `subscribe` arrays, and the current specification's `authorization_details` (see
 * authorization-details.ts). A token whose header says `typ: at+jwt` (RFC 9068) must also carry
 * `exp`, and its `aud` and `iss` are checked against `policy`; another `typ` than that or `JWT`
 * is refused.
 */
export async function verifyToken(
  token: string,
  verification: VerificationKey,
  policy?: TokenPolicy,
): Promise<Claims> {
  const claims = await verifiedClaims(token, verification)
  if (policy !== undefined) checkPolicy(claims, policy)
  return claims
}

async function verifiedClaims(token: string, verification: VerificationKey): Promise<Claims> {
  const cache = verified.get(verification) ?? new Map<string, VerifiedToken>()
  verified.set(verification, cache)
  const known = cache.get(token)
  if (known !== undefined && Date.now() < known.until) return known.claims
  cache.delete(token)
  const accessToken = isAccessToken(token)
  const key = issuerKey(token, verification) ?? verification
  let payload: Record<string, unknown>
  try {
    ;({ payload } = await jwtVerify(token, key.key, {
      algorithms: key.algorithms,
      requiredClaims: accessToken ? ['exp'] : [],
    }))
  } catch (error) {
    throw invalidToken(verificationFailure(error))
  }
  const expiresAt = typeof payload.exp === 'number' ? payload.exp * 1000 : Number.POSITIVE_INFINITY
  const grants = grantsOf(payload.authorization_details)
  const claims: Claims = { publish: [], subscribe: [], payload: undefined, expiresAt }
  const mercure = payload.mercure as { publish?: unknown; subscribe?: unknown; payload?: unknown } | undefined
  claims.publish.push(...selectorsOf(mercure?.publish), ...grants.publish)
  claims.subscribe.push(...selectorsOf(mercure?.subscribe), ...grants.subscribe)
  claims.payload = mercure?.payload ?? grants.payload
  if (accessToken) {
    const aud = payload.aud
    claims.accessToken = {
      audience:
        typeof aud === 'string'
          ? [aud]
          : Array.isArray(aud)
            ? aud.filter((each) => typeof each === 'string')
            : [],
      issuer: typeof payload.iss === 'string' ? payload.iss : undefined,
    }
  }
  if (cache.size >= MAX_VERIFIED_TOKENS) cache.delete(cache.keys().next().value as string)
  cache.set(token, {
    claims: Object.freeze(claims),
    until: Math.min(expiresAt, Date.now() + VERIFIED_FOR_MS),
  })
  return claims
}

/** `at+jwt` (RFC 9068) or `JWT`/none (0.x); any other `typ` is a token made for something else. */
function isAccessToken(token: string): boolean {
  let typ: unknown
  try {
    typ = decodeProtectedHeader(token).typ
  } catch {
    throw invalidToken('the token is invalid')
  }
  if (typ === undefined) return false
  const type = String(typ)
    .toLowerCase()
    .replace(/^application\//, '')
  if (type === 'at+jwt') return true
  if (type === 'jwt') return false
  throw invalidToken(`the token's typ is ${JSON.stringify(typ).slice(0, 40)}, not at+jwt (an access token)`)
}

/** The key of the issuer the token names, when that issuer is configured. */
function issuerKey(token: string, verification: VerificationKey): VerificationKey | undefined {
  if (verification.issuers === undefined || verification.issuers.size === 0) return undefined
  try {
    const { iss } = decodeJwt(token)
    return typeof iss === 'string' ? verification.issuers.get(iss) : undefined
  } catch {
    return undefined
  }
}

function verificationFailure(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the token has expired'
  if (error instanceof errors.JOSEAlgNotAllowed)
    return 'the token is signed with an algorithm that is not accepted'
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'nbf') return 'the token is not valid yet (nbf)'
    if (error.claim === 'exp') return 'the token has no exp: an access token must expire'
    if (error.claim === 'iat') return 'the token was issued in the future (iat)'
  }
  return 'the token is invalid'
}

/** The checks of a current-specification token that depend on the request: `aud` and `iss`. */
export function checkPolicy(claims: Claims, policy: TokenPolicy): void {
  const access = claims.accessToken
  if (access === undefined) return
  if (!access.audience.some((audience) => policy.audiences.includes(audience)))
    throw invalidToken(`the token's aud does not name this hub (expected ${policy.audiences.join(' or ')})`)
  if (policy.issuers.length > 0 && (access.issuer === undefined || !policy.issuers.includes(access.issuer)))
    throw invalidToken("the token's iss is not an accepted issuer")
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

/** Mints a token of the current specification (the `token` command; tests): RFC 9068 claims. */
export async function signAccessToken(
  secret: string,
  grants: { publish?: string[]; subscribe?: string[]; payload?: unknown },
  options: { issuer: string; audience: string; subject?: string; ttlSeconds: number },
): Promise<string> {
  const details = (['publish', 'subscribe'] as const)
    .filter((action) => grants[action] !== undefined && grants[action].length > 0)
    .map((action) => ({
      type: 'mercure',
      actions: [action],
      topics: (grants[action] as string[]).map((match) => ({ match })),
      ...(action === 'subscribe' && grants.payload !== undefined ? { payload: grants.payload } : {}),
    }))
  const subject = options.subject ?? 'streamgate-cli'
  return new SignJWT({ authorization_details: details, client_id: subject })
    .setProtectedHeader({ alg: 'HS256', typ: 'at+jwt' })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(subject)
    .setIssuedAt()
    .setJti(randomUUID())
    .setExpirationTime(`${options.ttlSeconds}s`)
    .sign(createSecretKey(Buffer.from(secret, 'utf8')))
}

/** Mints a 0.x token, with the `mercure` claim (the `token` command; tests). */
export async function signToken(
  secret: string,
  claims: { publish?: string[]; subscribe?: string[]; payload?: unknown },
  ttlSeconds?: number,
): Promise<string> {
  const jwt = new SignJWT({ mercure: claims }).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).setIssuedAt()
  if (ttlSeconds !== undefined) jwt.setExpirationTime(`${ttlSeconds}s`)
  return jwt.sign(createSecretKey(Buffer.from(secret, 'utf8')))
}
