export class AuthorizationError extends Error {
  constructor(
    readonly status: 401 | 403,
    readonly code: 'SG_ERR_UNAUTHORIZED' | 'SG_ERR_FORBIDDEN',
    message: string,
    /**
     * The RFC 6750 error of the `WWW-Authenticate` challenge: a presented token that fails
     * validation is `invalid_token`; no token at all has none.
     */
    readonly bearerError?: 'invalid_token',
  ) {
    super(message)
    this.name = 'AuthorizationError'
  }
}

/** A presented token that fails validation: 401 with `error="invalid_token"`. */
export const invalidToken = (message: string) =>
  new AuthorizationError(401, 'SG_ERR_UNAUTHORIZED', message, 'invalid_token')
