/** Stable error codes of the protocol module; all codes are listed in docs/ERRORS.md. */
export type ParseErrorCode = 'SG_ERR_EVENT_TOO_LARGE'

/** A problem in the incoming stream that the parser reports instead of failing silently or running out of memory. */
export class ParseError extends Error {
  readonly code: ParseErrorCode

  constructor(code: ParseErrorCode, message: string) {
    super(message)
    this.name = 'ParseError'
    this.code = code
  }
}
