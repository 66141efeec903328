/** Stable error codes of the client module; all codes are listed in docs/ERRORS.md. */
export type ClientErrorCode = 'SG_ERR_HTTP_STATUS' | 'SG_ERR_CONTENT_TYPE' | 'SG_ERR_NETWORK'

export class EventStreamError extends Error {
  readonly code: ClientErrorCode

  constructor(code: ClientErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'EventStreamError'
    this.code = code
  }
}

/** The server answered with a status other than 200 (and other than 204, which ends the stream). */
export class HttpStatusError extends EventStreamError {
  constructor(
    readonly status: number,
    readonly statusText: string,
    /** The start of the response body: servers put the reason there. */
    readonly body: string,
  ) {
    // One line, with the start of the body for the reason.
    super('SG_ERR_HTTP_STATUS', `HTTP ${status} ${statusText}: ${body.replace(/\s+/g, ' ').slice(0, 200)}`)
    this.name = 'HttpStatusError'
  }
}

/** The server answered 200 with something other than `text/event-stream`. */
export class ContentTypeError extends EventStreamError {
  constructor(readonly contentType: string) {
    super('SG_ERR_CONTENT_TYPE', `expected Content-Type text/event-stream, got ${contentType || 'none'}`)
    this.name = 'ContentTypeError'
  }
}

/** The request did not reach the server or the connection broke (refused, DNS, reset). */
export class NetworkError extends EventStreamError {
  constructor(message: string, cause: unknown) {
    super('SG_ERR_NETWORK', message, { cause })
    this.name = 'NetworkError'
  }
}
