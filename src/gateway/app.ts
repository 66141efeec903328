import { readFileSync } from 'node:fs'
import http, { type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import http2, { type Http2SecureServer, type Http2ServerRequest, type Http2Session } from 'node:http2'
import type { AddressInfo, Socket } from 'node:net'
import type { Logger } from 'pino'
import { createMercureHandler, PROTECTED_RESOURCE_METADATA_PATH } from '../hub/mercure-http.js'
import { GENERATIONS_PREFIX } from '../llm/generation/stored-generations.js'
import { Access } from '../llm/routes/access.js'
import { encodeEvent } from '../protocol/encoder.js'
import { verifyDirectWrites } from '../server/direct-writes.js'
import {
  type CorsOptions,
  corsHeaders,
  createEventStream,
  type EventStream,
  type EventStreamOptions,
} from '../server/index.js'
import { type NodeResponse, sendError, sendJson } from '../server/json-response.js'
import { ReadCapabilities } from '../streams/capability.js'
import { createStreamsHandler, STREAM_REQUEST_HEADERS, STREAM_RESPONSE_HEADERS } from '../streams/http.js'
import { type GatewayConfig, readPem } from './config.js'
import { serveDemoStream } from './demo-stream.js'
import { createHubFromConfig, type HubSetup, verificationKeys } from './hub-setup.js'
import { createLlmProxyFromConfig } from './llm-setup.js'
import { createLogger } from './logger.js'
import { createMetrics } from './metrics.js'
import { routeUrl } from './request-target.js'
import { StatsSampler } from './stats.js'
import { loadAsset } from './web-assets.js'

/** The remote address a response counts against (`--max-connections-per-ip`). */
const kAddress = Symbol('streamgate.address')
type AddressHolder = NodeResponse & { [kAddress]?: string }
/** Responses in flight on an HTTP/1.1 connection: one that has none can be closed at shutdown. */
const kResponses = Symbol('streamgate.responsesInFlight')
type CountedSocket = Socket & { [kResponses]?: number }

export interface Gateway {
  readonly server: Server | Http2SecureServer
  /** Starts listening; resolves with the base URL (with the real port when `port` was 0). */
  listen(): Promise<string>
  /** Graceful shutdown: every open stream gets a `retry` hint and ends, then connections close. */
  close(): Promise<void>
  /** Streams open right now. */
  readonly openStreams: ReadonlySet<EventStream>
  readonly logger: Logger
  readonly hubSetup: HubSetup
}

/** Mercure discovery: where the hub of this gateway is. */
const VERSION = (
  JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
).version
const MERCURE_DISCOVERY = '</.well-known/mercure>; rel="mercure"'
/**
 * The pages load only their own scripts, styles and data, are framed by no one (clickjacking) and
 * send no referrer: with a model's text rendered in them, a script that slipped through would
 * still have nowhere to load from or send to.
 */
const PAGE_SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
}

/** How long clients wait before reconnecting to a gateway that shut down (a restart, a deploy). */
const SHUTDOWN_RETRY_MS = 1000
/** How long shutdown waits for the store to take the ends of the running generations. */
const GENERATIONS_CLOSE_MS = 3000

const delay = (ms: number) =>
  new Promise<void>((resolve) => {
    setTimeout(resolve, ms).unref()
  })
/** After this, connections that did not close by themselves are destroyed. */
const SHUTDOWN_GRACE_MS = 3000

