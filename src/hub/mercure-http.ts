import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2'
import { encodeEvent } from '../protocol/encoder.js'
import {
  createEventStream,
  DEFAULT_MAX_BUFFERED_BYTES,
  type EventStream,
  type EventStreamOptions,
} from '../server/index.js'
import { sendError, sendJson } from '../server/json-response.js'
import { BodyTooLargeError, readRequestBody } from '../server/request-body.js'
import { requestOrigin } from '../server/request-origin.js'
import {
  AuthorizationError,
  type Claims,
  tokenOf,
  type VerificationKey,
  verifyToken,
} from './authorization.js'
import type { Hub } from './hub.js'
import { checkMediaType, PublishError, parsePublishBody } from './publish-request.js'
import { DuplicateIdError, type ResumePoint, StoreUnavailableError } from './store/store.js'
import { Subscriber } from './subscriber.js'
import { listSubscriptions, publishPresence, SUBSCRIPTIONS_PATH } from './subscriptions.js'
import {
  checkWildcards,
  DEFAULT_MAX_WILDCARDS,
  exactSelector,
  SelectorError,
  selectorMatches,
  type TopicSelector,
  uriTemplateSelector,
  urlPatternSelector,
} from './topic-selector.js'

type Request = IncomingMessage | Http2ServerRequest
type Response = ServerResponse | Http2ServerResponse

export interface MercureOptions {
  publisherKey: VerificationKey
  subscriberKey: VerificationKey
  /** Subscribers without a token receive public updates. */
  anonymous: boolean
  /** Largest publish body, in bytes. */
  maxBody: number
  streamOptions: EventStreamOptions
  /** Publish presence updates and answer the active subscriptions API. */
  subscriptions?: boolean
  /** Topic selectors one subscription may hold, and topics one update may have (default 100). */
  maxTopics?: number
  /** Wildcards over the patterns of one subscription (default 64): what its matching may cost. */
  maxWildcards?: number
  /**
   * Origins whose pages may publish with a token in the Mercure cookie (`publish_origins` of the
   * reference hub). A browser sends the cookie with a form posted from any site: without this
   * check, any page a logged-in user opens could publish in their name (CSRF). Default: none.
   */
  publishOrigins?: readonly string[]
  /** Each subscription's stream, for the application's registry (logs, shutdown). */
  onStream?: (stream: EventStream, request: Request) => void
  /**
   * The hub's resource identifiers, one of which a current-specification token (`typ: at+jwt`)
   * must name in `aud`. Default: the hub's URL as the request reached it.
   */
  audiences?: readonly string[]
  /** The `iss` values accepted from current-specification tokens; empty: any. */
  issuers?: readonly string[]
}

/** RFC 9728 metadata of the hub (`spec/mercure.md` §Protected Resource Metadata). */
export const PROTECTED_RESOURCE_METADATA_PATH = '/.well-known/oauth-protected-resource/.well-known/mercure'
/** The revision of the Mercure protocol whose tokens and metadata the hub implements. */
const MERCURE_VERSION = 8

/** Selectors per subscription by default: more is a denial of service, not a use case. */
const MAX_SELECTORS = 100
/** When a client whose replay was cut (see `Hub#subscribe`) comes back for the rest. */
const CATCH_UP_RETRY_MS = 100

/**
 * The Mercure hub endpoint (`/.well-known/mercure`): GET subscribes, POST publishes. The current
 * specification's parameters (`match`/`matchExact`, `matchURLPattern`, also spelled
 * `match_urlpattern`, `last_event_id`) and the 0.x ones (`topic` as URI template, `lastEventID`)
 * are all understood.
 */
export function createMercureHandler(hub: Hub, options: MercureOptions) {
  return async (request: Request, response: Response, url: URL): Promise<void> => {
    try {
      if (url.pathname === PROTECTED_RESOURCE_METADATA_PATH) {
        if (request.method !== 'GET' && request.method !== 'HEAD') {
          fail(response, 405, 'SG_ERR_METHOD_NOT_ALLOWED', 'read the metadata with GET')
          return
        }
        sendJson(response, 200, protectedResourceMetadata(request, options), {
          'cache-control': 'max-age=300',
        })
        return
      }
      if (url.pathname !== '/.well-known/mercure') {
        if (
          !options.subscriptions ||
          !url.pathname.startsWith(SUBSCRIPTIONS_PATH) ||
          request.method !== 'GET'
        ) {
          fail(response, 404, 'SG_ERR_NOT_FOUND', `no route for ${url.pathname}`)
          return
        }
        const claims = await claimsOf(request, options.subscriberKey, options)
        if (claims === undefined) {
          throw new AuthorizationError(
            401,
            'SG_ERR_UNAUTHORIZED',
            'the subscriptions API requires a subscriber token',
          )
        }
        const { status, document } = await listSubscriptions(hub, url.pathname, claims.subscribe)
        // The cursor (the last event id) also in the hub link, as discovery gives it (§Discovery).
        const cursor = (document as { lastEventID?: unknown }).lastEventID
        const link: Record<string, string> =
          typeof cursor === 'string'
            ? { link: `</.well-known/mercure>; rel="mercure"; last-event-id="${encodeURIComponent(cursor)}"` }
            : {}
        sendJson(response, status, document, link, 'application/ld+json')
        return
      }
      if (request.method === 'GET') await subscribe(hub, options, request, response, url)
      else if (request.method === 'POST') await publish(hub, options, request, response)
      else
        fail(response, 405, 'SG_ERR_METHOD_NOT_ALLOWED', 'the hub answers GET (subscribe) and POST (publish)')
    } catch (error) {
      if (error instanceof AuthorizationError) {
        fail(response, error.status, error.code, error.message, error.bearerError)
      } else if (error instanceof PublishError) {
        fail(response, error.status, error.code, error.message)
      } else if (error instanceof SelectorError) {
        fail(response, 400, error.code, error.message)
      } else if (error instanceof DuplicateIdError) {
        fail(response, 400, error.code, error.message)
      } else if (error instanceof StoreUnavailableError) {
        fail(response, 503, error.code, error.message)
      } else throw error
    }
  }
}

