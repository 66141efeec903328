import http, { type IncomingMessage } from 'node:http'
import https from 'node:https'
import tls from 'node:tls'
import zlib from 'node:zlib'
import { Command } from 'commander'
import { createParser } from '../protocol/parser.js'
import { UsageError } from './usage-error.js'

export type Severity = 'ok' | 'warning' | 'problem'

export interface Finding {
  severity: Severity
  check: string
  detail: string
  /** What to change, for warnings and problems. */
  fix?: string
}

export interface Observation {
  status: number
  httpVersion: string
  headers: IncomingMessage['headers']
  /** Milliseconds from sending the request. */
  headersAt: number
  firstByteAt: number | undefined
  /** Arrival time of each event, in milliseconds from sending the request. */
  eventTimes: number[]
  alpn: string | undefined
}

/** Connects like a browser would (asking for compression, too) and records what arrives and when. */
export async function observe(
  url: URL,
  options: { durationMs: number; maxEvents: number; headers: Record<string, string> },
): Promise<Observation> {
  const started = performance.now()
  const since = () => Math.round(performance.now() - started)
  const alpn = url.protocol === 'https:' ? await negotiatedProtocol(url) : undefined
  const client = url.protocol === 'https:' ? https : http
  return new Promise((resolve, reject) => {
    const request = client.get(url, {
      headers: { accept: 'text/event-stream', 'accept-encoding': 'gzip, deflate, br', ...options.headers },
    })
    request.on('error', reject)
    request.on('response', (response) => {
      const observation: Observation = {
        status: response.statusCode ?? 0,
        httpVersion: response.httpVersion,
        headers: response.headers,
        headersAt: since(),
        firstByteAt: undefined,
        eventTimes: [],
        alpn,
      }
      const finish = () => {
        clearTimeout(timer)
        request.destroy()
        resolve(observation)
      }
      const timer = setTimeout(finish, options.durationMs)
      const parser = createParser({
        onEvent: () => {
          observation.eventTimes.push(since())
          if (observation.eventTimes.length >= options.maxEvents) finish()
        },
        onError: () => {},
      })
      const body = decompressed(response)
      body.on('data', (chunk: Buffer) => {
        observation.firstByteAt ??= since()
        parser.feed(chunk)
      })
      body.on('end', finish)
      body.on('error', finish)
    })
  })
}

function decompressed(response: IncomingMessage): NodeJS.ReadableStream {
  switch (response.headers['content-encoding']) {
    case 'gzip':
      return response.pipe(zlib.createGunzip({ flush: zlib.constants.Z_SYNC_FLUSH }))
    case 'deflate':
      return response.pipe(zlib.createInflate({ flush: zlib.constants.Z_SYNC_FLUSH }))
    case 'br':
      return response.pipe(zlib.createBrotliDecompress({ flush: zlib.constants.BROTLI_OPERATION_FLUSH }))
    default:
      return response
  }
}

function negotiatedProtocol(url: URL): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: url.hostname,
      port: Number(url.port || 443),
      servername: url.hostname,
      ALPNProtocols: ['h2', 'http/1.1'],
      rejectUnauthorized: false,
    })
    socket.once('secureConnect', () => {
      resolve(socket.alpnProtocol || undefined)
      socket.destroy()
    })
    socket.once('error', () => resolve(undefined))
  })
}

/** Events closer than this arrived together. */
const SAME_BURST_MS = 15

