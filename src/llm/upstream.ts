import http from 'node:http'
import https from 'node:https'
import type { Readable } from 'node:stream'
import type { Provider } from './provider.js'

export interface UpstreamRequest {
  /** The path after the provider's base, e.g. `/chat/completions` (OpenAI) or `/v1/messages`. */
  path: string
  method: 'GET' | 'POST'
  /** The client's headers that the upstream may see (content type, API version); never its key. */
  headers: Record<string, string>
  body?: Buffer
  signal: AbortSignal
}

export interface UpstreamResponse {
  status: number
  headers: http.IncomingHttpHeaders
  body: Readable
}

/** Where a route's requests go: a real provider over HTTP, or the built-in demo. */
export interface Upstream {
  readonly provider: Provider
  /** For logs and `/v1/generations`: the base URL (never the key), or `demo`. */
  readonly label: string
  request(request: UpstreamRequest): Promise<UpstreamResponse>
}

/**
 * An upstream over HTTP(S) with keep-alive connections. node:http, not fetch: the relay handles
 * Node Buffers straight from the socket, without a Web stream in between.
 */
export function httpUpstream(baseUrl: string, key: string | undefined, provider: Provider): Upstream {
  const base = new URL(baseUrl.endsWith('/') ? baseUrl.slice(0, -1) : baseUrl)
  const client = base.protocol === 'https:' ? https : http
  const agent = new client.Agent({ keepAlive: true })
  const auth: Record<string, string> =
    key === undefined
      ? {}
      : provider.name === 'anthropic'
        ? { 'x-api-key': key }
        : { authorization: `Bearer ${key}` }
  return {
    provider,
    label: base.href,
    request: ({ path, method, headers, body, signal }) =>
      new Promise((resolve, reject) => {
        const request = client.request(
          `${base.href.replace(/\/$/, '')}${path}`,
          {
            method,
            agent,
            signal,
            headers: {
              ...(provider.name === 'anthropic' ? { 'anthropic-version': '2023-06-01' } : {}),
              ...headers,
              ...auth,
              ...(body === undefined ? {} : { 'content-length': String(body.length) }),
            },
          },
          (response) =>
            resolve({ status: response.statusCode ?? 502, headers: response.headers, body: response }),
        )
        request.on('error', reject)
        request.end(body)
      }),
  }
}
