const LF = 0x0a
const CR = 0x0d
const SEMICOLON = 0x3b
const SPACE = 0x20
const TAB = 0x09
/** Hex digits of a chunk size at most: 2^52, beyond any answer and exact in a double. */
const MAX_SIZE_DIGITS = 13

enum State {
  Size,
  Extension,
  SizeLF,
  Data,
  DataCR,
  DataLF,
  TrailerLineStart,
  TrailerLine,
  TrailerEndLF,
  Done,
}

export class ChunkedEncodingError extends Error {
  readonly code = 'SG_UPSTREAM_BAD_CHUNK'
}

/**
 * Decodes an HTTP/1.1 chunked body (RFC 9112 §7.1) a socket read at a time: the data of every chunk
 * in one read comes out as one buffer. An upstream that flushes each token sends each as a chunk, so
 * a read holds dozens; node:http's client hands them over one stream event each, which cost the
 * relay more than all of its own work.
 */
export class ChunkedDecoder {
  #state = State.Size
  #size = 0
  #digits = 0

  /** The last chunk and the trailer section have been read: the body is complete. */
  get done(): boolean {
    return this.#state === State.Done
  }

  /**
   * The body bytes in `bytes`: decoded in place, the data of every chunk moved to the front of
   * `bytes` (a socket read, which no one else holds), so that a read costs no new buffer — a
   * 40 KB copy per read made the garbage collector run several times a second under load.
   */
  decode(bytes: Buffer): Buffer {
    let written = 0
    let index = 0
    const length = bytes.length
    while (index < length) {
      switch (this.#state) {
        case State.Size: {
          const byte = bytes[index++] as number
          const digit = hexValue(byte)
          if (digit !== -1) {
            if (++this.#digits > MAX_SIZE_DIGITS) throw new ChunkedEncodingError('a chunk size is too large')
            this.#size = this.#size * 16 + digit
          } else if (this.#digits === 0) {
            throw new ChunkedEncodingError('a chunk does not start with its size')
          } else if (byte === CR) {
            this.#state = State.SizeLF
          } else if (byte === LF) {
            this.#sizeRead()
          } else if (byte === SEMICOLON || byte === SPACE || byte === TAB) {
            this.#state = State.Extension
          } else {
            throw new ChunkedEncodingError('a chunk size is not hexadecimal')
          }
          break
        }
        case State.Extension: {
          // Chunk extensions mean nothing to us: skip to the end of the line.
          const lf = bytes.indexOf(LF, index)
          if (lf === -1) index = length
          else {
            index = lf + 1
            this.#sizeRead()
          }
          break
        }
        case State.SizeLF:
          if (bytes[index++] !== LF) throw new ChunkedEncodingError('a chunk size line ends in a bare CR')
          this.#sizeRead()
          break
        case State.Data: {
          const end = Math.min(length, index + this.#size)
          if (written !== index) bytes.copyWithin(written, index, end)
          written += end - index
          this.#size -= end - index
          index = end
          if (this.#size === 0) this.#state = State.DataCR
          break
        }
        case State.DataCR: {
          const byte = bytes[index++]
          if (byte === CR) this.#state = State.DataLF
          else if (byte === LF) this.#state = State.Size
          else throw new ChunkedEncodingError('chunk data is longer than its size')
          break
        }
        case State.DataLF:
          if (bytes[index++] !== LF) throw new ChunkedEncodingError('chunk data ends in a bare CR')
          this.#state = State.Size
          break
        case State.TrailerLineStart: {
          const byte = bytes[index++]
          if (byte === CR) this.#state = State.TrailerEndLF
          else if (byte === LF) this.#state = State.Done
          else this.#state = State.TrailerLine
          break
        }
        case State.TrailerLine: {
          // Trailer fields are dropped, as node:http's client does with those nobody reads.
          const lf = bytes.indexOf(LF, index)
          if (lf === -1) index = length
          else {
            index = lf + 1
            this.#state = State.TrailerLineStart
          }
          break
        }
        case State.TrailerEndLF:
          if (bytes[index++] !== LF) throw new ChunkedEncodingError('the trailer section ends in a bare CR')
          this.#state = State.Done
          break
        case State.Done:
          throw new ChunkedEncodingError('bytes after the end of the answer')
      }
    }
    return bytes.subarray(0, written)
  }

  #sizeRead(): void {
    this.#state = this.#size === 0 ? State.TrailerLineStart : State.Data
    this.#digits = 0
  }
}

function hexValue(byte: number): number {
  if (byte >= 0x30 && byte <= 0x39) return byte - 0x30
  const lower = byte | 0x20
  if (lower >= 0x61 && lower <= 0x66) return lower - 0x61 + 10
  return -1
}