/** Judges an observation: each check with its verdict and, where something is wrong, the fix. */
export function diagnose(observation: Observation): Finding[] {
  const findings: Finding[] = []
  const add = (severity: Severity, check: string, detail: string, fix?: string) =>
    findings.push({ severity, check, detail, fix })
  const { headers, status } = observation

  if (status === 200) add('ok', 'status', '200')
  else if (status === 204) add('warning', 'status', '204: the server tells clients to stop reconnecting')
  else add('problem', 'status', String(status), 'answer 200 to an SSE request (204 to tell clients to stop)')

  const contentType = headers['content-type'] ?? ''
  if (/^text\/event-stream\s*(;|$)/i.test(contentType)) add('ok', 'content type', contentType)
  else {
    add(
      'problem',
      'content type',
      contentType || 'missing',
      'send Content-Type: text/event-stream; charset=utf-8 (EventSource refuses anything else)',
    )
  }

  const cacheControl = (headers['cache-control'] ?? '').toLowerCase()
  if (!/no-cache|no-store/.test(cacheControl)) {
    add('problem', 'cache control', cacheControl || 'missing', 'send Cache-Control: no-cache, no-transform')
  } else if (!cacheControl.includes('no-transform')) {
    add(
      'warning',
      'cache control',
      cacheControl,
      'add no-transform, so that proxies and compression middleware leave the stream alone',
    )
  } else add('ok', 'cache control', cacheControl)

  const encoding = headers['content-encoding']
  if (encoding !== undefined && encoding !== 'identity') {
    add(
      'problem',
      'compression',
      `${encoding}: compressors hold bytes back until their buffer fills`,
      'do not compress text/event-stream (exclude it from compression middleware; Cache-Control: no-transform)',
    )
  } else add('ok', 'compression', 'none')

  if (headers['x-accel-buffering'] === 'no') add('ok', 'proxy buffering', 'X-Accel-Buffering: no')
  else {
    add(
      'warning',
      'proxy buffering',
      'no X-Accel-Buffering: no',
      'behind nginx, send X-Accel-Buffering: no (or proxy_buffering off for this location)',
    )
  }

  const http2 = observation.httpVersion.startsWith('2') || observation.alpn === 'h2'
  if (http2) add('ok', 'HTTP version', 'HTTP/2 available')
  else {
    add(
      'warning',
      'HTTP version',
      `HTTP/${observation.httpVersion}: browsers open at most 6 connections per origin`,
      'serve HTTP/2 (streamgate serve --tls-cert --tls-key) so that many streams share one connection',
    )
  }

  if (observation.headersAt > 1000) {
    add(
      'warning',
      'time to headers',
      `${observation.headersAt} ms`,
      'send the headers at once, before the first event is ready',
    )
  } else add('ok', 'time to headers', `${observation.headersAt} ms`)

  const { firstByteAt } = observation
  if (firstByteAt === undefined) {
    add(
      'problem',
      'first byte',
      'no body bytes arrived',
      'write a comment (": ok") right after the headers, and heartbeats',
    )
  } else if (firstByteAt - observation.headersAt > 1000) {
    add(
      'warning',
      'first byte',
      `${firstByteAt - observation.headersAt} ms after the headers`,
      'write a comment right after the headers so that clients and proxies see the stream open',
    )
  } else add('ok', 'first byte', `${firstByteAt} ms`)

  const times = observation.eventTimes
  const bursts = times.filter(
    (time, index) => index === 0 || time - (times[index - 1] ?? 0) > SAME_BURST_MS,
  ).length
  const longestGap = Math.max(
    0,
    ...times.map((time, index) => (index === 0 ? 0 : time - (times[index - 1] ?? 0))),
  )
  if (times.length < 4) add('ok', 'delivery', `${times.length} events observed: too few to judge bursts`)
  else if (bursts * 3 <= times.length && longestGap > 500) {
    add(
      'warning',
      'delivery',
      `${times.length} events arrived in ${bursts} bursts, with gaps up to ${longestGap} ms`,
      'something between server and client buffers: flush after every event and turn proxy buffering off',
    )
  } else add('ok', 'delivery', `${times.length} events in ${bursts} separate arrivals`)

  return findings
}

const MARKS: Record<Severity, string> = { ok: '✓', warning: '!', problem: '✗' }

export function doctorCommand(): Command {
  return new Command('doctor')
    .description('diagnose why a stream does not stream: headers, compression, buffering, HTTP version')
    .argument('<url>', 'the event stream')
    .option(
      '-H, --header <header>',
      "request header 'Name: value' (repeatable)",
      (value, all: string[]) => [...all, value],
      [],
    )
    .option('--duration <seconds>', 'how long to watch the stream', '10')
    .option('--max-events <n>', 'stop watching after this many events', '20')
    .action(async (target: string, options: { header: string[]; duration: string; maxEvents: string }) => {
      let url: URL
      try {
        url = new URL(target)
        if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error()
      } catch {
        throw new UsageError(`doctor: not an http(s) URL: ${target}`)
      }
      const durationMs = Number(options.duration) * 1000
      const maxEvents = Number(options.maxEvents)
      if (!(durationMs > 0) || !(maxEvents > 0))
        throw new UsageError('doctor: --duration and --max-events must be positive')
      const headers: Record<string, string> = {}
      for (const header of options.header) {
        const colon = header.indexOf(':')
        if (colon <= 0) throw new UsageError(`doctor: a header is 'Name: value', got "${header}"`)
        headers[header.slice(0, colon).trim()] = header.slice(colon + 1).trim()
      }
      process.stdout.write(`Watching ${url.href} for up to ${options.duration} s…\n`)
      const observation = await observe(url, { durationMs, maxEvents, headers }).catch((error: Error) => {
        throw new Error(
          `doctor: cannot reach ${url.href} (${(error as NodeJS.ErrnoException).code ?? error.message})`,
        )
      })
      const findings = diagnose(observation)
      for (const finding of findings) {
        process.stdout.write(`${MARKS[finding.severity]} ${finding.check}: ${finding.detail}\n`)
        if (finding.fix !== undefined) process.stdout.write(`    fix: ${finding.fix}\n`)
      }
      const problems = findings.filter((finding) => finding.severity === 'problem').length
      const warnings = findings.filter((finding) => finding.severity === 'warning').length
      process.stdout.write(
        problems > 0
          ? `Verdict: not streaming properly (${problems} problem${problems > 1 ? 's' : ''}, ${warnings} warning${warnings === 1 ? '' : 's'}).\n`
          : `Verdict: streams correctly${warnings > 0 ? ` (${warnings} warning${warnings === 1 ? '' : 's'})` : ''}.\n`,
      )
      process.exit(problems > 0 ? 1 : 0)
    })
}