async function claimsOf(
  request: Request,
  key: VerificationKey,
  options: MercureOptions,
): Promise<Claims | undefined> {
  const token = tokenOf({
    authorization: request.headers.authorization,
    cookie: request.headers.cookie,
  })
  if (token === undefined) return undefined
  return verifyToken(token, key, {
    audiences: options.audiences ?? [hubUrlOf(request)],
    issuers: options.issuers ?? [],
  })
}

/**
 * What a client needs to get a token for this hub (RFC 9728): the resource identifier to put in
 * `aud`, the accepted issuers, how to present the token. Tokens in the URL are not accepted here.
 */
function protectedResourceMetadata(request: Request, options: MercureOptions) {
  return {
    resource: options.audiences?.[0] ?? hubUrlOf(request),
    ...(options.issuers !== undefined && options.issuers.length > 0
      ? { authorization_servers: options.issuers }
      : {}),
    bearer_methods_supported: ['header'],
    mercure_cookie: true,
    mercure_version: MERCURE_VERSION,
  }
}

/** The hub's URL as the request reached it: its default resource identifier. */
function hubUrlOf(request: Request): string {
  return `${requestOrigin(request)}/.well-known/mercure`
}

async function subscribe(hub: Hub, options: MercureOptions, request: Request, response: Response, url: URL) {
  const claims = await claimsOf(request, options.subscriberKey, options)
  if (claims === undefined && !options.anonymous) {
    throw new AuthorizationError(401, 'SG_ERR_UNAUTHORIZED', 'this hub requires a subscriber token')
  }
  const all = (...names: string[]) => names.flatMap((name) => url.searchParams.getAll(name))
  const selectors: TopicSelector[] = [
    ...all('match', 'matchExact').map(exactSelector),
    ...all('match_urlpattern', 'matchURLPattern').map(urlPatternSelector),
    ...all('topic').map(uriTemplateSelector),
  ]
  if (selectors.length === 0) {
    throw new PublishError(
      400,
      'SG_ERR_BAD_REQUEST',
      'subscribe with at least one topic selector (match=, topic=)',
    )
  }
  const maxTopics = options.maxTopics ?? MAX_SELECTORS
  if (selectors.length > maxTopics) {
    throw new PublishError(
      429,
      'SG_ERR_TOO_MANY_TOPICS',
      `at most ${maxTopics} topic selectors per subscription (--max-topics); this one has ${selectors.length}`,
    )
  }
  checkWildcards(selectors, options.maxWildcards ?? DEFAULT_MAX_WILDCARDS)
  const requested = resumeRequested(request, url)
  const subscriber = new Subscriber(selectors, claims?.subscribe ?? [], claims?.payload)
  // Registered from here on: whatever fails before its stream is attached must unregister it, or
  // it would keep every later update in its `pending` for ever.
  let stream: EventStream
  let result: Awaited<ReturnType<Hub['subscribe']>>
  try {
    // A replay holds at most what the stream may buffer for a slow reader.
    const maxReplay = options.streamOptions.maxBufferedBytes ?? DEFAULT_MAX_BUFFERED_BYTES
    result = await hub.subscribe(subscriber, requested, maxReplay)
    // Where this subscription resumed: the id asked for, or "earliest" when it was unknown (a gap).
    const resumedAfter = asHeaderValue(
      requested === undefined
        ? ((await hub.store.newestId()) ?? 'earliest')
        : requested === 'earliest' || !result.known
          ? 'earliest'
          : requested.after,
    )
    stream = createEventStream(request, response, {
      ...options.streamOptions,
      headers: {
        ...options.streamOptions.headers,
        'mercure-last-event-id': resumedAfter,
        'last-event-id': resumedAfter,
      },
    })
  } catch (error) {
    hub.remove(subscriber)
    throw error
  }
  subscriber.stream = stream
  options.onStream?.(stream, request)
  if (requested !== undefined && requested !== 'earliest' && !result.known) {
    // Said as an event too, for clients that cannot read response headers (EventSource).
    stream.offer(
      encodeEvent({
        event: 'streamgate-gap',
        data: JSON.stringify({ requested: requested.after, resumedFrom: 'earliest' }),
      }),
    )
  }
  if (result.cut) {
    // The rest of the history in the next request, from the last id sent: soon, the client is behind.
    hub.replay(subscriber, result.history)
    stream.close({ retry: CATCH_UP_RETRY_MS })
    return
  }
  hub.attach(subscriber, result.history)
  endAtExpiry(stream, claims?.expiresAt ?? Number.POSITIVE_INFINITY)
  if (options.subscriptions) {
    await publishPresence(hub, subscriber, true)
    // At shutdown the store may already be closed: the departure is then simply not recorded.
    stream.onClose(() => {
      publishPresence(hub, subscriber, false).catch(() => {})
    })
  }
}