export function createGateway(
  config: GatewayConfig,
  logger: Logger = createLogger(config.logLevel).logger,
): Gateway {
  const startedAt = Date.now()
  const openStreams = new Set<EventStream>()
  const sockets = new Set<Socket>()
  const sessions = new Set<Http2Session>()
  const cors: CorsOptions = {
    origin: config.corsOrigin,
    exposeHeaders: ['Last-Event-ID', 'Streamgate-Generation-Id', ...STREAM_RESPONSE_HEADERS],
  }
  const streamOptions: EventStreamOptions = {
    heartbeat: config.heartbeat * 1000,
    maxBufferedBytes: config.subscriberBuffer,
    cors,
  }
  let connectionCount = 0
  const hubSetup = createHubFromConfig(config)
  const mercure = createMercureHandler(hubSetup.hub, {
    ...verificationKeys(hubSetup),
    anonymous: config.anonymous,
    maxBody: config.maxBody,
    subscriptions: config.subscriptions,
    maxTopics: config.maxTopics,
    maxWildcards: config.maxWildcards,
    publishOrigins: config.publishOrigin,
    audiences: config.jwtAudience,
    issuers: config.jwtIssuer,
    streamOptions,
    onStream: (stream, request) => trackStream(stream, request, '/.well-known/mercure'),
  })
  // With gateway keys (as on the LLM routes), every stream operation needs one, or for a read a
  // capability URL signed with them; without keys, on loopback, the routes are open.
  const streamKeys = new Access({ apiKeys: config.apiKey, requestsPerMinute: 0, concurrentStreams: 0 })
  const streams = createStreamsHandler(hubSetup.streamStore, {
    holdsKey: (request) => streamKeys.identify(request.headers) !== undefined,
    capabilities: new ReadCapabilities(config.apiKey),
    maxLiveReaders: config.streamReaders,
    maxStreamBytes: config.streamMaxBytes || undefined,
    maxStreams: config.maxStreams || undefined,
    maxAppendBytes: config.maxBody,
    longPollMs: config.streamLongPoll * 1000,
    eventStreamOptions: streamOptions,
    onStream: (stream, request) => trackStream(stream, request, '/v1/stream'),
    readOnlyPrefixes: [GENERATIONS_PREFIX],
  })
  const metrics = createMetrics(hubSetup.hub, () => openStreams.size)
  const llm = createLlmProxyFromConfig(
    config,
    streamOptions,
    {
      request: metrics.llmRequest,
      generationFinished: (generation) => {
        metrics.llmGeneration(generation)
        logger.info(
          {
            generation: generation.id,
            key: generation.options.keyId,
            state: generation.state,
            error: generation.error,
            model: generation.model,
            usage: generation.usage(),
          },
          'generation finished',
        )
      },
    },
    hubSetup.streamStore,
  )

  const stats = new StatsSampler(
    hubSetup.hub,
    () => openStreams.size,
    () => llm.generations.running,
    () => ({ count: hubSetup.streamStore.count(), readers: streams.live.total }),
  )

  /** The web pages and their scripts; false when the path is not one. */
  async function serveAsset(response: NodeResponse, pathname: string): Promise<boolean> {
    const asset = await loadAsset(pathname)
    if (asset === undefined) return false
    ;(response as ServerResponse).writeHead(200, {
      'content-type': asset.contentType,
      'content-length': String(asset.body.length),
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      ...(asset.contentType.startsWith('text/html')
        ? { link: MERCURE_DISCOVERY, ...PAGE_SECURITY_HEADERS }
        : {}),
    })
    response.end(asset.body)
    return true
  }

  function trackStream(
    stream: EventStream,
    request: IncomingMessage | Http2ServerRequest,
    path: string,
  ): void {
    const connection = ++connectionCount
    const opened = Date.now()
    openStreams.add(stream)
    logger.info(
      {
        connection,
        path,
        remote: request.socket.remoteAddress,
        lastEventId: stream.lastEventId || undefined,
      },
      'stream open',
    )
    stream.onClose((reason) => {
      openStreams.delete(stream)
      logger.info({ connection, path, reason, durationMs: Date.now() - opened }, 'stream closed')
    })
  }

  async function handle(
    request: IncomingMessage | Http2ServerRequest,
    response: NodeResponse,
  ): Promise<void> {
    const url = routeUrl(request.url ?? '/')
    if (url === undefined) {
      sendError(
        response,
        400,
        'SG_ERR_BAD_REQUEST',
        'the request path is not in normal form (a leading //, a dot segment or a backslash)',
      )
      return
    }
    const method = request.method ?? 'GET'
    if (method === 'OPTIONS') {
      answerPreflight(request, response, cors)
      return
    }
    if ((method === 'GET' || method === 'HEAD') && (await serveAsset(response, url.pathname))) return
    if (url.pathname.startsWith('/v1/')) {
      const origin = request.headers.origin
      for (const [name, value] of Object.entries(
        corsHeaders(cors, Array.isArray(origin) ? origin[0] : origin),
      ))
        response.setHeader(name, value)
      if (url.pathname === '/v1/stream-capabilities') await streams.mintCapability(request, response)
      else if (url.pathname.startsWith('/v1/stream/')) await streams.handle(request, response, url)
      else await llm.handle(request, response, url)
      return
    }
    if (url.pathname.startsWith('/.well-known/mercure/')) {
      await mercure(request, response, url)
      return
    }
    switch (url.pathname) {
      case '/stream':
        await serveDemoStream(request, response, url, streamOptions, (stream) =>
          trackStream(stream, request, url.pathname),
        )
        return
      case '/.well-known/mercure':
      case PROTECTED_RESOURCE_METADATA_PATH:
        await mercure(request, response, url)
        return
      case '/metrics':
        if (method !== 'GET' && method !== 'HEAD') break
        response.writeHead(200, { 'content-type': metrics.registry.contentType })
        response.end(await metrics.registry.metrics())
        return
      case '/healthz':
        if (method !== 'GET' && method !== 'HEAD') break
        sendJson(response, 200, {
          status: 'ok',
          uptimeSeconds: Math.round((Date.now() - startedAt) / 1000),
          openStreams: openStreams.size,
          subscribers: hubSetup.hub.subscribers.size,
        })
        return
      case '/api/info':
        if (method !== 'GET' && method !== 'HEAD') break
        sendJson(response, 200, {
          version: VERSION,
          upstreams: { openai: llm.upstreams.openai, anthropic: llm.upstreams.anthropic },
          keyRequired: config.apiKey.length > 0,
          resumeGraceSeconds: config.resumeGrace,
        })
        return
      case '/api/stats':
        if (method !== 'GET' && method !== 'HEAD') break
        sendJson(response, 200, { latest: stats.latest, history: stats.history })
        return
      case '/api/stats/stream': {
        if (method !== 'GET') break
        const stream = createEventStream(request, response, streamOptions)
        trackStream(stream, request, url.pathname)
        stream.offer(encodeEvent({ event: 'history', data: JSON.stringify(stats.history) }))
        const unsubscribe = stats.subscribe((sample) => {
          stream.offer(encodeEvent({ event: 'sample', data: JSON.stringify(sample) }))
        })
        stream.onClose(unsubscribe)
        return
      }
      default:
        sendError(response, 404, 'SG_ERR_NOT_FOUND', `no route for ${url.pathname}`)
        return
    }
    sendError(response, 405, 'SG_ERR_METHOD_NOT_ALLOWED', `${method} is not allowed on ${url.pathname}`)
  }

  const openPerAddress = new Map<string, number>()

  function releaseAddress(this: AddressHolder): void {
    const address = this[kAddress] ?? 'unknown'
    const left = (openPerAddress.get(address) ?? 1) - 1
    if (left <= 0) openPerAddress.delete(address)
    else openPerAddress.set(address, left)
  }

  function countResponseDone(this: NodeResponse): void {
    const socket = this.req.socket as CountedSocket
    socket[kResponses] = (socket[kResponses] ?? 1) - 1
  }

  function onRequest(request: IncomingMessage | Http2ServerRequest, response: NodeResponse): void {
    if (request.httpVersionMajor === 1) {
      const socket = request.socket as CountedSocket
      socket[kResponses] = (socket[kResponses] ?? 0) + 1
      response.on('close', countResponseDone)
    }
    // A bound on what one address holds open (streams are long): connection-count denial of service.
    const address = request.socket.remoteAddress ?? 'unknown'
    const open = openPerAddress.get(address) ?? 0
    if (config.maxConnectionsPerIp > 0 && open >= config.maxConnectionsPerIp) {
      sendError(
        response,
        429,
        'SG_ERR_TOO_MANY_CONNECTIONS',
        `${address} already has ${open} requests or streams open (--max-connections-per-ip ${config.maxConnectionsPerIp})`,
        { 'retry-after': '5' },
      )
      return
    }
    openPerAddress.set(address, open + 1)
    // One listener for all responses, `on`, not `once` (here and for sockets below): 'close' comes
    // once, and a closure or a `once` wrapper per response costs memory on every idle stream.
    ;(response as AddressHolder)[kAddress] = address
    response.on('close', releaseAddress)
    handle(request, response).catch((error: unknown) => {
      // The path only: a query string may carry what a client should not have put there (a token).
      logger.error({ err: error, path: (request.url ?? '/').split('?')[0] }, 'request failed')
      sendError(response, 500, 'SG_ERR_INTERNAL', 'internal error')
    })
  }

  const server = createServer(config, onRequest)
  const forgetSocket = function (this: Socket) {
    sockets.delete(this)
  }
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', forgetSocket)
  })
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', forgetSocket)
  })
  server.on('session', (session: Http2Session) => {
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
  })

  return {
    server,
    openStreams,
    logger,
    hubSetup,
    listen: async () => {
      // Settled before the first client, so that every stream takes the same write path.
      const directWrites = await verifyDirectWrites()
      logger.debug({ directWrites }, 'HTTP/1.1 frames straight to the socket')
      return new Promise((resolve, reject) => {
        server.once('error', reject)
        server.listen(config.port, config.host, () => {
          server.off('error', reject)
          const { port } = server.address() as AddressInfo
          const scheme = config.tlsCert === undefined ? 'http' : 'https'
          const host = config.host.includes(':') ? `[${config.host}]` : config.host
          resolve(`${scheme}://${host}:${port}`)
        })
      })
    },
    close: async () => {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      // Running generations end first (stored as interrupted), so that their viewers get that end.
      await Promise.race([llm.close(), delay(GENERATIONS_CLOSE_MS)])
      streams.close()
      stats.close()
      for (const stream of openStreams) stream.close({ retry: SHUTDOWN_RETRY_MS })
      for (const session of sessions) session.close()
      if ('closeIdleConnections' in server) {
        server.closeIdleConnections()
        // closeIdleConnections spares a connection that never sent a request (clients open spares
        // ahead of need): without a response in flight, nothing is lost by closing it.
        for (const socket of sockets) {
          if (!((socket as CountedSocket)[kResponses] ?? 0)) socket.destroy()
        }
      }
      const timer = setTimeout(() => {
        for (const socket of sockets) socket.destroy()
      }, SHUTDOWN_GRACE_MS)
      await closed
      clearTimeout(timer)
      await hubSetup.hub.close()
      await hubSetup.closeStores()
    },
  }
}

