/**
 * The metrics label of a request: its route, or `other`. Never the path or method as sent: every
 * new label value is a new series kept for the life of the process, and anyone can send requests,
 * with or without a key, to any number of paths.
 */
export function routeLabel(method: string, path: string, routes: Readonly<Record<string, unknown>>): string {
  const label = `${method} ${path
    .replace(/^\/v1\/generations\/[^/]+/, '/v1/generations/{id}')
    .replace(/^\/v1\/responses\/[^/]+/, '/v1/responses/{id}')}`
  return Object.hasOwn(routes, label) || GENERATION_ROUTES.has(label) ? label : 'other'
}

const GENERATION_ROUTES = new Set([
  'GET /v1/generations/{id}',
  'GET /v1/generations/{id}/stream',
  'POST /v1/generations/{id}/cancel',
  'GET /v1/responses/{id}',
  'POST /v1/responses/{id}/cancel',
])
