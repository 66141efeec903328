/**
 * Node's byte-to-string primitives, found at run time so that this module still loads in browsers
 * (where it is undefined and the parser decodes with TextDecoder instead).
 *
 * Measured on Node 20 over 16 KiB chunks (docs/BENCHMARKS.md): isAscii ~16 GB/s, latin1Slice
 * ~8 GB/s, against ~1.1 GB/s for a streaming TextDecoder. A latin1 string of the bytes keeps
 * string index = byte offset, so lines are found with String#indexOf (~8.5 GB/s) and only values
 * that hold non-ASCII bytes pay for UTF-8 decoding.
 */
export interface NativeBytes {
  isAscii(bytes: Uint8Array): boolean
  latin1Slice: ByteSlice
  utf8Slice: ByteSlice
  latin1Bytes(text: string): Uint8Array
}

type ByteSlice = (this: Uint8Array, start: number, end: number) => string

interface BufferModule {
  isAscii?: (bytes: Uint8Array) => boolean
  Buffer?: {
    prototype: { latin1Slice?: ByteSlice; utf8Slice?: ByteSlice }
    from(text: string, encoding: 'latin1'): Uint8Array
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
  return { isAscii, latin1Slice, utf8Slice, latin1Bytes: (text) => buffer.from(text, 'latin1') }
}

export const nativeBytes: NativeBytes | undefined = detect()
