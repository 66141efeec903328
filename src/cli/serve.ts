import { Command, Option } from 'commander'
import { createGateway } from '../gateway/app.js'
import { ConfigError, parseGatewayConfig } from '../gateway/config.js'
import { createLogger } from '../gateway/logger.js'
import { signToken } from '../hub/authorization.js'
import { UsageError } from './usage-error.js'

/** Each flag reads its STREAMGATE_<FLAG> environment variable when not given. */
const flag = (flags: string, description: string) => {
  const long = /--([a-z-]+)/.exec(flags)?.[1] ?? ''
  return new Option(flags, description).env(`STREAMGATE_${long.toUpperCase().replaceAll('-', '_')}`)
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the gateway: the demo stream, the Mercure hub, the LLM proxy, metrics and health')
    .addOption(flag('--port <port>', 'port to listen on (default 8080; 0 picks a free one)'))
    .addOption(flag('--host <host>', 'address to bind (default 127.0.0.1)'))
    .addOption(flag('--heartbeat <seconds>', 'longest silence before a heartbeat comment (default 15)'))
    .addOption(flag('--cors-origin <origin...>', 'origins allowed to read streams (default *)'))
    .addOption(
      flag(
        '--publish-origin <origin...>',
        'origins whose pages may publish with the Mercure cookie (default none)',
      ),
    )
    .addOption(
      flag(
        '--subscriber-buffer <size>',
        'bytes queued for a slow client before it is cut off (default 256KiB)',
      ),
    )
    .addOption(flag('--tls-cert <file>', 'PEM certificate: serve HTTP/2 over TLS (with HTTP/1.1 fallback)'))
    .addOption(flag('--tls-key <file>', 'PEM private key for --tls-cert'))
    .addOption(flag('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)'))
    .addOption(flag('--store <store>', 'sqlite:<file> (default sqlite:./.streamgate/hub.db) or memory'))
    .addOption(flag('--jwt-secret <secret>', 'HS256 secret for publisher and subscriber tokens'))
    .addOption(flag('--publisher-jwt-secret <secret>', 'HS256 secret for publisher tokens only'))
    .addOption(flag('--subscriber-jwt-secret <secret>', 'HS256 secret for subscriber tokens only'))
    .addOption(
      flag(
        '--jwt-audience <uri...>',
        "the hub's resource identifiers that at+jwt tokens must name in aud (default: its own URL)",
      ),
    )
    .addOption(flag('--jwt-issuer <iss...>', 'accepted iss of at+jwt tokens (default: any)'))
    .addOption(
      flag(
        '--jwt-issuer-key <iss=key...>',
        "an issuer's verification key: an HS256 secret, a PEM public key, or @file",
      ),
    )
    .addOption(flag('--anonymous', 'subscribers without a token receive public updates (default)'))
    .addOption(new Option('--no-anonymous', 'require a subscriber token'))
    .addOption(flag('--subscriptions', 'presence updates and the active subscriptions API'))
    .addOption(flag('--max-body <size>', 'largest publish body (default 1MiB)'))
    .addOption(flag('--history-size <n>', 'updates kept for resuming (default 10000)'))
    .addOption(
      flag(
        '--presence-history <n>',
        'subscription events kept for resuming, apart from --history-size (default 1000)',
      ),
    )
    .addOption(flag('--history-max-age <duration>', 'how long updates are kept, e.g. 24h (default)'))
    .addOption(
      flag('--upstream <url>', 'OpenAI-compatible base URL with /v1 (env OPENAI_BASE_URL; default: demo)'),
    )
    .addOption(flag('--upstream-key <key>', 'key for --upstream (env OPENAI_API_KEY)'))
    .addOption(flag('--anthropic-upstream <url>', 'Anthropic base URL, without /v1 (env ANTHROPIC_BASE_URL)'))
    .addOption(flag('--anthropic-upstream-key <key>', 'key for --anthropic-upstream (env ANTHROPIC_API_KEY)'))
    .addOption(
      flag(
        '--upstream-connect-timeout <seconds>',
        'time to connect to an upstream, TLS included (default 10)',
      ),
    )
    .addOption(
      flag(
        '--upstream-header-timeout <seconds>',
        "time from a request to its upstream's response head (default 600: a non-streamed answer of a reasoning model)",
      ),
    )
    .addOption(
      flag(
        '--upstream-idle-timeout <seconds>',
        'longest silence of an upstream body before it fails (default 300)',
      ),
    )
    .addOption(
      flag(
        '--upstream-ca <file>',
        'PEM certificate authorities to trust for the upstreams, besides the system ones',
      ),
    )
    .addOption(flag('--api-key <key...>', 'gateway keys clients must present on the LLM routes'))
    .addOption(flag('--auth', 'require --api-key on a non-loopback address (default)'))
    .addOption(new Option('--no-auth', 'open the LLM routes without keys on any address'))
    .addOption(
      flag('--resume-grace <seconds>', 'how long a generation outlives its last viewer (default 30)'),
    )
    .addOption(
      flag(
        '--generation-retention <seconds>',
        'how long a finished generation stays in the store, since last used (default 1h)',
      ),
    )
    .addOption(
      flag('--generation-max-bytes <size>', 'bytes of finished generations the store keeps (default 1GiB)'),
    )
    .addOption(
      flag(
        '--upstream-background',
        "--upstream runs OpenAI's background mode itself: pass `background` through (default: the gateway runs it)",
      ),
    )
    .addOption(
      flag('--stream-long-poll <seconds>', 'how long a durable stream long-poll waits for data (default 20)'),
    )
    .addOption(
      flag('--stream-readers <n>', 'live readers one durable stream may have at once (default 1000)'),
    )
    .addOption(
      flag('--stream-max-bytes <size>', 'bytes one durable stream may store (default 64MiB; 0: unlimited)'),
    )
    .addOption(flag('--max-streams <n>', 'durable streams kept at once (default 100000; 0: unlimited)'))
    .addOption(flag('--key-rpm <n>', 'LLM requests per minute per gateway key (default 0: unlimited)'))
    .addOption(flag('--key-concurrency <n>', 'LLM requests at once per gateway key (default 0: unlimited)'))
    .addOption(
      flag(
        '--max-connections-per-ip <n>',
        'requests and streams open at once per client address (default 0: unlimited)',
      ),
    )
    .addOption(
      flag('--max-topics <n>', 'topic selectors per hub subscription, and topics per update (default 100)'),
    )
    .addOption(
      flag('--max-wildcards <n>', 'wildcards over the topic selectors of one hub subscription (default 64)'),
    )
    .addOption(
      flag('--header-timeout <seconds>', 'time a client has to send its request headers (default 10)'),
    )
    .action(async (options: Record<string, unknown>) => {
      const { config, logging, gateway } = prepare(withProviderEnvironment(options))
      const logger = gateway.logger
      // Handlers first: a signal that arrives before them would kill the process without draining.
      let stopping = false
      const stop = (signal: string) => {
        // A second signal while draining means "now".
        if (stopping) process.exit(1)
        stopping = true
        logger.info({ signal, openStreams: gateway.openStreams.size }, 'shutting down')
        gateway.close().then(
          () => {
            logger.info('stopped')
            logging.flush()
            process.exit(0)
          },
          (error: unknown) => {
            logger.error({ err: error }, 'shutdown failed')
            logging.flush()
            process.exit(1)
          },
        )
      }
      process.on('SIGINT', () => stop('SIGINT'))
      process.on('SIGTERM', () => stop('SIGTERM'))
      const url = await gateway.listen().catch((error: NodeJS.ErrnoException) => {
        throw new Error(
          `serve: cannot listen on ${config.host}:${config.port} (${error.code ?? error.message})`,
        )
      })
      logger.info({ url }, 'listening')
      if (gateway.hubSetup.generatedSecretFile !== undefined) await printStarterToken(gateway, url)
    })
}

