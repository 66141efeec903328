import { execFileSync } from 'node:child_process'
import { existsSync } from 'node:fs'

/** Where Debian's `chromium` package puts the browser the web tests drive. */
export const CHROMIUM = '/usr/bin/chromium'
/** Debian's `redis-server`: the scale-out tests start their own on a free port. */
export const REDIS_SERVER = '/usr/bin/redis-server'

const PACKAGES: [binary: string, debianPackage: string][] = [
  [CHROMIUM, 'chromium'],
  [REDIS_SERVER, 'redis-server'],
]

/**
 * Vitest global setup of the e2e tests: the browser and scale-out tests need Chromium and Redis from
 * Debian. What is missing is installed here when we are root (CI, a fresh machine) — no downloads
 * from elsewhere; otherwise the run stops with the command that installs them.
 */
export function setup(): void {
  const missing = PACKAGES.filter(([binary]) => !existsSync(binary)).map(([, name]) => name)
  if (missing.length === 0) return
  if (process.getuid?.() !== 0) {
    throw new Error(`missing ${missing.join(', ')}: install with sudo apt-get install ${missing.join(' ')}`)
  }
  console.log(`Installing ${missing.join(', ')} for the e2e tests (apt-get)…`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env })
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], {
    stdio: 'inherit',
    env,
  })
  // The package starts a system-wide server on 6379; the tests start their own, so stop it.
  if (missing.includes('redis-server')) {
    try {
      execFileSync('service', ['redis-server', 'stop'], { stdio: 'ignore' })
    } catch {
      // No init system here: nothing was started.
    }
  }
}
