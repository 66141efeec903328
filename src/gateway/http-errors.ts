import type { ServerResponse } from 'node:http'
import type { Http2ServerResponse } from 'node:http2'

export type NodeResponse = ServerResponse | Http2ServerResponse

/** Every error answer of the gateway: a status and a JSON body with a stable code and a one-line reason. */
export function sendError(response: NodeResponse, status: number, code: string, message: string): void {
  if (response.headersSent) {
    response.end()
    return
  }
  const body = JSON.stringify({ error: { code, message } })
  ;(response as ServerResponse).writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  })
  response.end(body)
}

export function sendJson(response: NodeResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value)
  ;(response as ServerResponse).writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(body),
  })
  response.end(body)
}
