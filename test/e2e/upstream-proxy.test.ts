import { readFileSync } from 'node:fs'
import net, { type AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type FakeUpstream, startFakeUpstream, UPSTREAM_KEY } from '../fixtures/fake-llm-upstream.js'
import { type GatewayProcess, startGateway } from '../helpers/gateway-process.js'

// The upstream as a company network reaches it: through a forward proxy (HTTPS_PROXY, NO_PROXY),
// over TLS signed by a private certificate authority (--upstream-ca).

const CA_FILE = fileURLToPath(new URL('../fixtures/tls/localhost.crt', import.meta.url))
const tls = {
  cert: readFileSync(CA_FILE),
  key: readFileSync(fileURLToPath(new URL('../fixtures/tls/localhost.key', import.meta.url))),
}

/** A forward proxy that tunnels CONNECT requests and records each request head it was sent. */
async function startForwardProxy() {
  const seen: string[] = []
  const server = net.createServer((client) => {
    client.on('error', () => {})
    let head = ''
    const onData = (data: Buffer) => {
      head += data.toString('latin1')
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) return
      client.off('data', onData)
      seen.push(head.slice(0, end))
      const target = /^CONNECT ([^ :]+):(\d+) /.exec(head)
      if (target === null) {
        client.end('HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n')
        return
      }
      const upstream = net.connect(Number(target[2]), target[1], () => {
        client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
        const early = Buffer.from(head.slice(end + 4), 'latin1')
        if (early.length > 0) upstream.write(early)
        client.pipe(upstream).pipe(client)
      })
      upstream.on('error', () => client.destroy())
    }
    client.on('data', onData)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://proxy-user:proxy-secret@127.0.0.1:${(server.address() as AddressInfo).port}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

const chat = (gateway: GatewayProcess) =>
  fetch(`${gateway.url}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'm', stream: true, messages: [{ role: 'user', content: 'hi' }] }),
  })

let upstream: FakeUpstream
let proxy: Awaited<ReturnType<typeof startForwardProxy>>
const gateways: GatewayProcess[] = []

async function gatewayWith(env: NodeJS.ProcessEnv, args: string[] = []) {
  const gateway = await startGateway(
    ['--upstream', upstream.openaiUrl, '--upstream-key', UPSTREAM_KEY, ...args],
    {
      env,
    },
  )
  gateways.push(gateway)
  return gateway
}

beforeAll(async () => {
  upstream = await startFakeUpstream({ tls })
  proxy = await startForwardProxy()
})

afterAll(async () => {
  for (const gateway of gateways) await gateway.stop()
  await proxy?.close()
  await upstream?.close()
})

describe('the upstream through a proxy and a private CA', () => {
  it('tunnels through HTTPS_PROXY with CONNECT, with the proxy credentials, and trusts --upstream-ca', async () => {
    const gateway = await gatewayWith({ HTTPS_PROXY: proxy.url }, ['--upstream-ca', CA_FILE])
    const response = await chat(gateway)
    const body = await response.text()
    expect(response.status).toBe(200)
    expect(body).toMatch(/^data: \[DONE\]$/m)
    const { port } = new URL(upstream.openaiUrl)
    const connect = proxy.seen.find((head) => head.startsWith(`CONNECT 127.0.0.1:${port} `))
    expect(connect).toBeDefined()
    expect(connect).toMatch(
      new RegExp(
        `\\r\\nproxy-authorization: Basic ${Buffer.from('proxy-user:proxy-secret').toString('base64')}`,
        'i',
      ),
    )
    // The upstream saw the gateway's request, not the proxy's.
    expect(upstream.requests.at(-1)?.path).toBe('/v1/chat/completions')
  })

  it('goes direct to the hosts of NO_PROXY', async () => {
    const before = proxy.seen.length
    const gateway = await gatewayWith({ HTTPS_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' }, [
      '--upstream-ca',
      CA_FILE,
    ])
    const response = await chat(gateway)
    expect(response.status).toBe(200)
    expect(await response.text()).toMatch(/^data: \[DONE\]$/m)
    expect(proxy.seen.length).toBe(before)
  })

  it('refuses an upstream whose certificate no trusted authority signed, with a 502 that says why', async () => {
    const gateway = await gatewayWith({})
    const response = await chat(gateway)
    expect(response.status).toBe(502)
    const { error } = (await response.json()) as { error: { type: string; message: string } }
    expect(error.type).toBe('api_error')
    expect(error.message).toMatch(/^the upstream failed: .*(certificate|SELF_SIGNED|UNABLE_TO_VERIFY)/i)
  })

  it('takes NODE_EXTRA_CA_CERTS as Node does, and refuses an --upstream-ca file that holds no certificate', async () => {
    const gateway = await gatewayWith({ NODE_EXTRA_CA_CERTS: CA_FILE })
    expect((await chat(gateway)).status).toBe(200)
    await expect(gatewayWith({}, ['--upstream-ca', fileURLToPath(import.meta.url)])).rejects.toThrow(
      /--upstream-ca: .* holds no PEM certificate/,
    )
  })
})