/** No secret was configured: show how to publish with the one kept in the data dir. */
async function printStarterToken(gateway: ReturnType<typeof createGateway>, url: string): Promise<void> {
  const token = await signToken(
    gateway.hubSetup.publisherSecret,
    { publish: ['*'], subscribe: ['*'] },
    24 * 3600,
  )
  process.stderr.write(
    [
      `No --jwt-secret given: using the secret kept in ${gateway.hubSetup.generatedSecretFile}.`,
      'A publisher token for every topic (valid 24 h):',
      `  ${token}`,
      'Publish an update:',
      `  curl -d 'topic=https://example.com/demo' -d 'data=hello' -H 'Authorization: Bearer ${token}' ${url}/.well-known/mercure`,
      `Subscribe: ./bin/streamgate listen '${url}/.well-known/mercure?topic=https://example.com/demo'`,
      '',
    ].join('\n'),
  )
}

/**
 * The providers' own environment variables, as their SDKs read them: `OPENAI_API_KEY` alone means
 * OpenAI itself, `ANTHROPIC_API_KEY` alone Anthropic itself.
 */
function withProviderEnvironment(options: Record<string, unknown>): Record<string, unknown> {
  const env = process.env
  const openaiKey = options.upstreamKey ?? env.OPENAI_API_KEY
  const anthropicKey = options.anthropicUpstreamKey ?? env.ANTHROPIC_API_KEY
  return {
    ...options,
    upstream:
      options.upstream ??
      env.OPENAI_BASE_URL ??
      (openaiKey === undefined ? undefined : 'https://api.openai.com/v1'),
    upstreamKey: openaiKey,
    anthropicUpstream:
      options.anthropicUpstream ??
      env.ANTHROPIC_BASE_URL ??
      (anthropicKey === undefined ? undefined : 'https://api.anthropic.com'),
    anthropicUpstreamKey: anthropicKey,
  }
}

function prepare(options: Record<string, unknown>) {
  try {
    const config = parseGatewayConfig(options)
    const logging = createLogger(config.logLevel)
    return { config, logging, gateway: createGateway(config, logging.logger) }
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`serve: ${error.message}`)
    throw error
  }
}
