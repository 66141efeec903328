import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'

export type NodeResponse = ServerResponse | Http2ServerResponse

/**
 * The error answer of every endpoint that refuses a request before (or instead of) a stream: a
 * status and `{"error":{"code","message"}}` with a stable code and a one-line reason.
 */
export function sendError(
  response: NodeResponse,
  status: number,
  code: string,
  message: string,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) {
    response.end()
    return
  }
  sendJson(response, status, { error: { code, message } }, headers)
}

export function sendJson(
  response: NodeResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
  contentType = 'application/json; charset=utf-8',
): void {
  const body = JSON.stringify(value)
  // A writeHead that threw (a header Node refused) has already set its own reason phrase: a 500
  // after it would go out as `500 OK`. Cleared, the phrase is the status code's own.
  if (!('stream' in response)) response.statusMessage = ''
  ;(response as ServerResponse).writeHead(status, {
    'content-type': contentType,
    'cache-control': 'no-store',
    'content-length': String(Buffer.byteLength(body)),
    ...headers,
  })
  response.end(body)
}
