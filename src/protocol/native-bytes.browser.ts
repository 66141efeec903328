import type { NativeBytes } from './native-bytes.js'

/** Browsers have no Node Buffer: the parser decodes bytes with TextDecoder. */
export const nativeBytes: NativeBytes | undefined = undefined
