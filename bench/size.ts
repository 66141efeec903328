import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { build } from 'esbuild'

/** The browser budget for protocol + client, minified and gzipped (issue #4). */
export const BROWSER_BUDGET_BYTES = 4096

const source = (path: string) => fileURLToPath(new URL(`../src/${path}`, import.meta.url))

/** What a web app imports to consume streams, and everything the two entry points export. */
const bundles = {
  'browser client: createParser, EventSource, fetchEventStream, errors': `
    export { createParser } from ${JSON.stringify(source('protocol/index.ts'))}
    export * from ${JSON.stringify(source('client/index.ts'))}`,
  'all of streamgate/protocol + streamgate/client (adds the encoder)': `
    export * from ${JSON.stringify(source('protocol/index.ts'))}
    export * from ${JSON.stringify(source('client/index.ts'))}`,
}

export async function measureBundles(): Promise<{ name: string; minified: number; gzipped: number }[]> {
  const sizes = []
  for (const [name, contents] of Object.entries(bundles)) {
    const result = await build({
      stdin: { contents, loader: 'ts', resolveDir: process.cwd() },
      bundle: true,
      minify: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
    })
    const code = result.outputFiles[0]?.contents ?? new Uint8Array()
    sizes.push({ name, minified: code.length, gzipped: gzipSync(code, { level: 9 }).length })
  }
  return sizes
}

if (process.argv[1] === fileURLToPath(import.meta.url) || process.argv.includes('size')) {
  for (const { name, minified, gzipped } of await measureBundles()) {
    console.log(`${name}: ${minified} B minified, ${gzipped} B gzipped`)
  }
  console.log(`budget for the browser client: ${BROWSER_BUDGET_BYTES} B gzipped`)
}
