import { Command, Option } from 'commander'
import { signAccessToken, signToken } from '../hub/authorization.js'
import { UsageError } from './usage-error.js'

interface TokenOptions {
  secret?: string
  publish?: string[]
  subscribe?: string[]
  ttl?: string
  format: 'current' | '0.x'
  issuer: string
  audience: string
  subject?: string
}

/** An access token lives an hour unless told otherwise: the current specification requires `exp`. */
const CURRENT_DEFAULT_TTL = 3600

export function tokenCommand(): Command {
  return new Command('token')
    .description('mint a Mercure JWT (HS256), in the current specification’s form or the 0.x one')
    .option('--secret <secret>', 'the HS256 secret (or STREAMGATE_JWT_SECRET)')
    .option('--publish <selector...>', 'topics (or *) the token may publish to')
    .option('--subscribe <selector...>', 'topics the token may receive private updates of')
    .option('--ttl <seconds>', 'lifetime in seconds (current: default 3600; 0.x: default no expiry)')
    .addOption(
      new Option(
        '--format <format>',
        'current: typ at+jwt, iss/aud/exp/sub/client_id/iat/jti and authorization_details; 0.x: the mercure claim',
      )
        .choices(['current', '0.x'])
        .default('0.x'),
    )
    .option('--issuer <iss>', 'iss of a current token', 'streamgate')
    .option(
      '--audience <uri>',
      "aud of a current token: the hub's URL",
      'http://localhost:8080/.well-known/mercure',
    )
    .option('--subject <sub>', 'sub (and client_id) of a current token (default streamgate-cli)')
    .action(async (options: TokenOptions) => {
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
      const grants = { publish: options.publish, subscribe: options.subscribe }
      const token =
        options.format === 'current'
          ? await signAccessToken(secret, grants, {
              issuer: options.issuer,
              audience: options.audience,
              subject: options.subject,
              ttlSeconds: ttl ?? CURRENT_DEFAULT_TTL,
            })
          : await signToken(secret, grants, ttl)
      process.stdout.write(`${token}\n`)
    })
}
