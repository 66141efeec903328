/**
 * Offsets of a durable stream (Durable Streams PROTOCOL.md §6). An offset names the boundary after
 * the n-th entry of a stream (an append's bytes, or one message of a JSON stream): n in 16 decimal
 * digits, so that byte-wise order is numeric order and every offset is URL-safe, then `_` and 16
 * zeros — the shape the protocol's clients and conformance suite use (`0000000000000000_0000000000000000`
 * is the start), with the second half reserved. `-1` (the start) and `now` (the tail) are the
 * protocol's sentinels; the server never issues them.
 */
export type Offset = string

const RESERVED = '_0000000000000000'
const FORMAT = /^\d{16}_0{16}$/

/** The largest entry count an offset can name (Number stays exact below 2^53). */
export const MAX_ENTRIES = Number.MAX_SAFE_INTEGER

export const START: Offset = '-1'
export const NOW: Offset = 'now'

export function offsetOf(entries: number): Offset {
  return `${String(entries).padStart(16, '0')}${RESERVED}`
}

/** The entry count an offset names, `'now'` for the tail sentinel, or undefined when it is no offset of ours. */
export function parseOffset(offset: string): number | 'now' | undefined {
  if (offset === START) return 0
  if (offset === NOW) return 'now'
  if (!FORMAT.test(offset)) return undefined
  const entries = Number(offset.slice(0, 16))
  return entries <= MAX_ENTRIES ? entries : undefined
}
