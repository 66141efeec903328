import { gzipSync } from 'node:zlib'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type GatewayProcess, runCli, startGateway } from '../helpers/gateway-process.js'
import { startServer } from '../helpers/servers.js'

let gateway: GatewayProcess
beforeAll(async () => {
  gateway = await startGateway()
})
afterAll(async () => {
  await gateway.stop()
})

/** A deliberately misbehaving SSE server: `serve` writes the response. */
async function withServer(serve: Parameters<typeof startServer>[0], run: (url: string) => Promise<void>) {
  const server = await startServer(serve)
  try {
    await run(server.url)
  } finally {
    await server.close()
  }
}

const doctor = (url: string, ...args: string[]) => runCli(['doctor', '--duration', '5', ...args, url])

describe('streamgate doctor', () => {
  it('passes our own server, with warnings only for HTTP/1.1', async () => {
    const { code, stdout } = await doctor(`${gateway.url}/stream?interval=100&count=6`, '--max-events', '6')
    expect(code).toBe(0)
    expect(stdout).toContain('✓ content type: text/event-stream; charset=utf-8')
    expect(stdout).toContain('✓ compression: none')
    expect(stdout).toMatch(/✓ delivery: 6 events in 6 separate arrivals/)
    expect(stdout).toMatch(/! HTTP version/)
    expect(stdout).toMatch(/Verdict: streams correctly/)
  })

  it('finds compression', async () => {
    await withServer(
      (_request, response) => {
        response.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache',
          'content-encoding': 'gzip',
        })
        response.end(gzipSync('data: a\n\ndata: b\n\n'))
      },
      async (url) => {
        const { code, stdout } = await doctor(url)
        expect(code).toBe(1)
        expect(stdout).toMatch(/✗ compression: gzip/)
        expect(stdout).toMatch(/fix: do not compress text\/event-stream/)
        expect(stdout).toMatch(/Verdict: not streaming properly/)
      },
    )
  })

  it('finds a buffering server: events held back and released in bursts', async () => {
    await withServer(
      (_request, response) => {
        response.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-cache, no-transform',
          'x-accel-buffering': 'no',
        })
        response.flushHeaders()
        let id = 0
        // Five events every 1.1 s, written at once: what a buffering proxy delivers.
        const timer = setInterval(() => {
          let batch = ''
          for (let index = 0; index < 5; index++) batch += `id: ${++id}\ndata: x\n\n`
          response.write(batch)
        }, 1100)
        response.on('close', () => clearInterval(timer))
      },
      async (url) => {
        const { stdout } = await doctor(url, '--max-events', '15')
        expect(stdout).toMatch(/! delivery: 15 events arrived in 3 bursts/)
        expect(stdout).toMatch(/fix: something between server and client buffers/)
        expect(stdout).toMatch(/! first byte/)
      },
    )
  })

  it('finds a wrong content type and missing cache headers', async () => {
    await withServer(
      (_request, response) => {
        response.writeHead(200, { 'content-type': 'text/plain' })
        response.end('data: a\n\n')
      },
      async (url) => {
        const { code, stdout } = await doctor(url)
        expect(code).toBe(1)
        expect(stdout).toMatch(/✗ content type: text\/plain/)
        expect(stdout).toMatch(/✗ cache control: missing/)
      },
    )
  })

  it('reports an unreachable URL in one line', async () => {
    const { code, stderr } = await doctor('http://127.0.0.1:9/stream')
    expect(code).toBe(1)
    expect(stderr.trim()).toMatch(
      /^streamgate: doctor: cannot reach http:\/\/127\.0\.0\.1:9\/stream \(ECONNREFUSED\)$/,
    )
  })
})
