/**
 * Node's byte-to-string primitives, found at run time. Browser bundles swap this file for
 * native-bytes.browser.ts (package.json "browser"), where it is undefined: the parser then decodes
 * with TextDecoder, and none of this code is shipped.
 *
 * Measured on Node 20 over 16 KiB chunks (docs/BENCHMARKS.md): isAscii ~16 GB/s, latin1Slice
 * ~8 GB/s, against ~1.1 GB/s for a streaming TextDecoder. A latin1 string of the bytes keeps
 * string index = byte offset, so lines are found with String#indexOf (~8.5 GB/s) and only values
 * that hold non-ASCII bytes pay for UTF-8 decoding.
 */
export interface NativeBytes {
  isAscii(bytes: Uint8Array): boolean
  /** The bytes as text, one character per byte. */
  latin1(bytes: Uint8Array): string
  /** The bytes behind such a text. */
  bytesOf(latin1Text: string): Uint8Array
  utf8(bytes: Uint8Array, start: number, end: number): string
  concat(first: Uint8Array, second: Uint8Array): Uint8Array
  /** Text to its latin1 form (UTF-8 bytes as characters), or back. */
  recode(text: string, toLatin1: boolean): string
}

type ByteSlice = (this: Uint8Array, start: number, end: number) => string

interface BufferModule {
  isAscii?: (bytes: Uint8Array) => boolean
  Buffer?: {
    prototype: { latin1Slice?: ByteSlice; utf8Slice?: ByteSlice }
    from(text: string, encoding: 'latin1' | 'utf8'): Uint8Array
    concat(list: Uint8Array[]): Uint8Array
  }
}

// process.getBuiltinModule: Node >= 20.16; earlier versions take the portable path.
const runtime = globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }

function detect(): NativeBytes | undefined {
  const bufferModule = runtime.process?.getBuiltinModule?.('node:buffer') as BufferModule | undefined
  const buffer = bufferModule?.Buffer
  const isAscii = bufferModule?.isAscii
  const { latin1Slice, utf8Slice } = buffer?.prototype ?? {}
  if (buffer === undefined || isAscii === undefined || latin1Slice === undefined || utf8Slice === undefined) {
    return undefined
  }
  const latin1 = (bytes: Uint8Array) => latin1Slice.call(bytes, 0, bytes.length)
  const bytesOf = (text: string) => buffer.from(text, 'latin1')
  return {
    isAscii,
    latin1,
    bytesOf,
    utf8: (bytes, start, end) => utf8Slice.call(bytes, start, end),
    concat: (first, second) => buffer.concat([first, second]),
    recode: (text, toLatin1) => {
      if (toLatin1) return latin1(buffer.from(text, 'utf8'))
      const bytes = bytesOf(text)
      return utf8Slice.call(bytes, 0, bytes.length)
    },
  }
}

export const nativeBytes: NativeBytes | undefined = detect()
