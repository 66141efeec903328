import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const WEB_DIR = fileURLToPath(new URL('../../web/', import.meta.url))
const DIST_DIR = fileURLToPath(new URL('../', import.meta.url))

const PAGES: Record<string, string> = {
  '/': 'index.html',
  '/live': 'live.html',
  '/dashboard': 'dashboard.html',
}

const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
  css: 'text/css; charset=utf-8',
  svg: 'image/svg+xml',
}

export interface Asset {
  body: Buffer
  contentType: string
}

/**
 * The web pages and what they load: `web/` as is, and the browser's `streamgate/client` straight
 * from `dist/` as ES modules under `/web/client/` and `/web/protocol/` (no bundler: the modules
 * import each other by relative path). Only names of this shape are served, so no path escapes.
 */
export function assetPath(pathname: string): string | undefined {
  const page = PAGES[pathname]
  if (page !== undefined) return `${WEB_DIR}${page}`
  const match = /^\/web\/(?:(client|protocol)\/)?([\w-]+(?:\.[\w-]+)*\.(js|css|svg))$/.exec(pathname)
  if (match === null) return undefined
  const [, module, name] = match as unknown as [string, string | undefined, string]
  if (module === undefined) return `${WEB_DIR}${name}`
  // The browser build of the byte helpers, as package.json's "browser" field maps it for bundlers.
  const file = module === 'protocol' && name === 'native-bytes.js' ? 'native-bytes.browser.js' : name
  return `${DIST_DIR}${module}/${file}`
}

const cache = new Map<string, Promise<Asset | undefined>>()

/**
 * The asset for a path, read once and kept (they are few and small); undefined when there is none.
 * A miss is not kept: any client can ask for any number of names of the right shape.
 */
export function loadAsset(pathname: string): Promise<Asset | undefined> {
  const path = assetPath(pathname)
  if (path === undefined) return Promise.resolve(undefined)
  let asset = cache.get(path)
  if (asset === undefined) {
    asset = readFile(path).then(
      (body) => ({
        body,
        contentType: TYPES[path.slice(path.lastIndexOf('.') + 1)] ?? 'application/octet-stream',
      }),
      () => {
        cache.delete(path)
        return undefined
      },
    )
    cache.set(path, asset)
  }
  return asset
}
