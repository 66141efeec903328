import type { IncomingMessage } from 'node:http'
import type { Http2ServerRequest } from 'node:http2'

export class BodyTooLargeError extends Error {
  readonly status = 413
  readonly code = 'SG_ERR_BODY_TOO_LARGE'

  constructor(readonly maxBytes: number) {
    super(`the body is larger than ${maxBytes} bytes`)
    this.name = 'BodyTooLargeError'
  }
}

/** The whole request body, refused (BodyTooLargeError) as soon as it is known to exceed `maxBytes`. */
export function readRequestBody(
  request: IncomingMessage | Http2ServerRequest,
  maxBytes: number,
): Promise<Buffer> {
  if (Number(request.headers['content-length']) > maxBytes)
    return Promise.reject(new BodyTooLargeError(maxBytes))
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    let size = 0
    request.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > maxBytes) {
        reject(new BodyTooLargeError(maxBytes))
        request.pause()
        return
      }
      chunks.push(chunk)
    })
    request.on('end', () => resolve(Buffer.concat(chunks)))
    request.on('error', reject)
  })
}
