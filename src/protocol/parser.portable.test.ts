import { expect, it, vi } from 'vitest'
import { describeParserProperties } from '../../test/helpers/parser-properties.js'
import { nativeBytes } from './native-bytes.js'

// The browser path: no Node Buffer primitives, bytes go through a streaming TextDecoder.
vi.mock('./native-bytes.js', () => ({ nativeBytes: undefined }))

it('runs without the Node byte path', () => {
  expect(nativeBytes).toBeUndefined()
})

describeParserProperties()
