import { describe, expect, it } from 'vitest'
import { chunkFrame, EncodedEvent } from './encoded-event.js'

describe('EncodedEvent', () => {
  it('frames its bytes as one HTTP/1.1 chunk, once', () => {
    const event = new EncodedEvent(new TextEncoder().encode(`data: ${'é'.repeat(10)}\n\n`))
    expect(new TextDecoder().decode(event.chunked)).toBe(`1c\r\ndata: ${'é'.repeat(10)}\n\n\r\n`)
    expect(event.chunked).toBe(event.chunked)
    expect(event.length).toBe(28)
  })

  it('writes the length in hex', () => {
    expect(new TextDecoder().decode(chunkFrame(new Uint8Array(255))).slice(0, 4)).toBe('ff\r\n')
  })
})
