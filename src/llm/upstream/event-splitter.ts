const LF = 0x0a
const CR = 0x0d

/**
 * Cuts an upstream event stream into whole events, each with the blank line that ends it, without
 * decoding or rewriting a byte: the relay forwards them as they are, with an `id:` line in front.
 * Line ends may be LF, CRLF or CR (the WHATWG grammar); an event ends at an empty line.
 */
export class EventSplitter {
  /**
   * The start of an event not ended yet, as the pieces that came: joined once, when its blank line
   * arrives (joining at every chunk copied a long event over and over: quadratic).
   */
  #carry: Buffer[] = []
  #carryLength = 0
  /** The bytes so far end with a line end: a line end now would make an empty line. */
  #atLineStart = true
  /** The last byte was a CR: an LF now is the second half of a CRLF. */
  #afterCR = false
  /** An event ended with a CR that was the last byte of its chunk: an LF now belongs to it. */
  #dropLF = false

  /** The events completed by this chunk; an incomplete tail waits for the next one. */
  push(chunk: Buffer): Buffer[] {
    // LF-only streams (OpenAI's, Anthropic's) take the fast path: jump from LF to LF natively. The
    // state (at a line start or not) says all the scan needs to know about the carried bytes.
    return !this.#afterCR && chunk.indexOf(CR) === -1 ? this.#splitLF(chunk) : this.#splitAny(chunk)
  }

  #splitLF(chunk: Buffer): Buffer[] {
    const events: Buffer[] = []
    let start = 0
    let atLineStart = this.#atLineStart
    // The byte before the chunk: a line end when at a line start.
    let previous = -1
    for (let index = chunk.indexOf(LF); index !== -1; index = chunk.indexOf(LF, index + 1)) {
      // An LF right after a line end is an empty line: the event ends with it.
      if (index === previous + 1 && atLineStart) {
        const event = this.#joined(chunk.subarray(start, index + 1))
        if (event.length > 1) events.push(event)
        start = index + 1
      }
      atLineStart = true
      previous = index
    }
    if (previous < chunk.length - 1) atLineStart = false
    this.#atLineStart = atLineStart
    this.#dropLF = false
    this.#keep(chunk, start)
    return events
  }

  /** The carried start of an event with its end, as one buffer; the carry is then empty. */
  #joined(end: Buffer): Buffer {
    if (this.#carryLength === 0) return end
    const event = Buffer.concat([...this.#carry, end])
    this.#dropCarry()
    return event
  }

  #dropCarry(): void {
    this.#carry = []
    this.#carryLength = 0
  }

  /** Carries the bytes from `start` on (copied: the chunk's buffer is not ours to hold). */
  #keep(bytes: Buffer, start: number): void {
    if (start >= bytes.length) return
    this.#carry.push(Buffer.from(bytes.subarray(start)))
    this.#carryLength += bytes.length - start
  }

  /** Any line ends: a byte at a time. */
  #splitAny(chunk: Buffer): Buffer[] {
    const events: Buffer[] = []
    let start = 0
    let atLineStart = this.#atLineStart
    let afterCR = this.#afterCR
    let dropLF = this.#dropLF
    for (let index = 0; index < chunk.length; index++) {
      const byte = chunk[index]
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
          if (end === chunk.length) dropLF = true
          else if (chunk[end] === LF) end++
        }
        const length = this.#carryLength + end - start
        const first = this.#carryLength > 0 ? (this.#carry[0] as Buffer)[0] : chunk[start]
        // A blank line with nothing before it (an extra empty line) is no event.
        if (length > 2 || (length === 2 && first !== CR))
          events.push(this.#joined(chunk.subarray(start, end)))
        else this.#dropCarry()
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
    this.#keep(chunk, start)
    return events
  }

  /** Bytes of an event the upstream has not finished. */
  get pending(): number {
    return this.#carryLength
  }
}
