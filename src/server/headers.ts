/** Who may read the stream from a browser on another origin. */
export interface CorsOptions {
  /** `*`, one origin, a list of origins, or a predicate. */
  origin: string | readonly string[] | ((origin: string) => boolean)
  /** Allow cookies and HTTP authentication (never with a literal `*`: the request's origin is echoed). */
  credentials?: boolean
  /** Response headers that scripts may read (`Access-Control-Expose-Headers`). */
  exposeHeaders?: readonly string[]
}

export type HeaderMap = Record<string, string>

/**
 * The headers every SSE response carries. `no-transform` keeps compression middleware and proxies
 * from buffering the stream; `X-Accel-Buffering: no` does the same for nginx. `Connection` exists
 * only in HTTP/1.1 (HTTP/2 forbids it).
 */
export function eventStreamHeaders(httpVersionMajor: number | undefined): HeaderMap {
  const headers: HeaderMap = {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    'x-accel-buffering': 'no',
  }
  if (httpVersionMajor === 1) headers.connection = 'keep-alive'
  return headers
}

/** CORS response headers for a request from `requestOrigin` (the `Origin` header, if any). */
export function corsHeaders(options: CorsOptions | undefined, requestOrigin: string | undefined): HeaderMap {
  if (options === undefined) return {}
  const headers: HeaderMap = {}
  const { origin, credentials = false } = options
  const anyOrigin = origin === '*' || (Array.isArray(origin) && origin.includes('*'))
  if (anyOrigin && !credentials) {
    headers['access-control-allow-origin'] = '*'
  } else {
    // The answer depends on the request's origin: caches must key on it.
    headers.vary = 'Origin'
    if (requestOrigin !== undefined && isAllowed(origin, requestOrigin)) {
      headers['access-control-allow-origin'] = requestOrigin
      if (credentials) headers['access-control-allow-credentials'] = 'true'
    }
  }
  if (options.exposeHeaders !== undefined && options.exposeHeaders.length > 0) {
    headers['access-control-expose-headers'] = options.exposeHeaders.join(', ')
  }
  return headers
}

function isAllowed(allowed: CorsOptions['origin'], requestOrigin: string): boolean {
  if (typeof allowed === 'function') return allowed(requestOrigin)
  if (typeof allowed === 'string') return allowed === '*' || allowed === requestOrigin
  return allowed.includes('*') || allowed.includes(requestOrigin)
}
