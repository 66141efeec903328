import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** Where Debian's `chromium` package puts the browser the web tests drive. */
export const CHROMIUM = '/usr/bin/chromium'

/**
 * Vitest global setup of the e2e tests: the browser tests need Debian's Chromium. When it is missing
 * and we are root (CI, a fresh machine), it is installed here — no browser download from elsewhere.
 */
export function setup(): void {
  if (existsSync(CHROMIUM)) return
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${CHROMIUM} is missing: install Debian's chromium package (sudo apt-get install chromium)`,
    )
  }
  console.log('Installing Chromium for the browser tests (apt-get install chromium)…')
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', 'chromium'], {
    stdio: 'inherit',
    env,
  })
}
