import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

/** The browser budget for protocol + client, minified and gzipped (issue #4). */
export const BROWSER_BUDGET_BYTES = 4096

// The built package as a web app's bundler sees it: dist/, with package.json's "browser" map.
const built = (path: string) => fileURLToPath(new URL(`../dist/${path}`, import.meta.url))

/** What a web app imports to consume streams, and everything the two entry points export. */
const bundles = {
  'browser client: createParser, EventSource, fetchEventStream, errors': `
    export { createParser } from ${JSON.stringify(built('protocol/index.js'))}
    export * from ${JSON.stringify(built('client/index.js'))}`,
  'all of streamgate/protocol + streamgate/client (adds the encoder)': `
    export * from ${JSON.stringify(built('protocol/index.js'))}
    export * from ${JSON.stringify(built('client/index.js'))}`,
}

export async function measureBundles(): Promise<
  { name: string; code: string; minified: number; gzipped: number }[]
> {
  const sizes = []
  for (const [name, contents] of Object.entries(bundles)) {
    const result = await build({
      stdin: { contents, loader: 'js', resolveDir: process.cwd() },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
    })
    const code = result.outputFiles[0]?.contents ?? new Uint8Array()
    sizes.push({
      name,
      code: new TextDecoder().decode(code),
      minified: code.length,
      gzipped: gzipSync(code, { level: 9 }).length,
    })
  }
  return sizes
}

if (process.argv[1] === fileURLToPath(import.meta.url) || process.argv.includes('size')) {
  for (const { name, minified, gzipped } of await measureBundles()) {
    console.log(`${name}: ${minified} B minified, ${gzipped} B gzipped`)
  }
  console.log(`budget for the browser client: ${BROWSER_BUDGET_BYTES} B gzipped`)
}