/**
 * A subscription lives no longer than its token, as in the reference hub: at `exp` the stream ends
 * (with no `retry`: the client reconnects at its own pace with a new token). One timer per
 * subscriber that has a token with an expiry, cleared when the stream closes first.
 */
function endAtExpiry(stream: EventStream, expiresAt: number): void {
  if (!Number.isFinite(expiresAt)) return
  // setTimeout holds at most 2^31 - 1 ms (24.8 days): a later expiry is checked again then.
  const wait = Math.min(Math.max(0, expiresAt - Date.now()), 2 ** 31 - 1)
  const timer = setTimeout(() => {
    if (Date.now() >= expiresAt) stream.close()
    else endAtExpiry(stream, expiresAt)
  }, wait)
  timer.unref()
  stream.onClose(() => clearTimeout(timer))
}

/**
 * An update id as a header value: ids are IRIs, and a header carries only visible ASCII (Node
 * refuses anything above U+00FF). Each other character is percent-encoded as UTF-8 — the IRI to
 * URI mapping of RFC 3987 §3.1. Events carry the id as it is (`id:` lines are UTF-8).
 */
export function asHeaderValue(id: string): string {
  return id.replace(/[^\x21-\x7e]/gu, (character) =>
    // Buffer, not encodeURIComponent: that throws on a lone surrogate.
    Array.from(
      Buffer.from(character, 'utf8'),
      (byte) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`,
    ).join(''),
  )
}

function resumeRequested(request: Request, url: URL): ResumePoint | undefined {
  const header = request.headers['last-event-id']
  const raw =
    (Array.isArray(header) ? header[0] : header) ??
    url.searchParams.get('last_event_id') ??
    url.searchParams.get('lastEventID') ??
    undefined
  if (raw === undefined || raw === '') return undefined
  // Header values arrive as bytes (latin1 in Node); clients send the id UTF-8 encoded.
  const id = header === undefined ? raw : Buffer.from(raw, 'latin1').toString('utf8')
  return id === 'earliest' ? 'earliest' : { after: id }
}

async function publish(hub: Hub, options: MercureOptions, request: Request, response: Response) {
  const claims = await claimsOf(request, options.publisherKey, options)
  if (claims === undefined)
    throw new AuthorizationError(401, 'SG_ERR_UNAUTHORIZED', 'publishing requires a token')
  if (!/^Bearer\s+\S+$/i.test(request.headers.authorization ?? '')) {
    const origin = request.headers.origin
    if (origin === undefined || !(options.publishOrigins ?? []).includes(origin)) {
      throw new AuthorizationError(
        403,
        'SG_ERR_FORBIDDEN',
        `a publish authorized by a cookie must come from an origin allowed by --publish-origin (this one: ${origin ?? 'none'})`,
      )
    }
  }
  if (claims.publish.length === 0) {
    throw new AuthorizationError(
      403,
      'SG_ERR_FORBIDDEN',
      'the token allows no publishing (no mercure.publish claim)',
    )
  }
  const contentType = String(request.headers['content-type'] ?? '')
  checkMediaType(contentType)
  const body = await readBody(request, options.maxBody)
  const update = parsePublishBody(contentType, body, options.maxTopics ?? MAX_SELECTORS)
  const denied = update.topics.find(
    (topic) => !claims.publish.some((selector) => selectorMatches(selector, topic)),
  )
  if (denied !== undefined) {
    throw new AuthorizationError(403, 'SG_ERR_FORBIDDEN', `the token does not allow publishing to ${denied}`)
  }
  const stored = await hub.publish(update)
  ;(response as ServerResponse).writeHead(200, { 'content-type': 'text/plain; charset=utf-8' })
  response.end(stored.id)
}

function readBody(request: Request, maxBody: number): Promise<Uint8Array> {
  return readRequestBody(request, maxBody).catch((error: unknown) => {
    if (error instanceof BodyTooLargeError) throw new PublishError(413, error.code, error.message)
    throw error
  })
}

function fail(response: Response, status: number, code: string, message: string, bearerError?: string): void {
  sendError(
    response,
    status,
    code,
    message,
    status === 401
      ? { 'www-authenticate': `Bearer realm="mercure"${bearerError ? `, error="${bearerError}"` : ''}` }
      : status === 503
        ? { 'retry-after': '1' }
        : {},
  )
}
