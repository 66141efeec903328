import { readFileSync } from 'node:fs'
import { Command, Option } from 'commander'
import { NetworkError } from '../client/errors.js'
import { fetchEventStream } from '../client/fetch-event-stream.js'
import type { ServerSentEvent } from '../protocol/types.js'
import { UsageError } from './usage-error.js'

interface ListenOptions {
  request?: string
  header: string[]
  data?: string
  lastEventId?: string
  reconnect: boolean
  maxEvents?: string
  timeout?: string
  json?: boolean
  raw?: boolean
  comments?: boolean
}

export function listenCommand(): Command {
  return new Command('listen')
    .description('print the events of any SSE endpoint (the terminal twin of the browser EventSource)')
    .argument('<url>', 'the event stream')
    .option('-X, --request <method>', 'HTTP method (default GET, or POST with -d)')
    .option('-H, --header <header>', "request header 'Name: value' (repeatable)", collect, [])
    .option('-d, --data <body>', 'request body; @file reads a file, @- standard input')
    .option('--last-event-id <id>', 'resume after this event id')
    .option('--no-reconnect', 'exit when the stream ends instead of reconnecting')
    .option('--max-events <n>', 'exit after n events')
    .option('--timeout <seconds>', 'stop after this many seconds')
    .addOption(
      new Option('--json', 'one JSON line per event: {"type","data","lastEventId"}').conflicts('raw'),
    )
    .option('--raw', 'print the stream as received')
    .option('--comments', 'also print comment lines (heartbeats)')
    .action((url: string, options: ListenOptions) => listen(url, options))
}

async function listen(url: string, options: ListenOptions): Promise<void> {
  const request = buildRequest(url, options)
  const maxEvents =
    options.maxEvents === undefined ? Number.POSITIVE_INFINITY : positive(options.maxEvents, '--max-events')
  const timeoutSeconds = options.timeout === undefined ? undefined : positive(options.timeout, '--timeout')
  const output = createOutput(options)
  const abort = new AbortController()
  let connected = false
  let interrupted = false
  let timedOut = false
  const timer =
    timeoutSeconds === undefined
      ? undefined
      : setTimeout(() => {
          timedOut = true
          abort.abort()
        }, timeoutSeconds * 1000)
  const onSigint = () => {
    interrupted = true
    abort.abort()
  }
  process.once('SIGINT', onSigint)
  // A closed pipe (`| head`) is a normal way to stop reading.
  process.stdout.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(0)
  })

  let received = 0
  try {
    const events = fetchEventStream(request.url, {
      method: request.method,
      headers: request.headers,
      body: request.body,
      lastEventId: options.lastEventId,
      reconnect: options.reconnect,
      signal: abort.signal,
      // Only a stream that was established is worth coming back to; a first failure is final.
      shouldReconnect: ({ everConnected }) => everConnected,
      onOpen: (response) => {
        connected = true
        output.notice(`connected: HTTP ${response.status} ${response.headers.get('content-type') ?? ''}`)
      },
      onChunk: options.raw ? (chunk) => process.stdout.write(chunk) : undefined,
      onComment: options.comments ? (comment) => output.comment(comment) : undefined,
      onReconnect: (delay, { error }) => {
        const reason = error instanceof Error ? error.message : 'stream ended'
        output.notice(`${reason}; reconnecting in ${(delay / 1000).toFixed(1)} s`)
      },
    })
    for await (const event of events) {
      received++
      if (!options.raw) output.event(event)
      if (received >= maxEvents) break
    }
  } catch (error) {
    if (!abort.signal.aborted)
      throw error instanceof NetworkError ? new Error(describeNetworkError(url, error)) : error
  } finally {
    clearTimeout(timer)
    process.off('SIGINT', onSigint)
  }
  if (interrupted) process.exit(130)
  if (timedOut && !connected) throw new Error(`no stream within ${timeoutSeconds} s: ${url}`)
  output.notice(received >= maxEvents ? `received ${received} events` : 'stream ended')
  // Pooled keep-alive sockets must not hold the process open.
  process.exit(0)
}

/** Node's error codes, said plainly. */
function describeNetworkError(url: string, error: NetworkError): string {
  const cause = (error.cause as { cause?: { code?: string; message?: string } } | undefined)?.cause
  switch (cause?.code) {
    case 'ECONNREFUSED':
      return `connection refused: ${url}`
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `host not found: ${url}`
    case 'ECONNRESET':
      return `connection reset: ${url}`
    default:
      return `${error.message}${cause?.message ? ` (${cause.message})` : ''}`
  }
}

