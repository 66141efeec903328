import { readFileSync } from 'node:fs'
import { Command } from 'commander'
import { signToken } from '../hub/authorization.js'
import { UsageError } from './usage-error.js'

interface PublishOptions {
  topic: string[]
  data?: string
  event?: string
  id?: string
  retry?: string
  private?: boolean
  token?: string
  jwtSecret?: string
}

export function publishCommand(): Command {
  return new Command('publish')
    .description('publish an update to a Mercure hub; prints its id')
    .argument('<hub-url>', 'the hub, e.g. http://localhost:8080/.well-known/mercure')
    .option(
      '--topic <topic>',
      'topic of the update (repeatable)',
      (value, all: string[]) => [...all, value],
      [],
    )
    .option('--data <data>', 'the update data (default: standard input)')
    .option('--event <type>', 'the SSE event type')
    .option('--id <id>', 'the update id (default: the hub makes one)')
    .option('--retry <ms>', 'reconnection time for subscribers')
    .option('--private', 'only for subscribers allowed to see its topics')
    .option('--token <jwt>', 'publisher token (or STREAMGATE_TOKEN)')
    .option(
      '--jwt-secret <secret>',
      'mint a token for these topics with this secret (or STREAMGATE_JWT_SECRET)',
    )
    .action(async (hubUrl: string, options: PublishOptions) => {
      if (options.topic.length === 0) throw new UsageError('publish: at least one --topic is required')
      const secret = options.jwtSecret ?? process.env.STREAMGATE_JWT_SECRET
      const token =
        options.token ??
        process.env.STREAMGATE_TOKEN ??
        (secret === undefined ? undefined : await signToken(secret, { publish: options.topic }, 60))
      if (token === undefined) throw new UsageError('publish: give --token or --jwt-secret')
      const form = new URLSearchParams()
      for (const topic of options.topic) form.append('topic', topic)
      form.append('data', options.data ?? readFileSync(0, 'utf8'))
      if (options.event !== undefined) form.append('type', options.event)
      if (options.id !== undefined) form.append('id', options.id)
      if (options.retry !== undefined) form.append('retry', options.retry)
      if (options.private) form.append('private', 'on')
      let response: Response
      try {
        response = await fetch(hubUrl, {
          method: 'POST',
          headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
          body: form,
        })
      } catch (error) {
        throw new Error(
          `publish: cannot reach ${hubUrl} (${((error as Error).cause as Error)?.message ?? error})`,
        )
      }
      const body = await response.text()
      if (!response.ok) {
        let reason = body.trim()
        try {
          reason = (JSON.parse(body) as { error: { message: string } }).error.message
        } catch {
          // Not our JSON error: show the body as it is.
        }
        throw new Error(`publish: HTTP ${response.status}: ${reason}`)
      }
      process.stdout.write(`${body}\n`)
    })
}
