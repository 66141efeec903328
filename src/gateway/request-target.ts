/**
 * The request target as the URL to route on, or undefined when its path is not in normal form: a
 * leading `//` (read as a host), dot segments (`.`, `..`, also percent-encoded) or backslashes
 * (read as slashes). URL parsing would resolve them — `/v1/../metrics` is `/metrics` — and a
 * request would reach a route that a reverse proxy in front, matching prefixes on the raw path,
 * meant to keep from it. Absolute-form targets (`GET http://host/path`, RFC 9112 §3.2.2) are
 * taken, with the same check on their path.
 */
export function routeUrl(target: string): URL | undefined {
  const absolute = /^https?:\/\/[^/?#]*/i.exec(target)
  const path =
    (absolute === null ? target : target.slice(absolute[0].length) || '/').split(/[?#]/, 1)[0] ?? ''
  if (!path.startsWith('/') || path.startsWith('//') || path.includes('\\')) return undefined
  if (path.split('/').some((segment) => DOT_SEGMENT.test(segment))) return undefined
  return new URL(absolute === null ? target : target.slice(absolute[0].length) || '/', 'http://gateway')
}

const DOT_SEGMENT = /^(?:\.|%2e){1,2}$/i