function createServer(
  config: GatewayConfig,
  onRequest: (request: IncomingMessage | Http2ServerRequest, response: NodeResponse) => void,
): Server | Http2SecureServer {
  // Slowloris: a client gets --header-timeout to send its headers; Node checks every second.
  const headerMs = config.headerTimeout * 1000
  const timeouts = {
    headersTimeout: headerMs,
    requestTimeout: Math.max(headerMs, 30_000),
    connectionsCheckingInterval: 1000,
  }
  if (config.tlsCert === undefined || config.tlsKey === undefined)
    return http.createServer(timeouts, onRequest)
  // HTTP/2 lets a browser hold many streams on one connection (HTTP/1.1 allows six per origin);
  // HTTP/1.1 stays available for clients that do not speak HTTP/2.
  const server = http2.createSecureServer(
    {
      cert: readPem(config.tlsCert, '--tls-cert'),
      key: readPem(config.tlsKey, '--tls-key'),
      allowHTTP1: true,
      // A TLS handshake is part of what comes before the headers.
      handshakeTimeout: headerMs,
    },
    onRequest,
  )
  // createSecureServer takes no timeouts: its HTTP/1.1 side reads them from the server (60 s and
  // 5 min by default, checked every 30 s), and they must be set before it listens.
  Object.assign(server, timeouts)
  server.on('session', (session) => closeWhenIdle(session, headerMs))
  return server
}

