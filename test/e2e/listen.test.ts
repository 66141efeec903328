import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, runCli, startGateway } from '../helpers/gateway-process.js'
import { closedPort, startServer } from '../helpers/servers.js'

let gateway: GatewayProcess

beforeAll(async () => {
  gateway = await startGateway()
})

afterAll(async () => {
  await gateway.stop()
})

describe('streamgate listen', () => {
  it('shows the control characters a server sends instead of handing them to the terminal', async () => {
    // A window title, a screen clear and a clipboard write (OSC 52), in every field a server sets.
    const hostile = '\u001b]0;pwned\u0007\u001b[2J\u001b]52;c;Y3VybCBldmlsfHNo\u0007\u009b31m'
    const server = await startServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'text/event-stream' })
      response.end(`: ${hostile}\nid: ${hostile}\nevent: ${hostile}\ndata: ${hostile}\n\n`)
    })
    try {
      for (const format of [[], ['--json']]) {
        const { code, stdout, stderr } = await runCli([
          'listen',
          ...format,
          '--comments',
          '--no-reconnect',
          server.url,
        ])
        expect(code).toBe(0)
        expect(stdout + stderr).toContain('\\u001b]0;pwned\\u0007')
        // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
        expect(stdout + stderr).not.toMatch(/[\u001b\u0007\u009b]/)
      }
    } finally {
      await server.close()
    }
  })

  it('--json --no-reconnect prints the 12 events as JSON lines, notices on stderr, and exits 0', async () => {
    const { code, stdout, stderr } = await runCli([
      'listen',
      '--json',
      '--no-reconnect',
      `${gateway.url}/stream?interval=10`,
    ])
    expect(code).toBe(0)
    const lines = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line))
    expect(lines).toHaveLength(12)
    expect(lines[0]).toEqual({ type: 'start', data: 'start...', lastEventId: '0' })
    expect(lines[5]).toEqual({ type: 'message', data: 'SSE data', lastEventId: '5' })
    expect(lines[11]).toEqual({ type: 'end', data: 'end...', lastEventId: '11' })
    expect(stderr).toContain('connected')
  })

  it('reconnects with Last-Event-ID after the end and stops at the 204', async () => {
    const { code, stdout, stderr } = await runCli([
      'listen',
      '--json',
      `${gateway.url}/stream?interval=10&count=2`,
    ])
    expect(code).toBe(0)
    expect(stdout.trim().split('\n')).toHaveLength(4)
    expect(stderr).toContain('reconnecting')
  })

  it('resumes from --last-event-id and stops at --max-events', async () => {
    const { code, stdout } = await runCli([
      'listen',
      '--json',
      '--last-event-id',
      '7',
      '--max-events',
      '2',
      `${gateway.url}/stream?interval=10`,
    ])
    expect(code).toBe(0)
    expect(
      stdout
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line).lastEventId),
    ).toEqual(['8', '9'])
  })

  it('POSTs a body with headers (-X, -H, -d @-)', async () => {
    const seen: { method?: string; body?: string; auth?: string; type?: string } = {}
    const server = await startServer((request, response) => {
      let body = ''
      request.on('data', (chunk) => {
        body += chunk
      })
      request.on('end', () => {
        Object.assign(seen, {
          method: request.method,
          body,
          auth: request.headers.authorization,
          type: request.headers['content-type'],
        })
        response.writeHead(200, { 'content-type': 'text/event-stream' })
        response.end('data: {"ok":true}\n\n')
      })
    })
    try {
      const { code, stdout } = await runCli(
        [
          'listen',
          '--json',
          '--no-reconnect',
          '-H',
          'Authorization: Bearer k',
          '-d',
          '@-',
          `${server.url}/v1`,
        ],
        { input: '{"stream":true}' },
      )
      expect(code).toBe(0)
      expect(JSON.parse(stdout)).toEqual({ type: 'message', data: '{"ok":true}', lastEventId: '' })
      expect(seen).toEqual({
        method: 'POST',
        body: '{"stream":true}',
        auth: 'Bearer k',
        type: 'application/json',
      })
    } finally {
      await server.close()
    }
  })

  it('prints the wire as received with --raw', async () => {
    const { code, stdout } = await runCli([
      'listen',
      '--raw',
      '--no-reconnect',
      `${gateway.url}/stream?interval=1&count=1`,
    ])
    expect(code).toBe(0)
    expect(stdout).toBe(
      ': ok\nid: 0\nevent: start\ndata: start...\n\nid: 1\ndata: SSE data\n\nid: 2\nevent: end\ndata: end...\n\n',
    )
  })

  it.each([
    ['a 404', '/nope', /HTTP 404 Not Found.*no route for \/nope/],
    ['a text/html page', '/', /expected Content-Type text\/event-stream, got text\/html/],
  ])('exits non-zero with a readable message on %s', async (_name, path, message) => {
    const { code, stdout, stderr } = await runCli(['listen', `${gateway.url}${path}`])
    expect(code).toBe(1)
    expect(stdout).toBe('')
    expect(stderr.trim().split('\n')).toHaveLength(1)
    expect(stderr).toMatch(message)
  })

  it('exits non-zero with a readable message on a closed port', async () => {
    const port = await closedPort()
    const { code, stderr } = await runCli(['listen', `http://127.0.0.1:${port}/stream`])
    expect(code).toBe(1)
    expect(stderr.trim()).toBe(`streamgate: connection refused: http://127.0.0.1:${port}/stream`)
  })

  it('refuses bad usage with exit code 2', async () => {
    expect((await runCli(['listen', 'ftp://example/stream'])).code).toBe(2)
    expect((await runCli(['listen', '-H', 'no-colon', `${gateway.url}/stream`])).code).toBe(2)
    expect((await runCli(['listen', '--max-events', 'x', `${gateway.url}/stream`])).code).toBe(2)
  })

  it('exits after --timeout, 0 when a stream was established', async () => {
    const started = performance.now()
    const { code } = await runCli(['listen', '--timeout', '0.5', `${gateway.url}/stream?interval=10000`])
    expect(code).toBe(0)
    expect(performance.now() - started).toBeLessThan(5000)
  })
})
