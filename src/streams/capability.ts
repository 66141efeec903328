import { createHash, createHmac, timingSafeEqual } from 'node:crypto'

/**
 * Read capability URLs: a stream URL with `sg_expires` (Unix seconds) and `sg_signature` (an HMAC
 * of the path and the expiry, keyed by the gateway keys), so that a browser can read one stream,
 * until a time, without holding a key. Only `GET` and `HEAD` of that exact path accept it; the
 * parameters stay valid whatever other query parameters a client adds (`offset`, `live`, `cursor`).
 * Rotating the gateway keys revokes every capability.
 */
export const EXPIRES_PARAM = 'sg_expires'
export const SIGNATURE_PARAM = 'sg_signature'

export type CapabilityCheck = 'absent' | 'valid' | 'expired' | 'invalid'

export class ReadCapabilities {
  private readonly secret: Buffer

  constructor(keys: readonly string[]) {
    this.secret = createHash('sha256')
      .update(`streamgate read capabilities\n${[...keys].sort().join('\n')}`)
      .digest()
  }

  /** The query parameters that let `path` be read until `expiresAt` (Unix seconds). */
  sign(path: string, expiresAt: number): URLSearchParams {
    return new URLSearchParams({
      [EXPIRES_PARAM]: String(expiresAt),
      [SIGNATURE_PARAM]: this.signature(path, expiresAt),
    })
  }

  check(path: string, query: URLSearchParams, nowSeconds = Date.now() / 1000): CapabilityCheck {
    const expires = query.get(EXPIRES_PARAM)
    const signature = query.get(SIGNATURE_PARAM)
    if (expires === null && signature === null) return 'absent'
    if (expires === null || signature === null || !/^\d{1,12}$/.test(expires)) return 'invalid'
    const expected = Buffer.from(this.signature(path, Number(expires)))
    const given = Buffer.from(signature)
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid'
    return Number(expires) <= nowSeconds ? 'expired' : 'valid'
  }

  private signature(path: string, expiresAt: number): string {
    return createHmac('sha256', this.secret).update(`read\n${path}\n${expiresAt}`).digest('base64url')
  }
}
