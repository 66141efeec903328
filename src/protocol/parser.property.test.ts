import { expect, it } from 'vitest'
import { describeParserProperties } from '../../test/helpers/parser-properties.js'
import { nativeBytes } from './native-bytes.js'

it('runs on the Node byte path here', () => {
  expect(nativeBytes).toBeDefined()
})

describeParserProperties()
