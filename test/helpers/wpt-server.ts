import type { IncomingMessage, ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import { startServer } from './servers.js'

/**
 * What the server side of the web-platform-tests `eventsource/` suite does (its resources/*.py and
 * *.php), in one local server. State that WPT keeps in cookies is kept per `id` here.
 * `chunking=bytes` writes every body one byte at a time; `chunking=crlf` turns LF into CRLF and
 * splits each pair between two writes.
 */
export async function startWptServer() {
  const state = new Map<string, string>()
  const requests: IncomingMessage[] = []

  async function write(response: ServerResponse, body: string, chunking: string | null): Promise<void> {
    if (chunking === 'bytes') {
      for (const byte of Buffer.from(body)) {
        response.write(Uint8Array.of(byte))
        await sleep(0)
      }
    } else if (chunking === 'crlf') {
      const lines = body.split('\n')
      for (const [index, line] of lines.entries()) {
        if (index === lines.length - 1) {
          response.write(line)
          break
        }
        response.write(`${line}\r`)
        await sleep(1)
        response.write('\n')
      }
    } else {
      response.write(body)
    }
    response.end()
  }

  const server = await startServer(async (request, response) => {
    requests.push(request)
    const url = new URL(request.url ?? '/', 'http://wpt')
    const query = url.searchParams
    const chunking = query.get('chunking')
    const id = query.get('id') ?? ''
    const sse = (status = 200, reason?: string) =>
      response.writeHead(status, reason ?? '', { 'content-type': query.get('mime') ?? 'text/event-stream' })
    switch (url.pathname) {
      case '/message': {
        // resources/message.py: `message` plus `newline` (default a blank line), then one more LF.
        sse()
        const newline = query.get('newline')
        const message = query.get('message') ?? 'data: data'
        await write(
          response,
          `${message}${newline === null ? '\n\n' : newline === 'none' ? '' : newline}\n`,
          chunking,
        )
        return
      }
      case '/status-error':
        response.writeHead(Number(query.get('status')), { 'content-type': 'text/event-stream' })
        response.end('data: data\n\n')
        return
      case '/status-reconnect': {
        // First an error status (with retry: 2 and maybe a message), then 200 with "data".
        const status = query.get('status') ?? '204'
        const key = `status-reconnect:${id || status}`
        if (state.get(key) === status) {
          state.delete(key)
          sse()
          response.end('data: data\n\n')
        } else {
          state.set(key, status)
          sse(Number(status), 'TEST')
          response.end(`retry: 2\n${query.has('ok_first') ? 'data: ok\n\n' : ''}`)
        }
        return
      }
      case '/reconnect-fail': {
        // opened → reconnected → 204.
        const key = `reconnect-fail:${id}`
        const current = state.get(key)
        if (current === 'opened') {
          state.set(key, 'reconnected')
          sse()
          response.end('data: reconnected\n\n')
        } else if (current === 'reconnected') {
          state.delete(key)
          response.writeHead(204).end()
        } else {
          state.set(key, 'opened')
          sse()
          response.end('retry: 2\ndata: opened\n\n')
        }
        return
      }
      case '/last-event-id': {
        // Echoes the Last-Event-ID it gets back as both data and id.
        sse()
        // Header values arrive as bytes (latin1 in Node); the id was sent UTF-8 encoded.
        const header = request.headers['last-event-id']
        const lastEventId =
          typeof header === 'string' ? Buffer.from(header, 'latin1').toString('utf8') : undefined
        await write(
          response,
          lastEventId === undefined
            ? 'id: …\nretry: 200\ndata: hello\n\n'
            : `id: ${lastEventId}\ndata: ${lastEventId}\n\n`,
          chunking,
        )
        return
      }
      case '/last-event-id2': {
        // resources/last-event-id2.py: the id persists, changes and persists, or resets across reconnections.
        sse()
        const type = query.get('type')
        const attempt = request.headers['last-event-id'] === undefined ? 0 : 1
        if (attempt === 0) {
          response.end('retry: 1\nid: 1\ndata: first\n\n')
        } else if (type === '1') {
          response.end('data: second\n\n')
        } else if (type === '2') {
          response.end('id: 2\ndata: second\n\ndata: third\n\n')
        } else {
          response.end('id\ndata: second\n\ndata: third\n\n')
        }
        return
      }
      case '/echo-header':
        sse()
        response.end(`data: ${request.headers[query.get('name') ?? ''] ?? ''}\n\n`)
        return
      case '/redirect':
        response.writeHead(Number(query.get('status')), { location: `/message?${query.get('to') ?? ''}` })
        response.end()
        return
      case '/hang':
        // Headers, then nothing: a connection that close() must cancel.
        sse()
        response.write(': open\n')
        return
      default:
        response.writeHead(404).end()
    }
  })
  return { url: server.url, requests, close: server.close }
}
