/** A command line or configuration the CLI cannot run with: reported in one line, exit code 2. */
export class UsageError extends Error {
  override name = 'UsageError'
}
