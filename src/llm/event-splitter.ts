const LF = 0x0a
const CR = 0x0d

/**
 * Cuts an upstream event stream into whole events, each with the blank line that ends it, without
 * decoding or rewriting a byte: the relay forwards them as they are, with an `id:` line in front.
 * Line ends may be LF, CRLF or CR (the WHATWG grammar); an event ends at an empty line.
 */
export class EventSplitter {
  #carry: Buffer | undefined
  /** The bytes so far end with a line end: a line end now would make an empty line. */
  #atLineStart = true
  /** The last byte was a CR: an LF now is the second half of a CRLF. */
  #afterCR = false
  /** An event ended with a CR that was the last byte of its chunk: an LF now belongs to it. */
  #dropLF = false

  /** The events completed by this chunk; an incomplete tail waits for the next one. */
  push(chunk: Buffer): Buffer[] {
    const carry = this.#carry
    const bytes = carry === undefined ? chunk : Buffer.concat([carry, chunk])
    this.#carry = undefined
    const scanFrom = carry?.length ?? 0
    // LF-only streams (OpenAI's, Anthropic's) take the fast path: jump from LF to LF natively.
    const events =
      !this.#afterCR && bytes.indexOf(CR, scanFrom) === -1
        ? this.#splitLF(bytes, scanFrom)
        : this.#splitAny(bytes, scanFrom)
    return events
  }

  #splitLF(bytes: Buffer, scanFrom: number): Buffer[] {
    const events: Buffer[] = []
    let start = 0
    let atLineStart = this.#atLineStart
    let previous = scanFrom - 1
    for (let index = bytes.indexOf(LF, scanFrom); index !== -1; index = bytes.indexOf(LF, index + 1)) {
      // An LF right after a line end is an empty line: the event ends with it.
      if (index === previous + 1 && atLineStart) {
        if (index + 1 - start > 1) events.push(bytes.subarray(start, index + 1))
        start = index + 1
      }
      atLineStart = true
      previous = index
    }
    if (previous < bytes.length - 1) atLineStart = false
    this.#atLineStart = atLineStart
    this.#dropLF = false
    if (start < bytes.length) this.#carry = Buffer.from(bytes.subarray(start))
    return events
  }

  /** Any line ends: a byte at a time. */
  #splitAny(bytes: Buffer, scanFrom: number): Buffer[] {
    const events: Buffer[] = []
    let start = 0
    let atLineStart = this.#atLineStart
    let afterCR = this.#afterCR
    let dropLF = this.#dropLF
    for (let index = scanFrom; index < bytes.length; index++) {
      const byte = bytes[index]
      if (afterCR && byte === LF) {
        afterCR = false
        if (dropLF) start = index + 1
        dropLF = false
        continue
      }
      afterCR = false
      dropLF = false
      if (byte !== LF && byte !== CR) {
        atLineStart = false
        continue
      }
      if (atLineStart) {
        let end = index + 1
        if (byte === CR) {
          if (end === bytes.length) dropLF = true
          else if (bytes[end] === LF) end++
        }
        // A blank line with nothing before it (an extra empty line) is no event.
        if (end - start > 2 || (end - start === 2 && bytes[start] !== CR)) {
          events.push(bytes.subarray(start, end))
        }
        start = end
        index = end - 1
        afterCR = dropLF
      } else {
        afterCR = byte === CR
      }
      atLineStart = true
    }
    this.#atLineStart = atLineStart
    this.#afterCR = afterCR
    this.#dropLF = dropLF
    if (start < bytes.length) this.#carry = Buffer.from(bytes.subarray(start))
    return events
  }

  /** Bytes of an event the upstream has not finished. */
  get pending(): number {
    return this.#carry?.length ?? 0
  }
}
