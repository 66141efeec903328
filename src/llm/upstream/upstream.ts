import type { IncomingHttpHeaders } from 'node:http'
import type { Readable } from 'node:stream'
import type { Dispatcher } from 'undici'
import type { Provider } from '../providers/provider.js'
import { type BodySink, drainInto } from './body-sink.js'
import { dispatchRequest } from './undici-upstream.js'
import {
  createUpstreamClient,
  DEFAULT_UPSTREAM_CLIENT,
  describeUpstreamError,
  type UpstreamClientOptions,
} from './upstream-client.js'

export interface UpstreamRequest {
  /** The path after the provider's base, e.g. `/chat/completions` (OpenAI) or `/v1/messages`. */
  path: string
  method: 'GET' | 'POST'
  /** The client's headers that the upstream may see (content type, API version); never its key. */
  headers: Record<string, string>
  /** The body, or its parts in order. */
  body?: Buffer | readonly Buffer[]
  signal: AbortSignal
}

export interface UpstreamResponse {
  status: number
  headers: IncomingHttpHeaders
  /** The body as a stream. */
  readonly body: Readable
  /** The body into a sink instead, without copies (see BodySink). To stop early, abort the request. */
  take(sink: BodySink): void
}

/** A response whose body is a stream (the demo's). */
export function streamedResponse(
  status: number,
  headers: IncomingHttpHeaders,
  body: Readable,
): UpstreamResponse {
  return { status, headers, body, take: (sink) => drainInto(body, sink) }
}

/** Where a route's requests go: a real provider over HTTP, or the built-in demo. */
export interface Upstream {
  readonly provider: Provider
  /** For logs and `/v1/generations`: the base URL (never the key), or `demo`. */
  readonly label: string
  request(request: UpstreamRequest): Promise<UpstreamResponse>
  /** Why a request or its body failed, for the client's error message. */
  describe(error: unknown): string
}

/**
 * An upstream over HTTP(S) through the gateway's upstream client (createUpstreamClient). The base
 * URL's query (Azure's `api-version`) goes with every request.
 */
export function httpUpstream(
  baseUrl: string,
  key: string | undefined,
  provider: Provider,
  clientOptions: UpstreamClientOptions = DEFAULT_UPSTREAM_CLIENT,
  client: Dispatcher = createUpstreamClient(clientOptions),
): Upstream {
  const base = new URL(baseUrl)
  const basePath = base.pathname.replace(/\/$/, '')
  const auth: Record<string, string> =
    key === undefined
      ? {}
      : provider.name === 'anthropic'
        ? { 'x-api-key': key }
        : isAzure(base)
          ? { 'api-key': key }
          : { authorization: `Bearer ${key}` }
  // Credentials in the URL (a model server behind a reverse proxy with basic authentication).
  if (base.username !== '' || base.password !== '') {
    if (auth.authorization !== undefined)
      throw new TypeError(
        'credentials in the URL and a key would both go in the Authorization header: give one',
      )
    const credentials = `${decodeURIComponent(base.username)}:${decodeURIComponent(base.password)}`
    auth.authorization = `Basic ${Buffer.from(credentials).toString('base64')}`
  }
  return {
    provider,
    // Shown on public pages: never the credentials, nor the query (a key may ride in it).
    label: `${base.origin}${base.pathname}`,
    request: ({ path, method, headers, body, signal }) => {
      const request = {
        method,
        path: `${basePath}${path}${base.search}`,
        signal,
        body,
        headers: {
          ...(provider.name === 'anthropic' ? { 'anthropic-version': '2023-06-01' } : {}),
          ...headers,
          ...auth,
        },
      }
      return dispatchRequest(client, base.origin, request)
    },
    describe: (error) => describeUpstreamError(error, clientOptions),
  }
}

/**
 * Azure OpenAI takes its key in an `api-key` header: its hosts, or any base URL that names an
 * `api-version` (`https://<resource>.openai.azure.com/openai/deployments/<name>?api-version=…`).
 */
export function isAzure(base: URL): boolean {
  return (
    /\.(openai\.azure\.com|cognitiveservices\.azure\.com|services\.ai\.azure\.com)$/.test(base.hostname) ||
    base.searchParams.has('api-version')
  )
}

/** A request body as its parts, whichever way it was given. */
export function bodyParts(body: Buffer | readonly Buffer[]): readonly Buffer[] {
  return Buffer.isBuffer(body) ? [body] : body
}
