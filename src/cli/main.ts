import { readFileSync } from 'node:fs'
import { Command, CommanderError } from 'commander'
import { doctorCommand } from './doctor.js'
import { listenCommand } from './listen.js'
import { publishCommand } from './publish.js'
import { serveCommand } from './serve.js'
import { tokenCommand } from './token.js'
import { UsageError } from './usage-error.js'

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

export function createProgram(): Command {
  return new Command('streamgate')
    .description('Server-Sent Events: gateway, push hub, LLM streaming proxy and tools')
    .version(packageJson.version)
    .addCommand(serveCommand())
    .addCommand(listenCommand())
    .addCommand(publishCommand())
    .addCommand(tokenCommand())
    .addCommand(doctorCommand())
    .showHelpAfterError('(add --help for usage)')
    .exitOverride()
}

/** Runs the CLI. Exit codes: 0 done, 1 failure at run time, 2 bad usage or configuration. */
export async function main(argv: string[]): Promise<void> {
  const program = createProgram()
  for (const command of program.commands) command.exitOverride()
  try {
    await program.parseAsync(argv)
  } catch (error) {
    if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : 2)
    if (error instanceof UsageError) {
      process.stderr.write(`streamgate: ${error.message}\n`)
      process.exit(2)
    }
    process.stderr.write(`streamgate: ${error instanceof Error ? error.message : String(error)}\n`)
    process.exit(1)
  }
}