interface ListenRequest {
  url: string
  method: string
  headers: Headers
  body: string | undefined
}

function buildRequest(url: string, options: ListenOptions): ListenRequest {
  try {
    const parsed = new URL(url)
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error()
  } catch {
    throw new UsageError(`listen: not an http(s) URL: ${url}`)
  }
  const headers = new Headers()
  for (const header of options.header) {
    const colon = header.indexOf(':')
    if (colon <= 0) throw new UsageError(`listen: a header is 'Name: value', got "${header}"`)
    try {
      headers.append(header.slice(0, colon).trim(), header.slice(colon + 1).trim())
    } catch {
      throw new UsageError(`listen: invalid header "${header}"`)
    }
  }
  const body = options.data === undefined ? undefined : readBody(options.data)
  if (body !== undefined && !headers.has('content-type')) {
    headers.set('content-type', isJson(body) ? 'application/json' : 'text/plain; charset=utf-8')
  }
  const method = (options.request ?? (body === undefined ? 'GET' : 'POST')).toUpperCase()
  return { url, method, headers, body }
}

function readBody(data: string): string {
  if (!data.startsWith('@')) return data
  const path = data.slice(1)
  try {
    return readFileSync(path === '-' ? 0 : path, 'utf8')
  } catch (error) {
    throw new UsageError(
      `listen: cannot read ${path === '-' ? 'standard input' : path} (${(error as NodeJS.ErrnoException).code})`,
    )
  }
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

function positive(value: string, name: string): number {
  const number = Number(value)
  if (!Number.isFinite(number) || number <= 0)
    throw new UsageError(`listen: ${name} must be a positive number, got "${value}"`)
  return number
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value]
}

interface Output {
  event(event: ServerSentEvent): void
  comment(text: string): void
  notice(text: string): void
}

/**
 * With --json, stdout carries only event lines (as a browser MessageEvent reports them) and every
 * notice goes to stderr; the pretty form shows type, id, data and the time since the previous event.
 */
function createOutput(options: ListenOptions): Output {
  const notice = (text: string) => process.stderr.write(`${paint('2', `# ${visible(text)}`)}\n`)
  if (options.json) {
    return {
      // JSON escapes C0 controls itself; C1 ones (U+009B is a CSI in some terminals) it leaves raw.
      event: ({ event, data, lastEventId }) =>
        process.stdout.write(
          `${JSON.stringify({ type: event ?? 'message', data, lastEventId }).replace(C1, escapeCharacter)}\n`,
        ),
      comment: (text) => process.stderr.write(`: ${visible(text)}\n`),
      notice,
    }
  }
  let previous = performance.now()
  const since = () => {
    const now = performance.now()
    const elapsed = (now - previous) / 1000
    previous = now
    return paint('2', `+${elapsed.toFixed(3)}s`.padStart(9))
  }
  return {
    event: ({ event, data, id }) => {
      const idPart = id === undefined ? '' : ` ${paint('33', `id=${visible(id)}`)}`
      const lines = data.split('\n').map(visible)
      const rest = lines
        .slice(1)
        .map((line) => `\n${' '.repeat(10)}${line}`)
        .join('')
      process.stdout.write(
        `${since()} ${paint('36', visible(event ?? 'message'))}${idPart} ${lines[0]}${rest}\n`,
      )
    },
    comment: (text) => process.stdout.write(`${since()} ${paint('2', `: ${visible(text)}`)}\n`),
    notice,
  }
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
const CONTROLS = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f]/g
const C1 = /[\u007f-\u009f]/g
const escapeCharacter = (character: string) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`

/**
 * What a server sent, safe to print to a terminal: control characters (escape sequences can set the
 * title, clear the screen or write the clipboard, OSC 52) shown as `\u001b`, not obeyed. `--raw`
 * prints the bytes as they came, as curl does.
 */
const visible = (text: string) => text.replace(CONTROLS, escapeCharacter)

const colors = process.stdout.isTTY === true && process.env.NO_COLOR === undefined

function paint(code: string, text: string): string {
  return colors ? `\u001b[${code}m${text}\u001b[0m` : text
}