/**
 * An HTTP/2 session with no open stream gets --header-timeout to open one, then is closed (GOAWAY):
 * an idle connection costs as much as a slow one. Sessions with streams open (an SSE stream,
 * however quiet) are left alone.
 */
function closeWhenIdle(session: http2.ServerHttp2Session, idleMs: number): void {
  let open = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  const arm = () => {
    timer = setTimeout(() => session.close(), idleMs)
    timer.unref()
  }
  arm()
  session.on('stream', (stream) => {
    clearTimeout(timer)
    open++
    stream.once('close', () => {
      if (--open === 0 && !session.closed) arm()
    })
  })
  session.once('close', () => clearTimeout(timer))
}

function answerPreflight(
  request: IncomingMessage | Http2ServerRequest,
  response: NodeResponse,
  cors: CorsOptions,
): void {
  const origin = request.headers.origin
  response.writeHead(204, {
    ...corsHeaders(cors, Array.isArray(origin) ? origin[0] : origin),
    'access-control-allow-methods': 'GET, HEAD, POST, PUT, DELETE, OPTIONS',
    // The SDKs' own headers too: a browser app may call the LLM routes and streams with them.
    'access-control-allow-headers':
      request.headers['access-control-request-headers'] ??
      `Authorization, Content-Type, Last-Event-ID, Cache-Control, X-Api-Key, Anthropic-Version, If-None-Match, ${STREAM_REQUEST_HEADERS.join(', ')}`,
    'access-control-max-age': '600',
  })
  response.end()
}
