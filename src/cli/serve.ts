import { Command, Option } from 'commander'
import { createGateway } from '../gateway/app.js'
import { ConfigError, parseGatewayConfig } from '../gateway/config.js'
import { createLogger } from '../gateway/logger.js'
import { UsageError } from './usage-error.js'

/** Each flag reads its STREAMGATE_<FLAG> environment variable when not given. */
const flag = (flags: string, description: string) => {
  const long = /--([a-z-]+)/.exec(flags)?.[1] ?? ''
  return new Option(flags, description).env(`STREAMGATE_${long.toUpperCase().replaceAll('-', '_')}`)
}

export function serveCommand(): Command {
  return new Command('serve')
    .description('run the gateway: the demo stream, health, and (coming) the hub and LLM proxy')
    .addOption(flag('--port <port>', 'port to listen on (default 8080; 0 picks a free one)'))
    .addOption(flag('--host <host>', 'address to bind (default 127.0.0.1)'))
    .addOption(flag('--heartbeat <seconds>', 'longest silence before a heartbeat comment (default 15)'))
    .addOption(flag('--cors-origin <origin...>', 'origins allowed to read streams (default *)'))
    .addOption(
      flag(
        '--subscriber-buffer <size>',
        'bytes queued for a slow client before it is cut off (default 256KiB)',
      ),
    )
    .addOption(flag('--tls-cert <file>', 'PEM certificate: serve HTTP/2 over TLS (with HTTP/1.1 fallback)'))
    .addOption(flag('--tls-key <file>', 'PEM private key for --tls-cert'))
    .addOption(flag('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)'))
    .action(async (options: Record<string, unknown>) => {
      const { config, gateway } = prepare(options)
      const logger = gateway.logger
      // Handlers first: a signal that arrives before them would kill the process without draining.
      let stopping = false
      const stop = (signal: string) => {
        // A second signal while draining means "now".
        if (stopping) process.exit(1)
        stopping = true
        logger.info({ signal, openStreams: gateway.openStreams.size }, 'shutting down')
        void gateway.close().then(() => {
          logger.info('stopped')
          process.exit(0)
        })
      }
      process.on('SIGINT', () => stop('SIGINT'))
      process.on('SIGTERM', () => stop('SIGTERM'))
      const url = await gateway.listen().catch((error: NodeJS.ErrnoException) => {
        throw new Error(
          `serve: cannot listen on ${config.host}:${config.port} (${error.code ?? error.message})`,
        )
      })
      logger.info({ url }, 'listening')
    })
}

function prepare(options: Record<string, unknown>) {
  try {
    const config = parseGatewayConfig(options)
    return { config, gateway: createGateway(config, createLogger(config.logLevel)) }
  } catch (error) {
    if (error instanceof ConfigError) throw new UsageError(`serve: ${error.message}`)
    throw error
  }
}
