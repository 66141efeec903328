/**
 * Offsets of a durable stream (Durable Streams PROTOCOL.md §6). An offset names the boundary after
 * the n-th entry of a stream (an append's bytes, or one message of a JSON stream): n in 16 decimal
 * digits, so that byte-wise order is numeric order and every offset is URL-safe. `-1` (the start)
 * and `now` (the tail) are the protocol's sentinels; the server never issues them.
 */
export type Offset = string

const DIGITS = 16
const FORMAT = /^\d{16}$/

/** The largest entry count an offset can name (Number stays exact below 2^53). */
export const MAX_ENTRIES = Number.MAX_SAFE_INTEGER

export const START: Offset = '-1'
export const NOW: Offset = 'now'

export function offsetOf(entries: number): Offset {
  return String(entries).padStart(DIGITS, '0')
}

/** The entry count an offset names, `'now'` for the tail sentinel, or undefined when it is no offset of ours. */
export function parseOffset(offset: string): number | 'now' | undefined {
  if (offset === START) return 0
  if (offset === NOW) return 'now'
  if (!FORMAT.test(offset)) return undefined
  const entries = Number(offset)
  return entries <= MAX_ENTRIES ? entries : undefined
}
