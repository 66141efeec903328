import { Command } from 'commander'
import { signToken } from '../hub/authorization.js'
import { UsageError } from './usage-error.js'

export function tokenCommand(): Command {
  return new Command('token')
    .description('mint a Mercure JWT (HS256)')
    .option('--secret <secret>', 'the HS256 secret (or STREAMGATE_JWT_SECRET)')
    .option('--publish <selector...>', 'topics (or * / URI templates) the token may publish to')
    .option('--subscribe <selector...>', 'topics the token may receive private updates of')
    .option('--ttl <seconds>', 'lifetime in seconds (default: no expiry)')
    .action(async (options: { secret?: string; publish?: string[]; subscribe?: string[]; ttl?: string }) => {
      const secret = options.secret ?? process.env.STREAMGATE_JWT_SECRET
      if (secret === undefined || secret === '')
        throw new UsageError('token: --secret (or STREAMGATE_JWT_SECRET) is required')
      if (options.publish === undefined && options.subscribe === undefined) {
        throw new UsageError('token: give --publish and/or --subscribe selectors')
      }
      const ttl = options.ttl === undefined ? undefined : Number(options.ttl)
      if (ttl !== undefined && !(Number.isInteger(ttl) && ttl > 0)) {
        throw new UsageError(`token: --ttl must be a positive whole number of seconds, got "${options.ttl}"`)
      }
      const token = await signToken(secret, { publish: options.publish, subscribe: options.subscribe }, ttl)
      process.stdout.write(`${token}\n`)
    })
}
