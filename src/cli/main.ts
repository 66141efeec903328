import { readFileSync } from 'node:fs'
import { Command } from 'commander'

const packageJson = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string
}

export function createProgram(): Command {
  return new Command('streamgate')
    .description('Server-Sent Events: gateway, push hub, LLM streaming proxy and tools')
    .version(packageJson.version)
    .showHelpAfterError()
}

export async function main(argv: string[]): Promise<void> {
  await createProgram().parseAsync(argv)
}
