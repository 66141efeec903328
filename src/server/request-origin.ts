import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'

/** The origin the request reached, as the client named it: `https://host:port` or `http://…`. */
export function requestOrigin(request: IncomingMessage | Http2ServerRequest): string {
  const secure = 'encrypted' in request.socket && request.socket.encrypted === true
  const host = request.headers[':authority'] ?? request.headers.host ?? 'localhost'
  return `${secure ? 'https' : 'http'}://${host}`
}
