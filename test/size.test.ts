import { expect, it } from 'vitest'
import { BROWSER_BUDGET_BYTES, measureBundles } from '../bench/size.js'

it('keeps the browser client within its size budget (minified + gzipped)', async () => {
  const [browserClient] = await measureBundles()
  expect(browserClient?.gzipped).toBeGreaterThan(1000)
  expect(browserClient?.gzipped).toBeLessThanOrEqual(BROWSER_BUDGET_BYTES)
  // package.json's "browser" map leaves Node's byte path out.
  expect(browserClient?.code).not.toContain('getBuiltinModule')
  expect(browserClient?.code).toContain('TextDecoder')
})
