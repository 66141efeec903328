import { readFileSync } from 'node:fs'
import { rootCertificates } from 'node:tls'
import { buildConnector, type Dispatcher, EnvHttpProxyAgent, Pool } from 'undici'

/** How the gateway reaches its upstreams; every duration in milliseconds. */
export interface UpstreamClientOptions {
  /** To connect, TLS handshake included. */
  connectTimeout: number
  /** From a request to its response head. */
  headerTimeout: number
  /** Longest silence of a response body. */
  idleTimeout: number
  /** PEM certificate authorities to trust besides the system's (a private upstream, a TLS-inspecting proxy). */
  ca?: string
}

export const DEFAULT_UPSTREAM_CLIENT: UpstreamClientOptions = {
  connectTimeout: 10_000,
  headerTimeout: 600_000,
  idleTimeout: 300_000,
}

/** Unused kept-alive connections close after this: below the 5 s that common servers keep them. */
const KEEP_ALIVE_MS = 4000

/**
 * The HTTP client of every upstream: undici, with keep-alive connections, `HTTPS_PROXY` /
 * `HTTP_PROXY` / `NO_PROXY` honoured as curl does (CONNECT through the proxy for https), and
 * `NODE_EXTRA_CA_CERTS` as Node honours it. Chosen over our own HTTP/1.1 client by measurement
 * (docs/BENCHMARKS.md, "LLM proxy": the upstream client).
 */
export function createUpstreamClient(options: UpstreamClientOptions): Dispatcher {
  const tls = {
    timeout: options.connectTimeout,
    ...(options.ca === undefined ? {} : { ca: [...rootCertificates, ...extraCertificates(), options.ca] }),
  }
  return new EnvHttpProxyAgent({
    connect: tls,
    requestTls: tls,
    proxyTls: tls,
    headersTimeout: options.headerTimeout,
    bodyTimeout: options.idleTimeout,
    keepAliveTimeout: KEEP_ALIVE_MS,
    // Every connection to an upstream, direct or tunnelled through a proxy, comes through here.
    factory: (origin, poolOptions: Pool.Options) =>
      new Pool(origin, { ...poolOptions, connect: passingInterimContinue(poolOptions.connect) }),
  })
}

/**
 * A `100 Continue` the gateway did not ask for (it sends no `Expect`), which some servers send
 * before a slow answer: RFC 9110 (§15.2) has a client parse any 1xx and lets it ignore them, but
 * undici destroys the connection on a 100 it did not ask for ("bad response"). Rewritten to
 * `103` (Early Hints), which undici passes over, on the socket read that starts with it. Proved by
 * the hostile-upstream battery ("100 Continue before the answer").
 */
function passingInterimContinue(connect: Pool.Options['connect']): buildConnector.connector {
  const connector = typeof connect === 'function' ? connect : buildConnector({ ...connect })
  return (options, callback) =>
    connector(options, (...result) => {
      // On an error the socket is absent (undefined, though the types say null).
      const socket = result[1]
      if (socket != null) {
        const read = socket.read.bind(socket)
        socket.read = (size?: number) => rewriteContinue(read(size))
      }
      callback(...result)
    })
}

const CONTINUE = /^HTTP\/1\.[01] 100[ \r]/

function rewriteContinue(chunk: Buffer | null): Buffer | null {
  if (chunk !== null && chunk[11] === 0x30 && CONTINUE.test(chunk.toString('latin1', 0, 13))) chunk[11] = 0x33
  return chunk
}

/**
 * What `NODE_EXTRA_CA_CERTS` adds to Node's default authorities: a `ca` option replaces them all,
 * so a given `--upstream-ca` must bring them along.
 */
function extraCertificates(): string[] {
  const file = process.env.NODE_EXTRA_CA_CERTS
  if (file === undefined || file === '') return []
  try {
    return [readFileSync(file, 'utf8')]
  } catch {
    // Node itself warns about a missing file at start-up.
    return []
  }
}

/** Why an upstream request failed, in words for the client's error message and the logs. */
export function describeUpstreamError(error: unknown, options: UpstreamClientOptions): string {
  const code = (error as { code?: unknown }).code
  switch (code) {
    case 'UND_ERR_CONNECT_TIMEOUT':
      return `no connection within ${options.connectTimeout / 1000} s (--upstream-connect-timeout)`
    case 'UND_ERR_HEADERS_TIMEOUT':
      return `no response head within ${options.headerTimeout / 1000} s (--upstream-header-timeout)`
    case 'UND_ERR_BODY_TIMEOUT':
      return `the answer went silent for ${options.idleTimeout / 1000} s (--upstream-idle-timeout)`
    case 'UND_ERR_HEADERS_OVERFLOW':
      return 'its response head is larger than 16 KiB'
    case 'UND_ERR_SOCKET':
      return `the connection broke (${(error as Error).message})`
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
      return 'its body does not match its content-length'
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
      return String(code)
  }
  // llhttp's verdict on a malformed response; an assertion of undici's for a status below 100.
  if ((error as Error).name === 'HTTPParserError') {
    const message = (error as Error).message
    return `it answered malformed HTTP: ${/^Response does not match the HTTP\/1\.1 protocol \((.*)\)$/.exec(message)?.[1] ?? message}`
  }
  if (code === 'ERR_ASSERTION') return 'it answered malformed HTTP: a status below 100'
  return error instanceof Error ? error.message : String(error)
}
